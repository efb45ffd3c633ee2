"""The course's mastery-completion entry in the outbox: one line item per course, one result per student.

``gradebook.progress`` calls ``enqueue`` in the transaction that moves a
student's ``StudentProgress.course_completed_at`` (set: they reached 100% of
the course's masterable units; cleared: a correction took them below). The
rows carry references, not bodies: like every line item and result, the body
is built when the row is sent, from the database as it stands then
(``line_item_body`` / ``result_body``). So a row folded into one that already
waits, or a dead row replayed later, sends the student's current state, never
a stale one: an entry withdrawn meanwhile goes out as ``tobedeleted``.

See docs/semantics/course-completion.md.
"""

import uuid

from django.db.models import Count

from ..conf import app_settings
from ..models import Activity, Course, Delivery, StudentProgress
from ..models.base import ID_NAMESPACE
from ..timeback import gradebook
from . import writing
from .keys import sourced_id

# The payload key of a completion row: {"course": pk, "student": pk, "lineItem": sourcedId}.
REF = "completion"


def line_item_sourced_id(course_sourced_id):
    """The completion line item's sourcedId: fixed by the course, the same on every database."""
    return str(uuid.uuid5(ID_NAMESPACE, f"course/{course_sourced_id}/mastery-completion"))


def result_sourced_id(course_sourced_id, student_sourced_id):
    """The student's completion result's sourcedId: fixed by the course and the student."""
    return str(uuid.uuid5(ID_NAMESPACE, f"course/{course_sourced_id}/mastery-completion/{student_sourced_id}"))


def rows(course, student):
    """Outbox rows announcing the student's completion state in ``course`` (what it is when sent).

    The line item goes with the first result of the course (any row with its
    key, sent or waiting, means it is on its way); a result's first row asks
    for a create (POST) first. With ``CALIPER_PROCESS`` nothing: Timeback
    builds the gradebook from the events then.
    """
    if app_settings.CALIPER_PROCESS:
        return []
    item_id = line_item_sourced_id(course.sourced_id)
    item_key = f"lineitem:{item_id}"
    result_key = f"result:{result_sourced_id(course.sourced_id, student.sourced_id)}"
    known = set(Delivery.objects.filter(key__in=[item_key, result_key]).values_list("key", flat=True))
    out = []
    if item_key not in known:
        out.append(Delivery(kind=Delivery.Kind.LINE_ITEM, key=item_key, payload={REF: {"course": course.pk}, "create": True}))
    payload = {REF: {"course": course.pk, "student": student.pk, "lineItem": item_id}}
    if result_key not in known:
        payload["create"] = True
    out.append(Delivery(kind=Delivery.Kind.RESULT, key=result_key, payload=payload))
    return out


def enqueue(course, student):
    """Write ``rows`` in the caller's transaction; a result waiting in a long backoff starts afresh."""
    made = rows(course, student)
    writing.write(made, resync=[row.key for row in made if row.kind == Delivery.Kind.RESULT])
    return made


def is_completion(row):
    return REF in (row.payload or {})


def line_item_key(row):
    """The key of the line item a completion result row belongs to."""
    return f"lineitem:{row.payload[REF]['lineItem']}"


def app_name(course):
    """The name the entry goes out under: the app most of the course's activities belong to.

    The vendor's SDK serves one app and uses its name; here a course's
    activities name their app, so the course's entry takes the commonest
    (ties: the first alphabetically), the same for every student and resend.
    """
    names = (
        Activity.objects.filter(course=course).values("app_name").annotate(n=Count("pk"))
        .order_by("-n", "app_name").values_list("app_name", flat=True)
    )
    return next(iter(names[:1]), "") or course.title


def line_item_body(row):
    """The completion line item's body as the course stands now (None: the course is gone)."""
    course = Course.objects.filter(pk=row.payload[REF]["course"]).first()
    if course is None:
        return None
    return gradebook.completion_line_item_body(sourced_id(row.key), course, app_name=app_name(course))


def result_body(row):
    """The student's completion result as their progress stands now (None: the student or course is gone).

    Still at 100%: active, dated when they got there. No longer: the same
    record as ``tobedeleted``, dated when the row was written.
    """
    ref = row.payload[REF]
    progress = (
        StudentProgress.objects.select_related("student", "course")
        .filter(student_id=ref["student"], course_id=ref["course"]).first()
    )
    if progress is None:
        return None
    return gradebook.completion_result_body(
        sourced_id(row.key), line_item_sourced_id=ref["lineItem"], student_sourced_id=progress.student.sourced_id,
        app_name=app_name(progress.course), completed_at=progress.course_completed_at, withdrawn_at=row.created_at,
    )
