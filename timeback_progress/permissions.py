"""Who may see which course's dashboards: the one access rule.

Staff see every course. A user with an active teacher ``Enrollment`` in a
course sees that course and the students enrolled in it. Everyone else sees
nothing. The dashboards and the API both import these helpers, so the rule
lives here and nowhere else.
"""

from .models import Course, Enrollment, Student


def _taught_course_ids(user):
    return Enrollment.objects.filter(user=user, role=Enrollment.Role.TEACHER, is_active=True).values("course_id")


def courses_for(user):
    """The ``Course`` queryset ``user`` may see (empty for anonymous users)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Course.objects.none()
    if user.is_staff:
        return Course.objects.all()
    return Course.objects.filter(pk__in=_taught_course_ids(user))


def can_view_course(user, course):
    """True when ``user`` may see ``course`` (a Course or its pk); one query at most."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_staff:
        return True
    course_id = getattr(course, "pk", course)
    return Enrollment.objects.filter(
        user=user, role=Enrollment.Role.TEACHER, is_active=True, course_id=course_id
    ).exists()


def students_for(user, course=None):
    """The ``Student`` queryset ``user`` may see, optionally within one course.

    A teacher sees the students actively enrolled in the courses they teach;
    staff see every student (or, with ``course``, those enrolled in it).
    """
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Student.objects.none()
    enrollments = Enrollment.objects.filter(role=Enrollment.Role.STUDENT, is_active=True)
    if course is not None:
        enrollments = enrollments.filter(course_id=getattr(course, "pk", course))
    if not user.is_staff:
        enrollments = enrollments.filter(course_id__in=_taught_course_ids(user))
    elif course is None:
        return Student.objects.all()
    return Student.objects.filter(pk__in=enrollments.values("student_id"))


def can_view_student(user, student, course=None):
    """True when ``user`` may see ``student`` (optionally: within ``course``)."""
    student_id = getattr(student, "pk", student)
    return students_for(user, course).filter(pk=student_id).exists()


def student_for(user):
    """The active ``Student`` who signs in as ``user``, or None: whose own progress ``user`` may see.

    One query at most. A student sees their own page only: the teacher pages
    above never admit them (a student is no teacher of their course).
    """
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    return Student.objects.filter(user=user, is_active=True).first()
