"""Who is playing, and what: the student from the request's user, the activity from ``id`` + course.

The vendor's "custom" identity mode asks the host for the signed-in user's
email; here the host's user *is* the identity: the ``Student`` whose ``user``
it is (signed in with a session, or with a DRF token). The API's write rule
applies (``api.permissions.may_write_for``, ``may_act_in``): a student acts for
themselves, in courses they are actively enrolled in.

The vendor resolves the course selector against its ``timeback.config.json``
and builds the activity from the page's ``id`` and ``name``. This app has a
mirror of both: ``id`` must name an active ``Activity`` (the page never
creates one), and the selector must describe that activity's course
(``{code}``: its sourcedId; ``{subject, grade}``: its subject and grade). The
activity fixes the course, so a selector several courses share is not
ambiguous here (docs/activity-protocol.md, "Resolution").
"""

from django.db.models import Q
from django.utils.translation import gettext as _

from ..api import permissions
from ..models import Activity, Course, Student
from .errors import ProtocolError


def student_for(user):
    """The active student ``user`` signs in as, or ``ProtocolError`` 404 ``USER_NOT_FOUND``."""
    student = Student.objects.filter(user=user, is_active=True).first()
    if student is None or not permissions.may_write_for(user, student):
        raise ProtocolError("USER_NOT_FOUND", _("No active student signs in as this user."), 404)
    return student


def grade_values(grade):
    """How ``Course.grade`` (OneRoster text: "KG", "03", "3") may spell the vendor's grade (0-12)."""
    return ["KG", "K", "0", "00"] if grade == 0 else [str(grade), f"{grade:02d}"]


def course_filter(selector, prefix=""):
    if selector.code:
        return Q(**{f"{prefix}sourced_id": selector.code})
    return Q(**{f"{prefix}subject": selector.subject, f"{prefix}grade__in": grade_values(selector.grade)})


def activity_for(user, student, activity_id, selector):
    """The active activity ``activity_id`` in the course ``selector`` describes; one query when it matches.

    Refusals, in the vendor's error shape: no such activity (404
    ``UNKNOWN_ACTIVITY``), no active course matches the selector (400
    ``UNKNOWN_COURSE``, the vendor's), the activity is in another course (400
    ``COURSE_MISMATCH``), the student is not enrolled there (403 ``FORBIDDEN``).
    """
    activity = (
        Activity.objects.select_related("course")
        .filter(course_filter(selector, "course__"), activity_id=activity_id, is_active=True, course__is_active=True)
        .first()
    )
    if activity is None:
        _refuse(activity_id, selector)
    # permissions.may_act_in, enrollment first: a student's request needs no permission lookup (two queries).
    pair = (student.pk, activity.course_id)
    if pair not in permissions.enrolled_pairs([pair]) and not permissions.is_service(user):
        raise ProtocolError("FORBIDDEN", _("You are not actively enrolled in this activity's course."), 403)
    return activity


def describe(selector):
    return f'code "{selector.code}"' if selector.code else f"{selector.subject} grade {selector.grade}"


def _refuse(activity_id, selector):
    if not Activity.objects.filter(activity_id=activity_id, is_active=True).exists():
        raise ProtocolError("UNKNOWN_ACTIVITY", _("Unknown activity: %(id)s") % {"id": activity_id}, 404)
    if not Course.objects.filter(course_filter(selector), is_active=True).exists():
        raise ProtocolError("UNKNOWN_COURSE", _("Unknown course: %(course)s") % {"course": describe(selector)}, 400)
    raise ProtocolError(
        "COURSE_MISMATCH",
        _("Activity %(id)s is not in the course %(course)s.") % {"id": activity_id, "course": describe(selector)},
        400,
    )
