"""OneRoster 1.2 gradebook bodies: ``assessmentLineItem`` and ``assessmentResult``.

Only fields the vendor's models know are ever sent (see docs/timeback-api.md).
The course's mastery-completion entry (a line item and one result per student)
is described in docs/semantics/course-completion.md.
"""

from ..conf import app_settings
from .formats import isoformat, number

# The result a student gets on the course's completion line item (the vendor's figures).
COMPLETION_SCORE = 100


def line_item_body(activity):
    item = {
        "sourcedId": activity.line_item_sourced_id,
        "status": "active" if activity.is_active else "tobedeleted",
        "title": activity.name,
        "description": f"{activity.app_name}: {activity.name}",
        "resultValueMin": 0,
        "resultValueMax": 100,
        "metadata": {
            "activityId": activity.activity_id,
            "subject": activity.subject,
            "expectedXp": number(activity.expected_xp),
            "masterableUnits": activity.masterable_units,
            "courseSourcedId": activity.course.sourced_id,
        },
    }
    # Unlinked by default, as the vendor's SDK: a fully graded result on a line item linked to
    # the component resource can mark the whole course complete (see LINK_COMPONENT_RESOURCE).
    if app_settings.LINK_COMPONENT_RESOURCE and activity.component_resource_sourced_id:
        item["componentResource"] = {"sourcedId": activity.component_resource_sourced_id}
    return {"assessmentLineItem": item}


def result_body(result):
    body = {
        "assessmentResult": {
            "sourcedId": result.sourced_id,
            "status": result.status,
            "assessmentLineItem": {"sourcedId": result.line_item_sourced_id},
            "student": {"sourcedId": result.student.sourced_id},
            "scoreStatus": result.score_status,
            "scoreDate": isoformat(result.score_date),
            "metadata": dict(result.metadata),
        }
    }
    if result.score is not None:
        body["assessmentResult"]["score"] = number(result.score)
    if result.text_score:
        body["assessmentResult"]["textScore"] = result.text_score
    return body


def course_component_resource(course):
    """The component resource a course's completion entry links to: the course's own, or ``<sourcedId>-cr``.

    ``-cr`` is the vendor's convention for course structures it syncs
    (``timeback/server/lib/utils.py``, ``derive_course_structure_ids``).
    """
    return course.component_resource_sourced_id or f"{course.sourced_id}-cr"


def completion_line_item_body(sourced_id, course, *, app_name):
    """The course's mastery-completion line item: the one line item linked to the component resource."""
    return {
        "assessmentLineItem": {
            "sourcedId": sourced_id,
            "status": "active",
            "title": f"{app_name}: Complete",
            "course": {"sourcedId": course.sourced_id},
            "componentResource": {"sourcedId": course_component_resource(course)},
            "resultValueMin": 0,
            "resultValueMax": COMPLETION_SCORE,
            "metadata": {"appName": app_name},
        }
    }


def completion_result_body(sourced_id, *, line_item_sourced_id, student_sourced_id, app_name, completed_at,
                           withdrawn_at=None):
    """A student's result on the completion line item: 100, fully graded, at ``completed_at``.

    ``completed_at`` None: the student is no longer at 100% (a correction took
    mastery back), and the same record goes out as ``tobedeleted``, dated
    ``withdrawn_at``.
    """
    metadata = {"isMasteryCompletion": True, "appName": app_name}
    if completed_at is not None:
        metadata["completedAt"] = isoformat(completed_at)
    return {
        "assessmentResult": {
            "sourcedId": sourced_id,
            "status": "active" if completed_at is not None else "tobedeleted",
            "assessmentLineItem": {"sourcedId": line_item_sourced_id},
            "student": {"sourcedId": student_sourced_id},
            "score": COMPLETION_SCORE,
            "scoreStatus": "fully graded",
            "scoreDate": isoformat(completed_at if completed_at is not None else withdrawn_at),
            "metadata": metadata,
        }
    }
