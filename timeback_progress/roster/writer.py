"""Writing one page of validated rows with a handful of bulk queries, whatever its size.

One read of the rows the page touches, then one
``bulk_create(update_conflicts=True)`` upsert keyed on ``sourcedId`` for new
and changed rows alike. A batch the database refuses is retried row by row, so
only the refused rows are skipped (and reported).
"""

from django.db import DataError, IntegrityError, transaction
from django.utils import timezone

from ..models import Course, Enrollment, RosterClass, Student
from ..outbox import held

# Fields an upsert rewrites; ``created_at`` and Student.user (the host's) are kept.
UPDATE_FIELDS = {
    Course: ["title", "subject", "grade", "total_xp", "masterable_units", "is_active", "date_last_modified"],
    RosterClass: ["course", "title", "is_active", "date_last_modified"],
    Student: ["email", "given_name", "family_name", "is_active", "date_last_modified"],
    Enrollment: ["course", "role", "user", "student", "user_sourced_id", "class_sourced_id", "is_active"],
}


class PageWriter:
    """Upserts ``[(sourcedId, values, dateLastModified)]`` rows, counting each outcome in ``summary``."""

    def __init__(self, summary):
        self.summary = summary

    def _classify(self, obj, values):
        """``created`` / ``updated`` / ``deactivated`` / ``unchanged``, applying ``values`` to ``obj``."""
        changed = [k for k, v in values.items() if getattr(obj, k) != v]
        if not changed:
            return "unchanged"
        outcome = "deactivated" if obj.is_active and values.get("is_active") is False else "updated"
        for key in changed:
            setattr(obj, key, values[key])
        return outcome

    def upsert(self, kind, model, rows):
        existing = {o.sourced_id: o for o in model.objects.filter(sourced_id__in=[s for s, *_x in rows])} if rows else {}
        objs, outcomes, emailed = [], [], []
        for sourced_id, values, modified in rows:
            if model is not Enrollment:
                values = {**values, "date_last_modified": modified}
            obj = existing.get(sourced_id)
            if obj is None:
                obj, outcome = model(sourced_id=sourced_id, **values), "created"
            else:
                had_email = model is Student and held.has_email(obj.email)
                outcome = self._classify(obj, values)
                if outcome == "unchanged":
                    self.summary.count(kind, outcome)
                    continue
                if model is Student and not had_email and held.has_email(obj.email):
                    emailed.append(obj.pk)
                obj.pk = None  # one INSERT ... ON CONFLICT (sourced_id) DO UPDATE for old and new rows
            objs.append(obj)
            outcomes.append(outcome)
        fields = UPDATE_FIELDS[model] + ["updated_at"]
        self._write(kind, objs, outcomes, lambda batch: model.objects.bulk_create(
            batch, update_conflicts=True, unique_fields=["sourced_id"], update_fields=fields))
        if emailed:
            # A bulk upsert sends no post_save: release the events held for want of these emails here.
            held.release(list(Student.objects.filter(pk__in=emailed)))

    def upsert_enrollments(self, rows):
        """Like ``upsert``, but an enrollment the app made itself (no sourcedId, same person
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
                by_key[natural_key(e.__dict__)] = e
            if user_ids:
                for e in Enrollment.objects.filter(course_id__in=course_ids, user_id__in=user_ids, role="teacher"):
                    by_key[natural_key(e.__dict__)] = e
        upserts, upsert_outcomes, adopted, adopted_outcomes, claimed = [], [], [], [], {}
        for sourced_id, values, _modified in rows:
            key = natural_key(values)
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
        fields = UPDATE_FIELDS[Enrollment] + ["updated_at"]
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


def natural_key(values):
    """What makes an enrollment unique besides its sourcedId (None: nothing)."""
    if values.get("student_id"):
        return ("student", values["course_id"], values["student_id"])
    if values.get("user_id"):
        return ("teacher", values["course_id"], values["user_id"])
    return None
