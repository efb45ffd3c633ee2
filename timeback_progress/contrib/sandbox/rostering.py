"""OneRoster 1.2 rostering over seeded data: users, courses, classes, enrollments.

The sandbox serves what it was seeded with (``--roster-seed file.json``,
``POST /_sandbox/roster`` or ``state.seed_roster(dict)``), as given: records
are not validated, so tests can seed a malformed one and watch the import
skip it. Collections page by ``limit``/``offset`` with ``X-Total-Count`` and
take OneRoster's ``filter`` (``field op 'value'`` joined by `` AND `` or
`` OR ``; ops ``= != > >= < <= ~``) and ``sort``/``orderBy``.
"""

import random
import re
from datetime import datetime, timedelta, timezone

from .messages import Response, Route, ims_error, paged
from .platforms import ROSTERING_PATH

# collection -> key of one record in a single-object answer
COLLECTIONS = {"users": "user", "courses": "course", "classes": "class", "enrollments": "enrollment"}
# getAllStudents / getAllTeachers: users with that role, answered as "users"
ROLE_VIEWS = {"students": "student", "teachers": "teacher"}
# A field a record may lack, read from where OneRoster 1.2 keeps it instead.
ALIASES = {"role": "roles.role"}


def empty_roster():
    return {name: {} for name in COLLECTIONS}


def load_roster(data, into=None):
    """Index seed ``data`` (``{"users": [...], ...}``) by sourcedId; raises ValueError.

    With ``into`` (an indexed roster) records are merged into it: same
    sourcedId replaces, new ones are appended.
    """
    if not isinstance(data, dict):
        raise ValueError("the roster seed must be a JSON object of collections")
    unknown = set(data) - set(COLLECTIONS)
    if unknown:
        raise ValueError(f"unknown roster collections {sorted(unknown)}; known: {sorted(COLLECTIONS)}")
    roster = into if into is not None else empty_roster()
    for name, records in data.items():
        if not isinstance(records, list):
            raise ValueError(f"{name!r} must be a list of records")
        store = roster[name]
        for record in records:
            sourced_id = record.get("sourcedId") if isinstance(record, dict) else None
            # Unkeyed records are served too (a malformed source is a test case).
            store[sourced_id if isinstance(sourced_id, str) else f"<unkeyed {len(store)}>"] = record
    return roster


# -- filter ---------------------------------------------------------------------

_CLAUSE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(!=|>=|<=|=|>|<|~)\s*'((?:[^']|'')*)'\s*$")


def parse_filter(text):
    """``(joiner, [(field, op, value), ...])`` from a OneRoster filter; raises ValueError."""
    parts = re.split(r"\s+(AND|OR)\s+", text.strip())
    clauses, joiners = parts[0::2], set(parts[1::2])
    if len(joiners) > 1:
        raise ValueError("a filter joins its clauses with AND or with OR, not both")
    parsed = []
    for clause in clauses:
        found = _CLAUSE.match(clause)
        if not found:
            raise ValueError(f"bad filter clause {clause!r}: use field<op>'value' with op one of = != > >= < <= ~")
        field, op, value = found.groups()
        parsed.append((field, op, value.replace("''", "'")))
    return (joiners.pop() if joiners else "AND"), parsed


def _values(record, field):
    """Every value at a dotted path (lists fan out), or [] when absent."""
    if not isinstance(record, dict):
        return []
    values = [record]
    for part in field.split("."):
        found = []
        for value in values:
            items = value if isinstance(value, list) else [value]
            found.extend(v[part] for v in items if isinstance(v, dict) and part in v)
        values = found
    values = [v for value in values for v in (value if isinstance(value, list) else [value])]
    if not values and field in ALIASES:
        return _values(record, ALIASES[field])
    return values


def _as_time(text):
    if not isinstance(text, str) or len(text) < 10:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _compare(actual, op, wanted):
    if op == "~":
        return wanted.lower() in str(actual).lower()
    left, right = _as_time(actual), _as_time(wanted)
    if left is None or right is None:
        left, right = ("true" if actual is True else "false" if actual is False else str(actual)), wanted
    return {"=": left == right, "!=": left != right, ">": left > right, ">=": left >= right,
            "<": left < right, "<=": left <= right}[op]


def matches(record, joiner, clauses):
    results = (any(_compare(v, op, value) for v in _values(record, field)) for field, op, value in clauses)
    return any(results) if joiner == "OR" else all(results)


def select(records, request):
    """Filter and sort ``records`` per the request; returns a list or an error Response."""
    text = request.param("filter")
    if text:
        try:
            joiner, clauses = parse_filter(text)
        except ValueError as exc:
            return ims_error(400, str(exc), "invalid_filter_field")
        records = [r for r in records if matches(r, joiner, clauses)]
    sort = request.param("sort")
    if sort:
        order = request.param("orderBy", "asc")
        if order not in ("asc", "desc"):
            return ims_error(400, "orderBy must be asc or desc", "invalid_sort_field")
        records = sorted(records, key=lambda r: str((_values(r, sort) or [""])[0]), reverse=order == "desc")
    return records


# -- endpoints ----------------------------------------------------------------------


def collection(state, request, collection):
    with state.lock:
        records = list(state.roster[collection].values())
    found = select(records, request)
    return found if isinstance(found, Response) else paged(request, found, collection)


def role_view(state, request, view):
    role = ROLE_VIEWS[view]
    with state.lock:
        records = [r for r in state.roster["users"].values() if role in _values(r, "role")]
    found = select(records, request)
    return found if isinstance(found, Response) else paged(request, found, "users")


def one(state, request, collection, sourced_id):
    with state.lock:
        record = state.roster[collection].get(sourced_id)
    key = COLLECTIONS[collection]
    if record is None:
        return ims_error(404, f"{key} {sourced_id!r} not found", "unknown_object")
    return Response(200, {key: record})


def admin_roster(state, request):
    """GET: counts per collection. POST: seed (``"merge": true`` merges into what is there)."""
    if request.method == "POST":
        try:
            data = request.json()
            if not isinstance(data, dict):
                raise ValueError("send a JSON object of collections")
            data = dict(data)
            merge = data.pop("merge", False)
            state.seed_roster(data, merge=bool(merge))
        except ValueError as exc:
            return Response(400, {"error": "invalid_roster", "message": str(exc)})
    with state.lock:
        return Response(200, {name: len(records) for name, records in state.roster.items()})


_COLL = r"(?P<collection>users|courses|classes|enrollments)"
ROUTES = [
    Route("GET", f"{ROSTERING_PATH}/{_COLL}", collection, "rostering"),
    Route("GET", f"{ROSTERING_PATH}/{_COLL}/(?P<sourced_id>[^/]+)", one, "rostering"),
    Route("GET", f"{ROSTERING_PATH}/(?P<view>students|teachers)", role_view, "rostering"),
    Route("GET", "/_sandbox/roster", admin_roster, "admin", auth=False),
    Route("POST", "/_sandbox/roster", admin_roster, "admin", auth=False),
]


# -- generated data -------------------------------------------------------------------

GIVEN = ["Ava", "Ben", "Chloe", "Diego", "Emma", "Farah", "Gus", "Hana", "Ivan", "Jade", "Kofi", "Lena", "Milo",
         "Nora", "Omar", "Pia", "Quinn", "Ravi", "Sara", "Theo", "Uma", "Vik", "Wren", "Xena", "Yusuf", "Zoe"]
FAMILY = ["Adams", "Baker", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jones", "Khan", "Lopez",
          "Moreau", "Nguyen", "Okafor", "Patel"]
COURSES = [("math-grade-5", "Math Grade 5", "Math"), ("reading-grade-5", "Reading Grade 5", "Reading"),
           ("science-grade-5", "Science Grade 5", "Science")]


def iso(moment):
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def generate_roster(students=60, *, teachers=3, courses_per_student=3, seed=1, modified="2025-08-01T12:00:00.000Z"):
    """A OneRoster school: the demo's 3 courses (one class each), ``teachers``
    teachers (teacher1@example.com, ...; the first three teach the three
    classes), ``students`` students, each in ``courses_per_student`` classes.

    Deterministic for a given ``seed``; every record carries ``dateLastModified``
    within a day before ``modified``.
    """
    rng = random.Random(seed)
    end = _as_time(modified)
    stamp = lambda: iso(end - timedelta(seconds=rng.randint(0, 86_400)))  # noqa: E731
    org = {"sourcedId": "school-1", "type": "org"}
    roster = {"users": [], "courses": [], "classes": [], "enrollments": []}
    for sourced_id, title, subject in COURSES:
        roster["courses"].append({
            "sourcedId": sourced_id, "status": "active", "dateLastModified": stamp(), "title": title,
            "courseCode": sourced_id.upper(), "grades": ["05"], "subjects": [subject], "org": org,
            "metadata": {"totalXp": 1000, "masterableUnits": 10},
        })
        roster["classes"].append({
            "sourcedId": f"{sourced_id}-class-a", "status": "active", "dateLastModified": stamp(),
            "title": f"{title} (A)", "classType": "scheduled", "course": {"sourcedId": sourced_id, "type": "course"},
            "school": org, "terms": [{"sourcedId": "term-2025", "type": "academicSession"}],
        })

    def user(sourced_id, role, given, family, email):
        return {"sourcedId": sourced_id, "status": "active", "dateLastModified": stamp(), "enabledUser": True,
                "givenName": given, "familyName": family, "email": email, "username": email,
                "roles": [{"roleType": "primary", "role": role, "org": org}]}

    def enrollment(user_id, class_id, role):
        return {"sourcedId": f"enr-{class_id}-{user_id}", "status": "active", "dateLastModified": stamp(),
                "role": role, "primary": role == "teacher", "user": {"sourcedId": user_id, "type": "user"},
                "class": {"sourcedId": class_id, "type": "class"}, "school": org}

    names = [("Maria", "Lopez"), ("James", "Okafor"), ("Priya", "Nair")]
    for i in range(1, teachers + 1):
        given, family = names[i - 1] if i <= len(names) else ("Teacher", str(i))
        roster["users"].append(user(f"teacher-{i}", "teacher", given, family, f"teacher{i}@example.com"))
        if i <= len(COURSES):
            roster["enrollments"].append(enrollment(f"teacher-{i}", roster["classes"][i - 1]["sourcedId"], "teacher"))
    width = max(4, len(str(students)))
    for n in range(1, students + 1):
        sourced_id = "student-123" if n == 1 else f"student-{n:0{width}d}"
        email = "student@example.com" if n == 1 else f"student{n}@example.com"
        roster["users"].append(user(sourced_id, "student", rng.choice(GIVEN), rng.choice(FAMILY), email))
        for klass in rng.sample(roster["classes"], min(courses_per_student, len(roster["classes"]))):
            roster["enrollments"].append(enrollment(sourced_id, klass["sourcedId"], "student"))
    return roster
