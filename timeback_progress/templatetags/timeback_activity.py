"""``{% timeback_activity activity %}``: the browser kit's configuration for one activity.

Renders ``timeback_progress/_activity_config.html``: a ``json_script`` block
(id ``timeback-activity-config``) that ``static/timeback_progress/activity.js``
reads on first use, and a ``modulepreload`` of the module. The page then
imports the module itself and calls ``startActivity()`` / ``endActivity()``
(docs/howto-activity-tracking.md).

The configuration holds the vendor protocol's three endpoints, reversed by URL
name from ``timeback_progress.activity.urls`` (wherever the host mounted it),
the CSRF token for session authentication, the activity with its course
selector, and the kit's two timings from ``TIMEBACK_PROGRESS``. It holds no
secret beyond the page's own CSRF token.
"""

import logging

from django import template
from django.conf import settings
from django.middleware.csrf import get_token
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse

from ..conf import app_settings
from ..models import Activity

register = template.Library()
logger = logging.getLogger(__name__)

# The vendor's routes (timeback/shared/constants.py ROUTES) as this app names them.
ENDPOINTS = {"heartbeat": "timeback_activity:heartbeat", "submit": "timeback_activity:submit", "me": "timeback_activity:user-me"}
# The vendor's subjects for a {subject, grade} selector (timeback/server/handlers/activity/schema.py).
VENDOR_SUBJECTS = {"Math", "Reading", "Science", "Social Studies", "Writing", "Other"}


def course_selector(course, kind="code"):
    """The vendor's course selector for ``course``.

    ``code`` (the default) is the course's sourcedId: one course whatever the
    roster holds. ``grade`` gives ``{subject, grade}`` as a K-12 page written for
    the vendor sends it; a course whose subject or grade the vendor's validator
    would refuse (a subject outside its list, a grade that is not 0-12) falls
    back to ``code``.
    """
    if kind == "grade":
        grade = _vendor_grade(course.grade)
        if course.subject in VENDOR_SUBJECTS and grade is not None:
            return {"subject": course.subject, "grade": grade}
    return {"code": course.sourced_id}


def _vendor_grade(grade):
    text = (grade or "").strip().upper()
    if text in ("K", "KG"):
        return 0
    return int(text) if text.isdigit() and 0 <= int(text) <= 12 else None


def endpoints():
    """``{heartbeat, submit, me}`` URLs, or None when the host has not included the protocol's URLs."""
    try:
        return {key: reverse(name) for key, name in ENDPOINTS.items()}
    except NoReverseMatch:
        logger.warning(
            "{%% timeback_activity %%}: no URL named %s; include timeback_progress.activity.urls "
            "(path(\"api/timeback/\", include(\"timeback_progress.activity.urls\"))).", ENDPOINTS["heartbeat"],
        )
        return None


def _number(value):
    return None if value is None else (int(value) if value == int(value) else float(value))


def kit_config(request, activity, selector="code"):
    """The JSON the kit reads: plain data, built from the activity and the request (pure apart from reverse())."""
    config = {
        "module": static("timeback_progress/activity.js"),  # for a page that imports the kit by its URL
        "endpoints": endpoints(),
        "heartbeatSeconds": app_settings.as_dict().get("ACTIVITY_HEARTBEAT_SECONDS", 15),
        "idleSeconds": app_settings.as_dict().get("ACTIVITY_IDLE_SECONDS", 60),
        "activity": {
            "id": activity.activity_id,
            "name": activity.name,
            "course": course_selector(activity.course, selector),
            "expectedXp": _number(activity.expected_xp),
        },
    }
    if config["endpoints"] is None:
        config["error"] = "timeback_progress.activity.urls is not included: the kit has nowhere to report."
    if request is not None:
        config["csrfToken"] = get_token(request)
        if not settings.CSRF_USE_SESSIONS and not settings.CSRF_COOKIE_HTTPONLY:
            # The kit reads the cookie at each send: after a new sign-in (a new token) queued reports still go out.
            config["csrfCookieName"] = settings.CSRF_COOKIE_NAME
    return config


@register.inclusion_tag("timeback_progress/_activity_config.html", takes_context=True, name="timeback_activity")
def timeback_activity(context, activity, selector="code"):
    """``activity``: an Activity, or its ``activity_id`` (one query)."""
    if not isinstance(activity, Activity):
        activity = Activity.objects.select_related("course").get(activity_id=activity)
    config = kit_config(context.get("request"), activity, selector)
    return {"kit_config": config, "kit_module": config["module"]}
