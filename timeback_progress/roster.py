"""Import the OneRoster roster from Timeback into the local mirror.

Courses, classes, users and enrollments are read page by page through the
Timeback client; each record is validated on its own (a bad one is skipped
and reported, the run goes on), and each page is written with a handful of
bulk queries whatever its size: one read of the rows it touches, one
``bulk_create(update_conflicts=True)`` upsert keyed on ``sourcedId``. Records
the source marks ``tobedeleted`` become ``is_active=False``: attempts and
results refer to students and courses, so nothing is deleted.

Enrollments point at classes and classes at courses, so classes are kept
(``RosterClass``) for incremental runs. Teachers are not stored as records:
a teacher enrollment is linked to the host user whose email matches
(case-insensitively) or whom ``ROSTER_USER_MAP`` names.

An incremental run asks for ``dateLastModified>='<high-water mark>'`` (``>=``
so records stamped in the same instant as the last one seen are not missed;
re-reading them changes nothing). The mark is saved in ``SyncState("roster")``
only after a run that finished.
"""

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone as dt_timezone

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import DataError, IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from .conf import app_settings
from .models import Course, Enrollment, RosterClass, Student, SyncState
from .subjects import SETTING as SUBJECT_SETTING, SUBJECTS, to_timeback

logger = logging.getLogger("timeback_progress.roster")

SYNC_NAME = "roster"
COLLECTIONS = ("courses", "classes", "users", "enrollments")
OUTCOMES = ("created", "updated", "deactivated", "unchanged", "skipped")
STORED_SKIPS = 200  # skipped records kept in SyncState.last_summary (all are counted)
SCHEDULE_NAME = "timeback_progress: import the roster"


class RosterError(Exception):
    """The import cannot run as asked (bad --since, for instance)."""


class Invalid(Exception):
    """One record is unusable; the message says why."""


def parse_since(text):
    """An aware datetime from an ISO 8601 date or date-time (naive means UTC); raises RosterError."""
    try:
        value = parse_datetime(text)
        if value is None and parse_date(text) is not None:
            value = datetime.combine(parse_date(text), datetime.min.time())
    except ValueError:
        value = None
    if value is None:
        raise RosterError(f"--since must be an ISO 8601 date or date-time (e.g. 2025-08-01T00:00:00Z), not {text!r}")
    return value if timezone.is_aware(value) else value.replace(tzinfo=dt_timezone.utc)


def iso(moment):
    """OneRoster's date-time form, in UTC with milliseconds: 2025-08-01T12:00:00.000Z."""
    return moment.astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# -- summary --------------------------------------------------------------------


@dataclass
class Summary:
    """What a run did, per kind: created, updated, deactivated, unchanged, skipped."""

    mode: str = "full"
    since: datetime | None = None
    dry_run: bool = False
    counts: dict = field(default_factory=lambda: defaultdict(Counter))
    skipped: list = field(default_factory=list)
    unmatched_teachers: dict = field(default_factory=dict)
    teachers_seen: int = 0
    users_ignored: Counter = field(default_factory=Counter)
    enrollments_ignored: Counter = field(default_factory=Counter)
    high_water_mark: datetime | None = None
    error: str = ""

    def count(self, kind, outcome, n=1):
        self.counts[kind][outcome] += n

    def skip(self, kind, sourced_id, reason):
        self.count(kind, "skipped")
        self.skipped.append({"kind": kind, "sourcedId": sourced_id, "reason": reason})

    def total(self, outcome):
        return sum(c[outcome] for c in self.counts.values())

    @property
    def changed(self):
        return sum(self.total(o) for o in ("created", "updated", "deactivated"))

    def as_dict(self):
        return {
            "mode": self.mode,
            "since": iso(self.since) if self.since else None,
            "dry_run": self.dry_run,
            "counts": {kind: {o: c[o] for o in OUTCOMES} for kind, c in self.counts.items()},
            "totals": {o: self.total(o) for o in OUTCOMES},
            "skipped": self.skipped[:STORED_SKIPS],
            "teachers_seen": self.teachers_seen,
            "unmatched_teachers": self.unmatched_teachers,
            "users_ignored": dict(self.users_ignored),
            "enrollments_ignored": dict(self.enrollments_ignored),
            "high_water_mark": iso(self.high_water_mark) if self.high_water_mark else None,
            **({"error": self.error} if self.error else {}),
        }


# -- validation -----------------------------------------------------------------------


def _text(record, key, *, required=False, max_length=255):
    value = record.get(key)
    if value is None or value == "":
        if required:
            raise Invalid(f"{key} is missing")
        return ""
    if not isinstance(value, str):
        raise Invalid(f"{key} must be a string, not {type(value).__name__}")
    if len(value) > max_length:
        raise Invalid(f"{key} is longer than {max_length} characters")
    return value


def _ref(record, key):
    value = record.get(key)
    sourced_id = value.get("sourcedId") if isinstance(value, dict) else None
    if not isinstance(sourced_id, str) or not sourced_id:
        raise Invalid(f"{key}.sourcedId is missing")
    return sourced_id


def _common(record):
    """``(sourcedId, is_active, dateLastModified)`` of any OneRoster record."""
    if not isinstance(record, dict):
        raise Invalid(f"the record is a {type(record).__name__}, not an object")
    sourced_id = _text(record, "sourcedId", required=True)
    status = record.get("status")
    if status not in ("active", "tobedeleted"):
        raise Invalid(f"status must be 'active' or 'tobedeleted', not {status!r}")
    stamp = record.get("dateLastModified")
    try:
        modified = parse_datetime(stamp) if isinstance(stamp, str) else None
    except ValueError:
        modified = None
    if modified is None or timezone.is_naive(modified):
        raise Invalid(f"dateLastModified must be an ISO 8601 date-time with a zone, not {stamp!r}")
    return sourced_id, status == "active", modified


def _count(record, key):
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Invalid(f"metadata.{key} must be an integer >= 0, not {value!r}")
    return value


def map_subject(subjects):
    """The Timeback subject of a course: the first of its ``subjects`` that maps (``subjects.to_timeback``).

    No subjects (OneRoster does not require them) is ``Other``; a list none of
    which maps is refused, so the course is skipped and reported here rather
    than its events being rejected by Timeback later.
    """
    if subjects is None or subjects == []:
        return "Other"
    if not isinstance(subjects, list) or not all(isinstance(s, str) for s in subjects):
        raise Invalid("subjects must be a list of strings")
    for subject in subjects:
        try:
            return to_timeback(subject)
        except ValidationError:
            continue
    shown = repr(subjects)
    shown = shown if len(shown) <= 200 else shown[:197] + "..."
    raise Invalid(f"no subject in {shown} is a Timeback subject ({', '.join(SUBJECTS)}) "
                  f"or a {SUBJECT_SETTING} key whose value is one")


def user_role(record):
    """The primary role of a OneRoster 1.2 user (``roles``), or 1.1's ``role``."""
    roles = record.get("roles")
    if isinstance(roles, list) and roles:
        entries = [r for r in roles if isinstance(r, dict)]
        primary = [r for r in entries if r.get("roleType") == "primary"] or entries
        return primary[0].get("role") if primary else None
    return record.get("role")


# -- the import -----------------------------------------------------------------------


class RosterImport:
    """One run: ``RosterImport(since=..., full=..., dry_run=...).run()`` returns a Summary.

    ``progress(kind, done, total)`` is called after each page (``total`` is the
    server's ``X-Total-Count`` or None).
    """

    # Fields an upsert rewrites; ``created_at`` and Student.user (the host's) are kept.
    UPDATE_FIELDS = {
        Course: ["title", "subject", "grade", "total_xp", "masterable_units", "is_active", "date_last_modified"],
        RosterClass: ["course", "title", "is_active", "date_last_modified"],
        Student: ["email", "given_name", "family_name", "is_active", "date_last_modified"],
        Enrollment: ["course", "role", "user", "student", "user_sourced_id", "class_sourced_id", "is_active"],
    }

    def __init__(self, *, since=None, full=False, dry_run=False, client=None, page_size=None, progress=None):
        if since is not None and full:
            raise RosterError("--since and --full exclude each other: --full reads everything.")
        self.since, self.full, self.dry_run = since, full, dry_run
        self._client = client
        self.page_size = page_size
        self.progress = progress
        self.summary = Summary(dry_run=dry_run)
        self.teachers = {}  # teacher sourcedId -> email ("" when none), or None when unknown
        self.host_users = {}  # teacher sourcedId -> host user pk or None

    @property
    def client(self):
        if self._client is None:
            from .timeback.client import get_client

            self._client = get_client()
        return self._client

    def run(self):
        state = SyncState.objects.filter(name=SYNC_NAME).first()
        since = self.since
        if since is None and not self.full and state is not None:
            since = state.high_water_mark
        self.summary.mode = "incremental" if since else "full"
        self.summary.since = since
        params = {"filter": f"dateLastModified>='{iso(since)}'"} if since else {}
        try:
            if self.dry_run:
                with transaction.atomic():
                    self._read_all(params)
                    transaction.set_rollback(True)
            else:
                self._read_all(params)
        except Exception as exc:
            self.summary.error = f"{type(exc).__name__}: {exc}"
            if not self.dry_run:
                self._save(state, finished=False)
            raise
        if not self.dry_run:
            self._save(state, finished=True)
        return self.summary

    def _read_all(self, params):
        path = app_settings.ROSTERING_PATH
        for collection in COLLECTIONS:
            done = 0
            for page in self.client.get_collection(f"{path}/{collection}", params, key=collection,
                                                   page_size=self.page_size):
                getattr(self, f"_import_{collection}")(self._valid(collection, page))
                done += len(page)
                if self.progress:
                    self.progress(collection, done, page.total)

    def _save(self, state, *, finished):
        values = {"last_run_at": timezone.now(), "last_summary": self.summary.as_dict()}
        marks = [m for m in (state.high_water_mark if state else None, self.summary.high_water_mark) if m]
        if finished and marks:
            values["high_water_mark"] = max(marks)
        SyncState.objects.update_or_create(name=SYNC_NAME, defaults=values)

    # -- per record ---------------------------------------------------------

    def _valid(self, collection, page):
        """``[(sourcedId, is_active, modified, record)]`` of the page's usable records."""
        kind = collection  # a user's role is not known yet: "users"
        seen, valid = set(), []
        for record in page:
            try:
                sourced_id, active, modified = _common(record)
            except Invalid as exc:
                raw = record.get("sourcedId") if isinstance(record, dict) else None
                self.summary.skip(kind, str(raw)[:255] if raw else "(no sourcedId)", str(exc))
                continue
            self._mark(modified)
            if sourced_id in seen:
                self.summary.skip(kind, sourced_id, "the same sourcedId appears twice in one page")
                continue
            seen.add(sourced_id)
            valid.append((sourced_id, active, modified, record))
        return valid

    def _mark(self, modified):
        mark = self.summary.high_water_mark
        if mark is None or modified > mark:
            self.summary.high_water_mark = modified

    def _rows(self, kind, records, build):
        """``[(sourcedId, values)]`` from ``build(record) -> values``; records it refuses are skipped."""
        rows = []
        for sourced_id, active, modified, record in records:
            try:
                values = build(record)
            except Invalid as exc:
                self.summary.skip(kind, sourced_id, str(exc))
                continue
            if values is not None:
                rows.append((sourced_id, {**values, "is_active": active}, modified))
        return rows

    # -- collections ---------------------------------------------------------

    def _import_courses(self, records):
        def build(record):
            metadata = record.get("metadata") if isinstance(record.get("metadata"), dict) else {}
            grades = record.get("grades") or []
            if not isinstance(grades, list) or not all(isinstance(g, str) for g in grades):
                raise Invalid("grades must be a list of strings")
            if grades and len(grades[0]) > 32:
                raise Invalid("grades[0] is longer than 32 characters")
            values = {"title": _text(record, "title", required=True), "subject": map_subject(record.get("subjects")),
                      "grade": grades[0] if grades else ""}
            for key, name in (("totalXp", "total_xp"), ("masterableUnits", "masterable_units")):
                number = _count(metadata, key)
                if number is not None:  # absent: keep what the app has
                    values[name] = number
            return values

        self._upsert("courses", Course, self._rows("courses", records, build))

    def _import_classes(self, records):
        course_ids = self._ids(Course, {_safe_ref(r, "course") for *_x, r in records})

        def build(record):
            course = _ref(record, "course")
            if course not in course_ids:
                raise Invalid(f"course {course!r} is not in the local roster")
            return {"course_id": course_ids[course], "title": _text(record, "title")}

        self._upsert("classes", RosterClass, self._rows("classes", records, build))

    def _import_users(self, records):
        students = []
        for item in records:
            sourced_id, _active, _modified, record = item
            role = user_role(record)
            if role == "student":
                students.append(item)
            elif role == "teacher":
                self.summary.teachers_seen += 1
                email = record.get("email") if isinstance(record.get("email"), str) else ""
                self.teachers[sourced_id] = email
                self.host_users.pop(sourced_id, None)  # re-resolve with the new record
            else:
                self.summary.users_ignored[str(role)] += 1

        def build(record):
            email = _text(record, "email", max_length=254)
            if email:
                try:
                    validate_email(email)
                except ValidationError:
                    raise Invalid(f"email {email!r} is not a valid address") from None
            return {"email": email, "given_name": _text(record, "givenName", max_length=150),
                    "family_name": _text(record, "familyName", max_length=150)}

        self._upsert("students", Student, self._rows("students", students, build))

    def _import_enrollments(self, records):
        wanted = []
        for item in records:
            role = item[3].get("role")
            if role in ("student", "teacher"):
                wanted.append(item)
            else:
                self.summary.enrollments_ignored[str(role)] += 1
        classes = {
            c["sourced_id"]: c["course_id"]
            for c in RosterClass.objects.filter(sourced_id__in={_safe_ref(r, "class") for *_x, r in wanted})
            .values("sourced_id", "course_id")
        }
        students = self._ids(Student, {_safe_ref(r, "user") for *_x, r in wanted if r.get("role") == "student"})
        self._resolve_teachers({_safe_ref(r, "user") for *_x, r in wanted if r.get("role") == "teacher"} - {None})

        def build(record):
            user, klass, role = _ref(record, "user"), _ref(record, "class"), record["role"]
            if klass not in classes:
                raise Invalid(f"class {klass!r} is not in the local roster")
            values = {"course_id": classes[klass], "role": role, "user_sourced_id": user, "class_sourced_id": klass,
                      "student_id": None, "user_id": None}
            if role == "student":
                if user not in students:
                    raise Invalid(f"student {user!r} is not in the local roster")
                values["student_id"] = students[user]
            else:
                values["user_id"] = self.host_users.get(user)
            return values

        self._upsert_enrollments(self._rows("enrollments", wanted, build))

    # -- teachers ------------------------------------------------------------

    def _resolve_teachers(self, sourced_ids):
        """Fill ``host_users`` for these teacher sourcedIds, fetching unknown teachers in batches."""
        unknown = sorted(s for s in sourced_ids if s not in self.teachers)
        for start in range(0, len(unknown), 50):
            chunk = unknown[start:start + 50]
            query = " OR ".join(f"sourcedId='{s.replace(chr(39), chr(39) * 2)}'" for s in chunk)
            for page in self.client.get_collection(f"{app_settings.ROSTERING_PATH}/users", {"filter": query},
                                                   key="users", page_size=len(chunk)):
                for record in page:
                    if isinstance(record, dict) and record.get("sourcedId") in chunk:
                        email = record.get("email")
                        self.teachers[record["sourcedId"]] = email if isinstance(email, str) else ""
        todo = [s for s in sourced_ids if s not in self.host_users]
        if not todo:
            return
        User = get_user_model()
        user_map = {str(k).lower(): v for k, v in (app_settings.ROSTER_USER_MAP or {}).items()}
        emails = {s: (self.teachers.get(s) or "").lower() for s in todo}
        mapped = {s: user_map.get(s.lower()) or user_map.get(emails[s]) for s in todo}
        by_name = dict(
            User.objects.filter(**{f"{User.USERNAME_FIELD}__in": {m for m in mapped.values() if m}})
            .values_list(User.USERNAME_FIELD, "pk")
        ) if any(mapped.values()) else {}
        by_email = defaultdict(list)
        wanted_emails = {e for s, e in emails.items() if e and not mapped[s]}
        if wanted_emails:
            for pk, email in (User.objects.annotate(_email=Lower(User.get_email_field_name()))
                              .filter(_email__in=wanted_emails).values_list("pk", "_email")):
                by_email[email].append(pk)
        for sourced_id in todo:
            pk, reason = self._host_user(sourced_id, emails[sourced_id], mapped[sourced_id], by_name, by_email)
            self.host_users[sourced_id] = pk
            if reason:
                self.summary.unmatched_teachers[sourced_id] = reason
            else:
                self.summary.unmatched_teachers.pop(sourced_id, None)

    def _host_user(self, sourced_id, email, mapped, by_name, by_email):
        """``(host user pk, None)`` or ``(None, why not)``."""
        if self.teachers.get(sourced_id) is None:
            return None, "the teacher is not among Timeback's users"
        if mapped:
            if mapped in by_name:
                return by_name[mapped], None
            return None, f"ROSTER_USER_MAP names the user {mapped!r}, who does not exist"
        if not email:
            return None, "the teacher has no email and no ROSTER_USER_MAP entry"
        found = by_email.get(email, [])
        if len(found) == 1:
            return found[0], None
        if found:
            return None, f"{len(found)} host users have the email {email}; set ROSTER_USER_MAP"
        return None, f"no host user has the email {email}"

    # -- writing -------------------------------------------------------------

    @staticmethod
    def _ids(model, sourced_ids):
        sourced_ids = {s for s in sourced_ids if s}
        if not sourced_ids:
            return {}
        return dict(model.objects.filter(sourced_id__in=sourced_ids).values_list("sourced_id", "pk"))

    def _classify(self, obj, values):
        """``created`` / ``updated`` / ``deactivated`` / ``unchanged``, applying ``values`` to ``obj``."""
        changed = [k for k, v in values.items() if getattr(obj, k) != v]
        if not changed:
            return "unchanged"
        outcome = "deactivated" if obj.is_active and values.get("is_active") is False else "updated"
        for key in changed:
            setattr(obj, key, values[key])
        return outcome

    def _upsert(self, kind, model, rows):
        existing = {o.sourced_id: o for o in model.objects.filter(sourced_id__in=[s for s, *_x in rows])} if rows else {}
        objs, outcomes = [], []
        for sourced_id, values, modified in rows:
            if model is not Enrollment:
                values = {**values, "date_last_modified": modified}
            obj = existing.get(sourced_id)
            if obj is None:
                obj, outcome = model(sourced_id=sourced_id, **values), "created"
            else:
                outcome = self._classify(obj, values)
                if outcome == "unchanged":
                    self.summary.count(kind, outcome)
                    continue
                obj.pk = None  # one INSERT ... ON CONFLICT (sourced_id) DO UPDATE for old and new rows
            objs.append(obj)
            outcomes.append(outcome)
        fields = self.UPDATE_FIELDS[model] + ["updated_at"]
        self._write(kind, objs, outcomes, lambda batch: model.objects.bulk_create(
            batch, update_conflicts=True, unique_fields=["sourced_id"], update_fields=fields))

    def _upsert_enrollments(self, rows):
        """Like ``_upsert``, but an enrollment the app made itself (no sourcedId, same person
        and course) is adopted rather than duplicated, and one person's second class in
        the same course is reported (the app enrolls per course)."""
        if not rows:
            return
        by_sid = {e.sourced_id: e for e in Enrollment.objects.filter(sourced_id__in=[s for s, *_x in rows])}
        fresh = [values for s, values, _m in rows if s not in by_sid]
        by_key = {}
        if fresh:
            course_ids = {v["course_id"] for v in fresh}
            student_ids = {v["student_id"] for v in fresh if v["student_id"]}
            user_ids = {v["user_id"] for v in fresh if v["user_id"]}
            for e in Enrollment.objects.filter(course_id__in=course_ids, student_id__in=student_ids):
                by_key[_natural_key(e.__dict__)] = e
            if user_ids:
                for e in Enrollment.objects.filter(course_id__in=course_ids, user_id__in=user_ids, role="teacher"):
                    by_key[_natural_key(e.__dict__)] = e
        upserts, upsert_outcomes, adopted, adopted_outcomes, claimed = [], [], [], [], {}
        for sourced_id, values, _modified in rows:
            key = _natural_key(values)
            if key and claimed.get(key, sourced_id) != sourced_id:
                self.summary.skip("enrollments", sourced_id, f"the same person is already enrolled in this course "
                                                             f"through enrollment {claimed[key]!r} in this page")
                continue
            obj = by_sid.get(sourced_id)
            if obj is not None:
                outcome = self._classify(obj, values)
                if outcome == "unchanged":
                    self.summary.count("enrollments", outcome)
                else:
                    obj.pk = None
                    upserts.append(obj)
                    upsert_outcomes.append(outcome)
            elif key in by_key:
                obj = by_key[key]
                if obj.sourced_id and obj.is_active and obj.sourced_id != sourced_id:
                    self.summary.skip("enrollments", sourced_id, f"the same person is already enrolled in this course "
                                                                 f"through enrollment {obj.sourced_id!r}")
                    continue
                obj.sourced_id, obj.updated_at = sourced_id, timezone.now()  # bulk_update skips auto_now
                adopted.append(obj)
                adopted_outcomes.append("deactivated" if obj.is_active and not values["is_active"] else "updated")
                for name, value in values.items():
                    setattr(obj, name, value)
            else:
                upserts.append(Enrollment(sourced_id=sourced_id, **values))
                upsert_outcomes.append("created")
            if key:
                claimed[key] = sourced_id
        fields = self.UPDATE_FIELDS[Enrollment] + ["updated_at"]
        self._write("enrollments", adopted, adopted_outcomes,
                    lambda batch: Enrollment.objects.bulk_update(batch, fields + ["sourced_id"]))
        self._write("enrollments", upserts, upsert_outcomes, lambda batch: Enrollment.objects.bulk_create(
            batch, update_conflicts=True, unique_fields=["sourced_id"], update_fields=fields))

    def _write(self, kind, objs, outcomes, write):
        """Write ``objs`` in one go; if the database refuses, retry one by one and skip the refused."""
        if not objs:
            return
        try:
            with transaction.atomic():
                write(objs)
        except (IntegrityError, DataError) as exc:
            if len(objs) == 1:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                self.summary.skip(kind, objs[0].sourced_id, f"the database refused it: {reason}")
                return
            for obj, outcome in zip(objs, outcomes):
                self._write(kind, [obj], [outcome], write)
            return
        for outcome in outcomes:
            self.summary.count(kind, outcome)


def _safe_ref(record, key):
    value = record.get(key)
    return value.get("sourcedId") if isinstance(value, dict) and isinstance(value.get("sourcedId"), str) else None


def _natural_key(values):
    """What makes an enrollment unique besides its sourcedId (None: nothing)."""
    if values.get("student_id"):
        return ("student", values["course_id"], values["student_id"])
    if values.get("user_id"):
        return ("teacher", values["course_id"], values["user_id"])
    return None


# -- entry points -------------------------------------------------------------------------


def import_roster(**options):
    """Run one import (see ``RosterImport`` for the options) and return its Summary."""
    return RosterImport(**options).run()


def run_scheduled_import():
    """django-q2 entry point: an incremental import; returns the summary dict (errors raise)."""
    summary = import_roster()
    logger.info("roster import: %s", summary.as_dict()["totals"])
    return summary.as_dict()


def ensure_schedule(minutes=60):
    """Create or update a django-q2 Schedule that runs the import every ``minutes``."""
    from django_q.models import Schedule

    return Schedule.objects.update_or_create(name=SCHEDULE_NAME, defaults={
        "func": "timeback_progress.roster.run_scheduled_import",
        "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1,
    })[0]


IMPORT_PERMISSIONS = [f"timeback_progress.{action}_{model}" for model in ("student", "course", "enrollment")
                      for action in ("add", "change")]


def import_roster_action(modeladmin, request, queryset):
    """Admin action: run an incremental import now (the selection is not used)."""
    from django.contrib import messages

    from .timeback.errors import TimebackError

    if not request.user.has_perms(IMPORT_PERMISSIONS):
        modeladmin.message_user(request, "Importing the roster needs the add and change permissions on students, "
                                         "courses and enrollments.", messages.ERROR)
        return
    try:
        summary = import_roster()
    except TimebackError as exc:
        modeladmin.message_user(request, f"Roster import failed: {exc}", messages.ERROR)
        return
    totals = summary.as_dict()["totals"]
    text = ", ".join(f"{n} {outcome}" for outcome, n in totals.items())
    level = messages.WARNING if totals["skipped"] or summary.unmatched_teachers else messages.SUCCESS
    modeladmin.message_user(request, f"Roster imported ({summary.mode}): {text}; "
                                     f"{len(summary.unmatched_teachers)} teachers not matched to a user.", level)


import_roster_action.short_description = "Import the roster from Timeback now"
