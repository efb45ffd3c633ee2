"""The roster mirror: students, courses, enrollments, classes and activities (kept by ``roster``)."""


from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ..subjects import SubjectField, check_subject
from .base import TimestampedModel


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

    def clean(self):
        """A missing email is valid: warned about where it is entered, never refused here.

        The roster may deliver a student before their email, and host code must
        be able to create one. Timeback refuses events without ``actor.email``,
        so this student's events are held until an email is added
        (``outbox.held``); the admin and the roster import warn, the API refuses
        to start an attempt.
        """
        super().clean()


class Course(TimestampedModel):
    sourced_id = models.CharField(_("sourcedId"), max_length=255, unique=True)
    title = models.CharField(max_length=255)
    subject = SubjectField()  # always a Timeback subject (see subjects.py)
    grade = models.CharField(max_length=32, blank=True, help_text=_("Grade level, e.g. 05."))
    total_xp = models.PositiveIntegerField(default=0, help_text=_("XP available in the whole course."))
    masterable_units = models.PositiveIntegerField(default=0)
    component_resource_sourced_id = models.CharField(
        _("component resource sourcedId"), max_length=255, blank=True,
        help_text=_("What the course's completion entry links to; defaults to '<sourcedId>-cr' (the vendor's convention)."),
    )
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
        return _("%(who)s (%(role)s) in %(course)s") % {"who": who, "role": self.get_role_display(), "course": self.course}

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
        verbose_name_plural = _("activities")
        ordering = ["course", "name"]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        check_subject(self, kwargs.get("update_fields"))
        if not self.line_item_sourced_id:
            self.line_item_sourced_id = f"{self.activity_id}-line-item"
        super().save(*args, **kwargs)


class SyncState(models.Model):
    """Named high-water marks and last-run summaries (e.g. the roster import)."""

    name = models.CharField(max_length=100, unique=True)
    high_water_mark = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_summary = models.JSONField(default=dict, blank=True)

    def __str__(self):
        return self.name
