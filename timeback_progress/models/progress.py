"""Per-student aggregates derived from attempts, so pages never scan attempts.

``ActivityProgress`` (one row per student and activity) is what makes a
completion cost the same whatever the student's history: the next attempt
is judged against it (mastered already? is this the newest attempt?), and
``StudentProgress`` is the sum of a student's rows in a course.
"""


from django.db import models
from django.utils.translation import gettext_lazy as _

from .roster import Activity, Course, Student


class ProgressSums(models.Model):
    """The sums a progress row holds: a student's ``ActivityProgress`` rows add up to their ``StudentProgress``."""

    xp_total = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    attempts_count = models.PositiveIntegerField(default=0)
    completed_count = models.PositiveIntegerField(default=0)
    total_questions = models.PositiveIntegerField(default=0)
    correct_questions = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    mastered_units = models.PositiveIntegerField(default=0)
    active_seconds = models.PositiveBigIntegerField(default=0)
    inactive_seconds = models.PositiveBigIntegerField(default=0)

    class Meta:
        abstract = True


class StudentProgress(ProgressSums):
    """Per student and course aggregates, kept by ``gradebook.progress``."""

    student = models.ForeignKey(Student, on_delete=models.CASCADE, related_name="progress")
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="progress")
    accuracy = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True, help_text=_("correct / total questions, percent.")
    )
    failed_streak = models.PositiveIntegerField(
        default=0, help_text=_("Latest consecutive completed attempts below the XP policy's pass mark.")
    )
    last_activity_at = models.DateTimeField(null=True, blank=True)
    last_completed_at = models.DateTimeField(null=True, blank=True, editable=False)
    course_completed_at = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text=_("When the student mastered every masterable unit of the course (None: not, or no longer)."),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = _("student progress")
        constraints = [models.UniqueConstraint(fields=["student", "course"], name="tbp_progress_unique")]
        indexes = [
            models.Index(fields=["course", "-xp_total"]),
            models.Index(fields=["course", "last_activity_at"]),
        ]

    def __str__(self):
        return _("%(student)s in %(course)s") % {"student": self.student, "course": self.course}


class DailyProgress(models.Model):
    """What a student's attempts completed on one chart day added, per course.

    The sums of the attempts completed that day (local days of the chart time
    zone, ``gradebook.progress.chart_day``): a time window on the dashboards
    adds up these rows, never the attempts. An attempt's time counts on its
    completion day; open attempts count only in ``StudentProgress``.
    """

    student = models.ForeignKey(Student, on_delete=models.CASCADE, related_name="daily_progress")
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="daily_progress")
    day = models.DateField()
    xp = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    completed_count = models.PositiveIntegerField(default=0)
    active_seconds = models.PositiveBigIntegerField(default=0)
    inactive_seconds = models.PositiveBigIntegerField(default=0)
    total_questions = models.PositiveIntegerField(default=0)
    correct_questions = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    mastered_units = models.PositiveIntegerField(default=0, help_text=_("Units first mastered that day."))

    class Meta:
        verbose_name_plural = _("daily progress")
        constraints = [models.UniqueConstraint(fields=["student", "course", "day"], name="tbp_daily_unique")]
        # Covers the class chart (sum of xp per day of a course) without touching the table.
        indexes = [models.Index(fields=["course", "day", "xp"], name="tbp_daily_course_day_xp")]


class ActivityProgress(ProgressSums):
    """One student's figures at one activity, kept by ``gradebook.progress``.

    The sums add up to the student's ``StudentProgress`` in the course;
    ``last_completed_number`` and ``mastered_units`` tell a new completion
    what the earlier attempts did without reading them.
    """

    student = models.ForeignKey(Student, on_delete=models.CASCADE, related_name="activity_progress")
    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="student_progress")
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="activity_progress")
    best_accuracy = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True,
        help_text=_("Best accuracy of a completed attempt with questions, percent."),
    )
    last_completed_number = models.PositiveIntegerField(
        default=0, help_text=_("Highest attempt number completed (0: none yet).")
    )
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_completed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = _("activity progress")
        constraints = [models.UniqueConstraint(fields=["student", "activity"], name="tbp_activity_progress_unique")]
        indexes = [models.Index(fields=["student", "course"], name="tbp_activity_progress_course")]

    def __str__(self):
        return _("%(student)s at %(activity)s") % {"student": self.student, "activity": self.activity}
