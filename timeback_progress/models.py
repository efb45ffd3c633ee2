"""The local mirror of Timeback's roster and gradebook, plus the sync outbox.

Attempts are the source of truth; ``Result`` (the OneRoster assessmentResult),
``StudentProgress`` and ``DailyProgress`` are derived from them by
``services`` so dashboards never scan attempts.
"""

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .subjects import SUBJECT_CHOICES, SubjectField, check_subject  # noqa: F401 (SUBJECT_CHOICES for hosts that imported it here)

# OneRoster uuid namespace for ids this app derives (results, events).
ID_NAMESPACE = uuid.UUID("6c1f5a0e-7d3b-5b7e-9a57-1f0b1c6f2a10")


class Status(models.TextChoices):
    """OneRoster record status."""

    ACTIVE = "active", _("active")
    TOBEDELETED = "tobedeleted", _("to be deleted")


class ScoreStatus(models.TextChoices):
    EXEMPT = "exempt", _("exempt")
    FULLY_GRADED = "fully graded", _("fully graded")
    NOT_SUBMITTED = "not submitted", _("not submitted")
    PARTIALLY_GRADED = "partially graded", _("partially graded")
    SUBMITTED = "submitted", _("submitted")


class TimestampedModel(models.Model):
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Student(TimestampedModel):
    """A OneRoster user with the student role."""

    sourced_id = models.CharField(_("sourcedId"), max_length=255, unique=True)
    email = models.EmailField(blank=True)
    given_name = models.CharField(max_length=150, blank=True)
    family_name = models.CharField(max_length=150, blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="timeback_student",
        help_text=_("The host project's user who signs in as this student, if any."),
    )
    is_active = models.BooleanField(default=True, help_text=_("False once the roster marks the user tobedeleted."))
    date_last_modified = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["family_name", "given_name", "sourced_id"]
        indexes = [models.Index(fields=["email"]), models.Index(fields=["family_name", "given_name"])]

    def __str__(self):
        return self.full_name or self.sourced_id

    @property
    def full_name(self):
        return " ".join(p for p in (self.given_name, self.family_name) if p)


class Course(TimestampedModel):
    sourced_id = models.CharField(_("sourcedId"), max_length=255, unique=True)
    title = models.CharField(max_length=255)
    subject = SubjectField()  # always a Timeback subject (see subjects.py)
    grade = models.CharField(max_length=32, blank=True, help_text=_("Grade level, e.g. 05."))
    total_xp = models.PositiveIntegerField(default=0, help_text=_("XP available in the whole course."))
    masterable_units = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    date_last_modified = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["title"]

    def __str__(self):
        return self.title

    def save(self, *args, **kwargs):
        check_subject(self, kwargs.get("update_fields"))
        super().save(*args, **kwargs)


class Enrollment(TimestampedModel):
    """A teacher (a host user) or a student in a course.

    Teachers are host users, so dashboards can check ``request.user``; the
    roster's user sourcedId is kept so an unmatched teacher can be linked later.
    """

    class Role(models.TextChoices):
        TEACHER = "teacher", _("teacher")
        STUDENT = "student", _("student")

    sourced_id = models.CharField(_("sourcedId"), max_length=255, unique=True, null=True, blank=True)
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="enrollments")
    role = models.CharField(max_length=16, choices=Role.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="timeback_enrollments",
    )
    student = models.ForeignKey(
        Student, null=True, blank=True, on_delete=models.CASCADE, related_name="enrollments"
    )
    user_sourced_id = models.CharField(max_length=255, blank=True)
    class_sourced_id = models.CharField(max_length=255, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["course", "student"],
                condition=Q(student__isnull=False),
                name="tbp_enrollment_unique_student",
            ),
            models.UniqueConstraint(
                fields=["course", "user", "role"],
                condition=Q(user__isnull=False),
                name="tbp_enrollment_unique_user_role",
            ),
        ]
        indexes = [models.Index(fields=["user", "role", "is_active"])]

    def __str__(self):
        who = self.student or self.user or self.user_sourced_id
        return f"{who} ({self.role}) in {self.course}"

    def clean(self):
        if self.role == self.Role.STUDENT and not self.student_id:
            raise ValidationError({"student": _("A student enrollment needs a student.")})
        if self.role == self.Role.TEACHER and not (self.user_id or self.user_sourced_id):
            raise ValidationError({"user": _("A teacher enrollment needs a user.")})


class RosterClass(TimestampedModel):
    """A OneRoster class (a section of a course), kept by the roster import.

    Enrollments name a class, not a course; this keeps the class -> course
    mapping so an incremental import can place an enrollment whose class did
    not change since the last run.
    """

    sourced_id = models.CharField(_("sourcedId"), max_length=255, unique=True)
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="roster_classes")
    title = models.CharField(max_length=255, blank=True)
    is_active = models.BooleanField(default=True)
    date_last_modified = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("roster class")
        verbose_name_plural = _("roster classes")
        ordering = ["title", "sourced_id"]

    def __str__(self):
        return self.title or self.sourced_id


class Activity(TimestampedModel):
    """Something a student does: a quiz, a lesson, a video."""

    activity_id = models.CharField(
        max_length=255, unique=True, help_text=_("Stable id, sent as the Caliper object id.")
    )
    name = models.CharField(max_length=255)
    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="activities")
    subject = SubjectField()  # always a Timeback subject (see subjects.py)
    app_name = models.CharField(max_length=255)
    expected_xp = models.DecimalField(
        max_digits=8,
        decimal_places=2,
        validators=[MinValueValidator(0)],
        help_text=_("Minutes a focused student needs (1 XP = 1 minute)."),
    )
    masterable_units = models.PositiveIntegerField(default=1)
    is_graded = models.BooleanField(
        default=True, help_text=_("Passive activities (watching, reading) earn no XP on their own.")
    )
    line_item_sourced_id = models.CharField(
        _("line item sourcedId"), max_length=255, unique=True, blank=True,
        help_text=_("OneRoster assessmentLineItem; defaults to '<activity id>-line-item'."),
    )
    component_resource_sourced_id = models.CharField(max_length=255, blank=True)
    is_active = models.BooleanField(default=True)
    # Set once its line item is in the outbox, so completions skip the lookup.
    line_item_queued = models.BooleanField(default=False, editable=False)

    class Meta:
        verbose_name_plural = "activities"
        ordering = ["course", "name"]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        check_subject(self, kwargs.get("update_fields"))
        if not self.line_item_sourced_id:
            self.line_item_sourced_id = f"{self.activity_id}-line-item"
        super().save(*args, **kwargs)


class Attempt(TimestampedModel):
    """One student's try at an activity. Completing it awards XP (see services)."""

    # What a TimeSpentEvent marks as announced, and the sync counters in all.
    TIME_REPORT_FIELDS = ("reported_active_seconds", "reported_inactive_seconds", "time_events_sent")
    SYNC_COUNTERS = (*TIME_REPORT_FIELDS, "xp_corrections_sent")
    # Computed by services.apply_attempt (never typed in), and the sync counters.
    DERIVED_FIELDS = ("accuracy", "multiplier", "xp_earned", "mastered_units", *SYNC_COUNTERS)

    student = models.ForeignKey(Student, on_delete=models.PROTECT, related_name="attempts")
    activity = models.ForeignKey(Activity, on_delete=models.PROTECT, related_name="attempts")
    # Denormalised from activity so course-wide aggregates need no join.
    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="attempts", editable=False)
    number = models.PositiveIntegerField(
        editable=False, help_text=_("1 for the first attempt of this student at this activity.")
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
    # Computed on completion (services.apply_attempt); never typed in.
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
    # XP-difference ActivityEvents sent for this attempt: numbers their ids.
    xp_corrections_sent = models.PositiveIntegerField(default=0, editable=False)

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
        ]

    def __str__(self):
        return f"{self.student} - {self.activity} #{self.number}"

    @property
    def is_completed(self):
        return self.completed_at is not None

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
            # Derived figures and sync counters are written only by services and
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
            last = (
                Attempt.objects.filter(student_id=self.student_id, activity_id=self.activity_id)
                .aggregate(m=models.Max("number"))["m"]
            )
            self.number = (last or 0) + 1
        super().save(*args, **kwargs)

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
    score = models.DecimalField(max_digits=7, decimal_places=2)
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

    def __str__(self):
        return self.sourced_id

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
        return f"Correction of {self.result} at {self.created_at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValidationError("Result corrections are an audit trail and cannot be edited.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("Result corrections are an audit trail and cannot be deleted.")


class StudentProgress(models.Model):
    """Per student and course aggregates, recomputed from attempts by services."""

    student = models.ForeignKey(Student, on_delete=models.CASCADE, related_name="progress")
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="progress")
    xp_total = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    attempts_count = models.PositiveIntegerField(default=0)
    completed_count = models.PositiveIntegerField(default=0)
    total_questions = models.PositiveIntegerField(default=0)
    correct_questions = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    accuracy = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True, help_text=_("correct / total questions, percent.")
    )
    mastered_units = models.PositiveIntegerField(default=0)
    active_seconds = models.PositiveBigIntegerField(default=0)
    inactive_seconds = models.PositiveBigIntegerField(default=0)
    failed_streak = models.PositiveIntegerField(
        default=0, help_text=_("Latest consecutive completed attempts below 80% accuracy.")
    )
    last_activity_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "student progress"
        constraints = [models.UniqueConstraint(fields=["student", "course"], name="tbp_progress_unique")]
        indexes = [
            models.Index(fields=["course", "-xp_total"]),
            models.Index(fields=["course", "last_activity_at"]),
        ]

    def __str__(self):
        return f"{self.student} in {self.course}"


class DailyProgress(models.Model):
    """XP and time per student, course and day, for charts without scanning attempts."""

    student = models.ForeignKey(Student, on_delete=models.CASCADE, related_name="daily_progress")
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="daily_progress")
    day = models.DateField()
    xp = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    completed_count = models.PositiveIntegerField(default=0)
    active_seconds = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "daily progress"
        constraints = [models.UniqueConstraint(fields=["student", "course", "day"], name="tbp_daily_unique")]
        # Covers the class chart (sum of xp per day of a course) without touching the table.
        indexes = [models.Index(fields=["course", "day", "xp"], name="tbp_daily_course_day_xp")]


class Delivery(TimestampedModel):
    """One item in the sync outbox: written in the transaction of what it describes."""

    class Kind(models.TextChoices):
        CALIPER_EVENT = "caliper_event", _("Caliper event")
        LINE_ITEM = "line_item", _("OneRoster line item")
        RESULT = "result", _("OneRoster result")

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        RETRYING = "retrying", _("failed, retrying")
        DEAD = "dead", _("dead")
        SUPERSEDED = "superseded", _("superseded by a newer re-sync")

    kind = models.CharField(max_length=16, choices=Kind.choices)
    key = models.CharField(
        max_length=255, help_text=_("Idempotency key: the event id or the OneRoster sourcedId.")
    )
    payload = models.JSONField(default=dict, blank=True, help_text=_("What is sent (never holds a secret)."))
    attempt = models.ForeignKey(Attempt, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries")
    result = models.ForeignKey(Result, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries")
    status = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    leased_until = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=64, blank=True, help_text=_("The worker's claim token while sending."))
    last_error = models.TextField(blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["id"]
        constraints = [
            # At most one waiting row per key: a re-sync folds into it. A row
            # being sent does not count, so a re-sync made meanwhile still waits.
            models.UniqueConstraint(
                fields=["key"],
                condition=Q(status__in=["pending", "retrying"]),
                name="tbp_delivery_one_open_per_key",
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["key"]),
            models.Index(fields=["claimed_by"]),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.key} ({self.status})"


class IdempotencyRecord(models.Model):
    """The first response to an API write, replayed for a retried ``Idempotency-Key``."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=1024)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="tbp_idempotency_unique")]


class SyncState(models.Model):
    """Named high-water marks and last-run summaries (e.g. the roster import)."""

    name = models.CharField(max_length=100, unique=True)
    high_water_mark = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_summary = models.JSONField(default=dict, blank=True)

    def __str__(self):
        return self.name
