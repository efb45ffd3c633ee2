"""OneRoster 1.2 gradebook bodies: ``assessmentLineItem`` and ``assessmentResult``.

Only fields the vendor's models know are ever sent (see docs/timeback-api.md).
"""

from .formats import isoformat, number


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
    if activity.component_resource_sourced_id:
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
