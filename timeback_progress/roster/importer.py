"""One roster import run: read OneRoster page by page, validate each record, write each page.

Courses, classes, users and enrollments are read in that order through the
Timeback client (enrollments point at classes and classes at courses, so
classes are kept as ``RosterClass`` for incremental runs). Each record is
validated on its own (``records``): a bad one is skipped and reported, the run
goes on. Each page is written with a handful of bulk queries (``writer``).
Records the source marks ``tobedeleted`` become ``is_active=False``: attempts
and results refer to students and courses, so nothing is deleted.

An incremental run asks for ``dateLastModified>='<high-water mark>'`` (``>=``
so records stamped in the same instant as the last one seen are not missed;
re-reading them changes nothing). The mark is saved in ``SyncState("roster")``
only after a run that finished.
"""

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from ..conf import app_settings
from ..timeback.formats import isoformat
from ..models import Course, RosterClass, Student, SyncState
from ..outbox import held
from .records import (Invalid, RosterError, map_subject, record_count, record_header, record_ref,
                      record_ref_or_none, record_text, user_role)
from .summary import Summary
from .teachers import TeacherMatcher
from .writer import PageWriter

SYNC_NAME = "roster"
COLLECTIONS = ("courses", "classes", "users", "enrollments")


class RosterImport:
    """One run: ``RosterImport(since=..., full=..., dry_run=...).run()`` returns a Summary.

    ``progress(kind, done, total)`` is called after each page (``total`` is the
    server's ``X-Total-Count`` or None).
    """

    def __init__(self, *, since=None, full=False, dry_run=False, client=None, page_size=None, progress=None):
        if since is not None and full:
            raise RosterError("--since and --full exclude each other: --full reads everything.")
        self.since, self.full, self.dry_run = since, full, dry_run
        self._client = client
        self.page_size = page_size
        self.progress = progress
        self.summary = Summary(dry_run=dry_run)
        self.teachers = TeacherMatcher(self.summary)
        self.writer = PageWriter(self.summary)

    @property
    def client(self):
        if self._client is None:
            from ..timeback.client import get_client

            self._client = get_client()
        return self._client

    def run(self):
        state = SyncState.objects.filter(name=SYNC_NAME).first()
        since = self.since
        if since is None and not self.full and state is not None:
            since = state.high_water_mark
        self.summary.mode = "incremental" if since else "full"
        self.summary.since = since
        params = {"filter": f"dateLastModified>='{isoformat(since)}'"} if since else {}
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
                sourced_id, active, modified = record_header(record)
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

    @staticmethod
    def _ids(model, sourced_ids):
        sourced_ids = {s for s in sourced_ids if s}
        if not sourced_ids:
            return {}
        return dict(model.objects.filter(sourced_id__in=sourced_ids).values_list("sourced_id", "pk"))

    # -- collections ---------------------------------------------------------

    def _import_courses(self, records):
        def build(record):
            metadata = record.get("metadata") if isinstance(record.get("metadata"), dict) else {}
            grades = record.get("grades") or []
            if not isinstance(grades, list) or not all(isinstance(g, str) for g in grades):
                raise Invalid("grades must be a list of strings")
            if grades and len(grades[0]) > 32:
                raise Invalid("grades[0] is longer than 32 characters")
            values = {"title": record_text(record, "title", required=True),
                      "subject": map_subject(record.get("subjects")), "grade": grades[0] if grades else ""}
            for key, name in (("totalXp", "total_xp"), ("masterableUnits", "masterable_units")):
                number = record_count(metadata, key)
                if number is not None:  # absent: keep what the app has
                    values[name] = number
            return values

        self.writer.upsert("courses", Course, self._rows("courses", records, build))

    def _import_classes(self, records):
        course_ids = self._ids(Course, {record_ref_or_none(r, "course") for *_x, r in records})

        def build(record):
            course = record_ref(record, "course")
            if course not in course_ids:
                raise Invalid(f"course {course!r} is not in the local roster")
            return {"course_id": course_ids[course], "title": record_text(record, "title")}

        self.writer.upsert("classes", RosterClass, self._rows("classes", records, build))

    def _import_users(self, records):
        students = []
        for item in records:
            sourced_id, _active, _modified, record = item
            role = user_role(record)
            if role == "student":
                students.append(item)
            elif role == "teacher":
                self.teachers.seen(sourced_id, record)
            else:
                self.summary.users_ignored[str(role)] += 1

        def build(record):
            email = record_text(record, "email", max_length=254)
            if email:
                try:
                    validate_email(email)
                except ValidationError:
                    raise Invalid(f"email {email!r} is not a valid address") from None
            return {"email": email, "given_name": record_text(record, "givenName", max_length=150),
                    "family_name": record_text(record, "familyName", max_length=150)}

        rows = self._rows("students", students, build)
        for sourced_id, values, _modified in rows:
            if values["is_active"] and not held.has_email(values["email"]):
                # Written all the same (the email may come later); Timeback refuses events without one.
                self.summary.warn("students", sourced_id, "no_email", held.no_email_message(Student(sourced_id=sourced_id)))
        self.writer.upsert("students", Student, rows)

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
            for c in RosterClass.objects.filter(sourced_id__in={record_ref_or_none(r, "class") for *_x, r in wanted})
            .values("sourced_id", "course_id")
        }
        students = self._ids(Student, {record_ref_or_none(r, "user") for *_x, r in wanted
                                       if r.get("role") == "student"})
        self.teachers.resolve({record_ref_or_none(r, "user") for *_x, r in wanted
                               if r.get("role") == "teacher"} - {None}, self.client)

        def build(record):
            user, klass, role = record_ref(record, "user"), record_ref(record, "class"), record["role"]
            if klass not in classes:
                raise Invalid(f"class {klass!r} is not in the local roster")
            values = {"course_id": classes[klass], "role": role, "user_sourced_id": user, "class_sourced_id": klass,
                      "student_id": None, "user_id": None}
            if role == "student":
                if user not in students:
                    raise Invalid(f"student {user!r} is not in the local roster")
                values["student_id"] = students[user]
            else:
                values["user_id"] = self.teachers.host_user(user)
            return values

        self.writer.upsert_enrollments(self._rows("enrollments", wanted, build))


def import_roster(**options):
    """Run one import (see ``RosterImport`` for the options) and return its Summary."""
    return RosterImport(**options).run()
