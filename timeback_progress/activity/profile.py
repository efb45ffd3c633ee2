"""``GET user/me``: the signed-in student's profile and XP, in the vendor's shape.

The vendor's handler asks Timeback (enrollments, analytics facts) and
answers ``TimebackProfile`` (``profile_to_dict``): ``id``, ``email``, ``name``?,
``courses``? (``id``, ``code``, ``name``), ``goals``?, ``xp: {today, all}``.
This app answers from its mirror, in four queries whatever the history:
``id`` is the student's sourcedId (the OneRoster user Timeback knows),
``courses`` their active enrollments (a course's ``code`` is its sourcedId:
the mirror has no course code), ``xp.all`` the sum of their course rows and
``xp.today`` their chart day's XP (the project's TIME_ZONE, as on the
student's own page; the vendor sums a UTC day). ``goals`` are not kept here.
"""

from django.db.models import Sum
from django.utils import timezone

from ..gradebook.progress import chart_day
from ..models import DailyProgress, Enrollment, StudentProgress
from .runs import json_number


def profile(student):
    """The vendor's ``TimebackProfile`` dict for ``student``."""
    today = chart_day(timezone.now())[0]
    enrollments = (
        Enrollment.objects.filter(student=student, role=Enrollment.Role.STUDENT, is_active=True, course__is_active=True)
        .select_related("course").order_by("course__title")
    )
    courses = {e.course.pk: e.course for e in enrollments}
    xp_all = StudentProgress.objects.filter(student=student).aggregate(xp=Sum("xp_total"))["xp"] or 0
    xp_today = DailyProgress.objects.filter(student=student, day=today).aggregate(xp=Sum("xp"))["xp"] or 0
    body = {"id": student.sourced_id, "email": student.email}
    if student.full_name:
        body["name"] = student.full_name
    if courses:
        body["courses"] = [{"id": c.sourced_id, "code": c.sourced_id, "name": c.title} for c in courses.values()]
    body["xp"] = {"today": json_number(xp_today), "all": json_number(xp_all)}
    return body
