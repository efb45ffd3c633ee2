"""OneRoster gradebook bodies: ``assessmentLineItem`` and ``assessmentResult``."""

from .fields import Problems, check_types, is_date, is_datetime, is_number, is_text, refuse_unknown, require_fields

STATUSES = ("active", "tobedeleted")
SCORE_STATUSES = ("exempt", "fully graded", "not submitted", "partially graded", "submitted")
REF_FIELDS = ("sourcedId", "type", "href")
LINE_ITEM_FIELDS = (
    "sourcedId", "status", "dateLastModified", "title", "description", "class", "parentAssessmentLineItem",
    "scoreScale", "resultValueMin", "resultValueMax", "component", "componentResource",
    "learningObjectiveSet", "course", "metadata",
)
RESULT_FIELDS = (
    "sourcedId", "status", "dateLastModified", "assessmentLineItem", "student", "score", "textScore",
    "scoreDate", "scoreScale", "scorePercentile", "scoreStatus", "comment", "learningObjectiveSet",
    "inProgress", "incomplete", "late", "missing", "metadata",
)


def unwrap(body, key):
    """``(object, problems)`` for a body that must be ``{key: {...}}``."""
    problems = Problems()
    if not isinstance(body, dict) or key not in body:
        problems.add("", f"the body must wrap the object: {{{key!r}: {{...}}}}")
        return None, problems
    refuse_unknown(body, "", (key,), problems)
    if not isinstance(body[key], dict):
        problems.add(key, "must be an object")
        return None, problems
    return body[key], problems


def _check_ref(value, path, problems, *, required=False):
    if value is None:
        if required:
            problems.add(path, "required")
        return
    if not isinstance(value, dict):
        problems.add(path, "must be a reference object {'sourcedId': ...}")
        return
    refuse_unknown(value, path, REF_FIELDS, problems)
    if not is_text(value.get("sourcedId")):
        problems.add(f"{path}.sourcedId", "required, a non-empty string")
    check_types(value, path, problems, type="str", href="str")


def _check_common(obj, path, problems):
    if obj.get("status") is not None and obj["status"] not in STATUSES:
        problems.add(f"{path}.status", f"must be one of {list(STATUSES)}")
    if "sourcedId" in obj and not is_text(obj["sourcedId"]):
        problems.add(f"{path}.sourcedId", "must be a non-empty string")
    if obj.get("dateLastModified") is not None and not is_datetime(obj["dateLastModified"]):
        problems.add(f"{path}.dateLastModified", "must be an ISO 8601 date-time with a time zone")
    check_types(obj, path, problems, metadata="dict")


def check_line_item(obj):
    path = "assessmentLineItem"
    problems = Problems()
    refuse_unknown(obj, path, LINE_ITEM_FIELDS, problems)
    require_fields(obj, path, ("status", "title"), problems)
    _check_common(obj, path, problems)
    if "title" in obj and not is_text(obj["title"]):
        problems.add(f"{path}.title", "must be a non-empty string")
    for name in ("class", "parentAssessmentLineItem", "scoreScale", "component", "componentResource", "course"):
        _check_ref(obj.get(name), f"{path}.{name}", problems)
    check_types(obj, path, problems, description="str", resultValueMin="number", resultValueMax="number")
    low, high = obj.get("resultValueMin"), obj.get("resultValueMax")
    if is_number(low) and is_number(high) and low > high:
        problems.add(f"{path}.resultValueMin", "must not exceed resultValueMax")
    sets = obj.get("learningObjectiveSet")
    if sets is not None:
        if not isinstance(sets, list):
            problems.add(f"{path}.learningObjectiveSet", "must be a list")
        else:
            for i, entry in enumerate(sets):
                p = f"{path}.learningObjectiveSet[{i}]"
                if not isinstance(entry, dict) or not isinstance(entry.get("source"), str) or not (
                    isinstance(entry.get("learningObjectiveIds"), list)
                    and all(isinstance(x, str) for x in entry["learningObjectiveIds"])
                ):
                    problems.add(p, "must be {'source': str, 'learningObjectiveIds': [str, ...]}")
                else:
                    refuse_unknown(entry, p, ("source", "learningObjectiveIds"), problems)
    return problems


def check_result(obj):
    path = "assessmentResult"
    problems = Problems()
    refuse_unknown(obj, path, RESULT_FIELDS, problems)
    require_fields(obj, path, ("status", "assessmentLineItem", "student", "scoreDate", "scoreStatus"), problems)
    _check_common(obj, path, problems)
    _check_ref(obj.get("assessmentLineItem"), f"{path}.assessmentLineItem", problems)
    _check_ref(obj.get("student"), f"{path}.student", problems)
    _check_ref(obj.get("scoreScale"), f"{path}.scoreScale", problems)
    if obj.get("scoreStatus") is not None and obj["scoreStatus"] not in SCORE_STATUSES:
        problems.add(f"{path}.scoreStatus", f"must be one of {list(SCORE_STATUSES)}")
    if obj.get("scoreDate") is not None and not (is_date(obj["scoreDate"]) or is_datetime(obj["scoreDate"])):
        problems.add(f"{path}.scoreDate", "must be an ISO 8601 date or date-time with a time zone")
    check_types(
        obj, path, problems, score="number", scorePercentile="number", textScore="str", comment="str",
        inProgress="str", incomplete="str", late="str", missing="str",
    )
    sets = obj.get("learningObjectiveSet")
    if sets is not None:
        if not isinstance(sets, list):
            problems.add(f"{path}.learningObjectiveSet", "must be a list")
        else:
            for i, entry in enumerate(sets):
                _check_objective_scores(entry, f"{path}.learningObjectiveSet[{i}]", problems)
    return problems


def _check_objective_scores(entry, path, problems):
    if not isinstance(entry, dict) or not isinstance(entry.get("source"), str):
        problems.add(path, "must be {'source': str, 'learningObjectiveResults': [...]}")
        return
    refuse_unknown(entry, path, ("source", "learningObjectiveResults"), problems)
    results = entry.get("learningObjectiveResults")
    if not isinstance(results, list):
        problems.add(f"{path}.learningObjectiveResults", "required, a list")
        return
    for j, item in enumerate(results):
        p = f"{path}.learningObjectiveResults[{j}]"
        if not isinstance(item, dict) or not isinstance(item.get("learningObjectiveId"), str):
            problems.add(p, "must have a learningObjectiveId string")
            continue
        refuse_unknown(item, p, ("learningObjectiveId", "score", "textScore"), problems)
        for name in ("score", "textScore"):
            if name in item and item[name] is None:  # optional, but the vendor's model does not take null
                problems.add(f"{p}.{name}", "leave it out rather than null")
        check_types(item, p, problems, score="number", textScore="str")
