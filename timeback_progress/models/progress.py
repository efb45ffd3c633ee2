"""Per-student aggregates derived from attempts, so pages never scan attempts."""


from django.db import models
from django.utils.translation import gettext_lazy as _

from .roster import Course, Student


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
