"""Who may write for a student and read what.

- a student user (``Student.user``) acts for and reads only themselves;
- a teacher (an active teacher ``Enrollment``) reads the courses they teach;
- staff, or a service account holding ``timeback_progress.add_attempt``,
  write for any student; staff read everything;
- anonymous users get nothing.

The course rule is ``timeback_progress.permissions`` (shared with the
dashboards); this module only adds the student-self and write rules. Objects a
user may not see are reported as missing (404), so ids are not disclosed.
"""

from rest_framework.permissions import BasePermission

from ..models import Enrollment, StudentProgress
from ..permissions import can_view_course, courses_for

WRITE_PERMISSION = "timeback_progress.add_attempt"


class IsActiveUser(BasePermission):
    """Authenticated and active; object rules are applied by the views."""

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.is_active)


def is_self(user, student):
    return student.user_id is not None and student.user_id == user.pk


def may_write_for(user, student):
    """Start, time, complete or record attempts of ``student``."""
    return is_self(user, student) or user.is_staff or user.has_perm(WRITE_PERMISSION)


def may_read_attempt(user, attempt):
    return is_self(user, attempt.student) or can_view_course(user, attempt.course_id)


def progress_for(user, student):
    """The ``StudentProgress`` rows of ``student`` that ``user`` may read, or None.

    None means the student is not visible at all (the caller answers 404): a
    teacher sees a student enrolled in a course they teach, and only those courses.
    """
    rows = StudentProgress.objects.filter(student=student).select_related("course").order_by("course__title")
    if is_self(user, student) or user.is_staff:
        return rows
    taught = courses_for(user)
    enrolled = Enrollment.objects.filter(
        student=student, role=Enrollment.Role.STUDENT, is_active=True, course__in=taught
    )
    if not enrolled.exists():
        return None
    return rows.filter(course__in=taught)


def may_read_course(user, course):
    return can_view_course(user, course)
