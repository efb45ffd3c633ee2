"""Who may write for a student and read what.

- a student user (``Student.user``) acts for and reads only themselves, and
  only in courses they are actively enrolled in; recording a completed attempt
  is for service accounts unless ``API_STUDENTS_MAY_RECORD`` says otherwise;
- a teacher (an active teacher ``Enrollment``) reads the courses they teach;
- a user holding ``timeback_progress.add_attempt`` (a service account, a
  superuser) writes for any student. Staff status alone grants no write: in
  Django it means "may use the admin", and permissions decide the rest;
- staff read everything; anonymous users get nothing.

The course rule is ``timeback_progress.permissions`` (shared with the
dashboards); this module only adds the student-self and write rules. Objects a
user may not see are reported as missing (404), so ids are not disclosed.
"""

from rest_framework.permissions import BasePermission

from ..conf import app_settings
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


def is_service(user):
    return user.has_perm(WRITE_PERMISSION)


def may_write_for(user, student):
    """Start, time or complete attempts of ``student``."""
    return is_self(user, student) or is_service(user)


def may_record_for(user, student):
    """Record completed attempts of ``student`` (work done elsewhere: a service's word)."""
    return is_service(user) or (app_settings.API_STUDENTS_MAY_RECORD and is_self(user, student))


def enrolled_pairs(pairs):
    """The ``(student_id, course_id)`` of ``pairs`` with an active student enrollment, in one query."""
    pairs = set(pairs)
    if not pairs:
        return set()
    found = Enrollment.objects.filter(
        role=Enrollment.Role.STUDENT, is_active=True,
        student_id__in={s for s, _ in pairs}, course_id__in={c for _, c in pairs},
    ).values_list("student_id", "course_id")
    return pairs & set(found)


def may_act_in(user, student, course_id):
    """A student acts only in courses they are actively enrolled in; a service account anywhere."""
    return is_service(user) or (student.pk, course_id) in enrolled_pairs([(student.pk, course_id)])


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
