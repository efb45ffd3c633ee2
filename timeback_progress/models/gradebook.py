"""The gradebook mirror: attempts (the source of truth), their results and corrections.

Results are derived from attempts by ``gradebook`` (never typed in); a
correction is an append-only audit row.
"""

import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models, router
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .base import ID_NAMESPACE, ScoreStatus, Status, TimestampedModel
from .roster import Activity, Course, Student


def title(student, activity, number):
    """An attempt's (and its result's) title: student, activity and run number."""
    return f"{student} – {activity} #{number}"


class AttemptQuerySet(models.QuerySet):
    def with_state(self):
        """Annotate ``later_run``: the student started another run at the activity since (``Attempt.state``)."""
        later = Attempt.objects.filter(
            student_id=OuterRef("student_id"), activity_id=OuterRef("activity_id"), number__gt=OuterRef("number")
        )
        return self.annotate(later_run=Exists(later))


class Attempt(TimestampedModel):
    """One student's try at an activity (a run). Completing it awards XP (see gradebook.attempts).

    Runs are numbered as they start (``number``, part of the ids sent to
    Timeback); the attempt as Timeback counts it (``attempt_number``) is given
    on completion. A run left open is abandoned once the student started
    another one or nothing was reported for ``ABANDONED_AFTER``: its time
    still reaches Timeback, and it never costs XP.
    """

    ABANDONED_AFTER = timedelta(days=1)

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress", _("in progress")
        COMPLETED = "completed", _("completed")
        ABANDONED = "abandoned", _("abandoned")

    # What a TimeSpentEvent marks as announced, and the sync counters in all.
    TIME_REPORT_FIELDS = (
        "reported_active_seconds", "reported_inactive_seconds", "time_events_sent", "time_reported_until",
    )
    SYNC_COUNTERS = (*TIME_REPORT_FIELDS, "xp_corrections_sent")
    # Computed by gradebook.derivation (never typed in), and the sync counters.
    DERIVED_FIELDS = ("attempt_number", "accuracy", "multiplier", "xp_earned", "mastered_units", *SYNC_COUNTERS)

    student = models.ForeignKey(Student, on_delete=models.PROTECT, related_name="attempts")
    activity = models.ForeignKey(Activity, on_delete=models.PROTECT, related_name="attempts")
    # Denormalised from activity so course-wide aggregates need no join.
    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="attempts", editable=False)
    number = models.PositiveIntegerField(
        _("run"), editable=False,
        help_text=_("1 for the first attempt this student started at this activity (abandoned ones included)."),
    )
    started_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    total_questions = models.PositiveIntegerField(null=True, blank=True)
    correct_questions = models.DecimalField(
        max_digits=9, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)],
        help_text=_("May be fractional (partial credit)."),
    )
    active_seconds = models.PositiveIntegerField(default=0)
    inactive_seconds = models.PositiveIntegerField(default=0)
    # Computed on completion (gradebook.derivation); never typed in.
    attempt_number = models.PositiveIntegerField(
        _("attempt"), null=True, blank=True, editable=False,
        help_text=_("As Timeback counts: 1 + the student's attempts at this activity completed before this one."),
    )
    accuracy = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True, editable=False)
    multiplier = models.DecimalField(max_digits=4, decimal_places=2, null=True, blank=True, editable=False)
    xp_earned = models.DecimalField(max_digits=9, decimal_places=2, default=0, editable=False)
    mastered_units = models.PositiveIntegerField(default=0, editable=False)
    # Set by an admin correction; wins over the rules until cleared.
    xp_override = models.DecimalField(max_digits=9, decimal_places=2, null=True, blank=True)
    mastered_units_override = models.PositiveIntegerField(null=True, blank=True)
    # Seconds already announced in TimeSpentEvents, and how many (see delivery).
    reported_active_seconds = models.PositiveIntegerField(default=0, editable=False)
    reported_inactive_seconds = models.PositiveIntegerField(default=0, editable=False)
    time_events_sent = models.PositiveIntegerField(default=0, editable=False)
    # Where the last TimeSpentEvent's window ended (the next one starts there).
    time_reported_until = models.DateTimeField(null=True, blank=True, editable=False)
    # Correction ActivityEvents (XP or mastered-unit differences) sent for this attempt: numbers their ids.
    xp_corrections_sent = models.PositiveIntegerField(default=0, editable=False)

    objects = AttemptQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["student", "activity", "number"], name="tbp_attempt_unique_number"),
            models.CheckConstraint(
                condition=Q(correct_questions__isnull=True)
                | Q(total_questions__isnull=False, correct_questions__lte=F("total_questions")),
                name="tbp_attempt_correct_lte_total",
            ),
        ]
        indexes = [
            models.Index(fields=["student", "course", "completed_at"]),
            models.Index(fields=["course", "completed_at"]),
            # Open attempts holding time not yet announced: the sweeper's idle flush
            # reads only these, so the index stays as small as that set.
            models.Index(
                fields=["updated_at"],
                condition=Q(completed_at__isnull=True)
                & (Q(active_seconds__gt=F("reported_active_seconds")) | Q(inactive_seconds__gt=F("reported_inactive_seconds"))),
                name="tbp_attempt_unsent_time",
            ),
            # The admin's list, newest first (ordering + the changelist's ``-pk``): a page is an index range.
            models.Index(fields=["started_at", "id"], name="tbp_attempt_started"),
        ]

    def __str__(self):
        """"Ann Able – Fractions quiz #2": who, what, and which run (what a person looks for, not a UUID)."""
        return title(self.student, self.activity, self.number)

    @property
    def is_completed(self):
        return self.completed_at is not None

    @property
    def state(self):
        """Completed, in progress or abandoned (reads ``later_run`` where ``with_state`` annotated it)."""
        if self.is_completed:
            return self.State.COMPLETED
        idle_since = self.updated_at or self.started_at
        if getattr(self, "later_run", False) or (idle_since and timezone.now() - idle_since > self.ABANDONED_AFTER):
            return self.State.ABANDONED
        return self.State.IN_PROGRESS

    def clean(self):
        if self.correct_questions is not None:
            if self.total_questions is None:
                raise ValidationError({"total_questions": _("Give the number of questions.")})
            if self.correct_questions > self.total_questions:
                raise ValidationError({"correct_questions": _("Correct answers cannot exceed the total.")})

    def save(self, *args, **kwargs):
        if (
            not args  # (positional save() arguments: left to Django as they are)
            and not self._state.adding
            and self.pk is not None
            and kwargs.get("update_fields") is None
            and not kwargs.get("force_insert")
        ):
            # Derived figures and sync counters are written only by gradebook and
            # delivery, under the row lock: saving an instance loaded earlier must
            # not roll them back (that would announce the same seconds or XP
            # difference twice). Deferred fields stay unsaved, as Django does.
            skip = {*self.DERIVED_FIELDS, *self.get_deferred_fields()}
            kwargs["update_fields"] = [
                f.name for f in self._meta.concrete_fields if not f.primary_key and f.attname not in skip
            ]
        if self.activity_id and not self.course_id:
            self.course_id = Activity.objects.values_list("course_id", flat=True).get(pk=self.activity_id)
        if not self.number:
            self.number = self.next_number(kwargs.get("using") or router.db_for_write(Attempt, instance=self))
        super().save(*args, **kwargs)

    def next_number(self, using=None):
        """The number the student's next attempt at the activity gets (1 for the first)."""
        last = (
            Attempt.objects.db_manager(using)
            .filter(student_id=self.student_id, activity_id=self.activity_id)
            .aggregate(m=models.Max("number"))["m"]
        )
        return (last or 0) + 1

    def natural_id(self):
        """Stable across databases: the basis of the deterministic UUIDv5 ids."""
        return f"{self.student.sourced_id}/{self.activity.activity_id}/{self.number}"

    def derived_uuid(self, kind):
        return uuid.uuid5(ID_NAMESPACE, f"{self.natural_id()}/{kind}")


class Result(TimestampedModel):
    """The local mirror of one OneRoster assessmentResult (one per completed attempt)."""

    sourced_id = models.CharField(_("sourcedId"), max_length=255, unique=True)
    attempt = models.OneToOneField(Attempt, on_delete=models.CASCADE, related_name="result")
    student = models.ForeignKey(Student, on_delete=models.PROTECT, related_name="results")
    line_item_sourced_id = models.CharField(_("line item sourcedId"), max_length=255)
    # None for a passive activity: watched or read, never a 0 score (see docs/timeback-semantics.md).
    score = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    text_score = models.CharField(_("textScore"), max_length=64, blank=True)
    score_status = models.CharField(max_length=32, choices=ScoreStatus.choices, default=ScoreStatus.FULLY_GRADED)
    score_date = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    metadata = models.JSONField(
        default=dict, help_text=_("xp, accuracy, totalQuestions, correctQuestions, masteredUnits, multiplier, attempt.")
    )
    # Set when an admin corrected score/scoreStatus; recomputation keeps them.
    is_corrected = models.BooleanField(default=False)

    class Meta:
        ordering = ["-score_date"]
        permissions = [("correct_result", "Can correct a result (with an audit trail)")]
        indexes = [
            # The admin's list, newest first (ordering + the changelist's ``-pk``), and its search by line item.
            models.Index(fields=["score_date", "id"], name="tbp_result_score_date"),
            models.Index(fields=["line_item_sourced_id"], name="tbp_result_line_item"),
        ]

    def __str__(self):
        """The attempt's title ("Ann Able – Fractions quiz #2"): a result stands for one completed attempt.

        Reads the result's own student and the attempt's activity and run, so a
        list that joins ``student`` and ``attempt__activity`` titles its rows
        without a query each.
        """
        attempt = self.attempt
        return title(self.student, attempt.activity, attempt.number)

    @property
    def xp(self):
        return self.metadata.get("xp")


class ResultCorrection(models.Model):
    """Append-only audit row for an admin correction of a result."""

    result = models.ForeignKey(Result, on_delete=models.PROTECT, related_name="corrections")
    corrected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    reason = models.TextField()
    before = models.JSONField()
    after = models.JSONField()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return _("Correction of %(result)s at %(moment)s") % {
            "result": self.result, "moment": f"{self.created_at:%Y-%m-%d %H:%M}"}

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValidationError(_("Result corrections are an audit trail and cannot be edited."))
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError(_("Result corrections are an audit trail and cannot be deleted."))
