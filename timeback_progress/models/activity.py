"""The vendor activity protocol's runs and heartbeat windows (``timeback_progress.activity``).

A learning app's page names its run with a ``runId`` (a UUID the page makes);
``ActivityRun`` ties that run, for one student, to the one ``Attempt`` it
started. ``HeartbeatWindow`` records every time window a heartbeat reported,
keyed as the vendor keys its in-memory de-duplication (``runId`` and the
window's start in milliseconds), but in the database: a retried heartbeat
never adds its seconds twice, across processes and restarts.
"""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .gradebook import Attempt
from .roster import Activity, Student


class ActivityRun(models.Model):
    """One run of an activity as the page names it: exactly one attempt."""

    student = models.ForeignKey(Student, on_delete=models.CASCADE, related_name="activity_runs", verbose_name=_("student"))
    run_id = models.UUIDField(_("run id"))
    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="+", verbose_name=_("activity"))
    attempt = models.OneToOneField(
        Attempt, on_delete=models.CASCADE, related_name="activity_run", verbose_name=_("attempt")
    )
    # Milliseconds reported so far; the attempt holds whole seconds, these keep the remainders
    # (a window of 14.6 s adds 14 s now and carries 0.6 s to the next one).
    active_ms = models.PositiveBigIntegerField(_("active milliseconds"), default=0)
    inactive_ms = models.PositiveBigIntegerField(_("inactive milliseconds"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("activity run")
        verbose_name_plural = _("activity runs")
        constraints = [models.UniqueConstraint(fields=["student", "run_id"], name="tbp_activity_run_unique")]

    def __str__(self):
        return f"{self.student} - {self.run_id}"


class HeartbeatWindow(models.Model):
    """A heartbeat's window, once: the unique (run, start) is what makes a retry a duplicate."""

    run = models.ForeignKey(ActivityRun, on_delete=models.CASCADE, related_name="windows", verbose_name=_("run"))
    start_ms = models.BigIntegerField(_("window start (ms since the epoch)"))
    started_at = models.DateTimeField(_("started at"))
    ended_at = models.DateTimeField(_("ended at"))
    active_ms = models.PositiveBigIntegerField(_("active milliseconds"))
    inactive_ms = models.PositiveBigIntegerField(_("inactive milliseconds"))
    received_at = models.DateTimeField(_("received at"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("heartbeat window")
        verbose_name_plural = _("heartbeat windows")
        constraints = [models.UniqueConstraint(fields=["run", "start_ms"], name="tbp_heartbeat_window_unique")]

    def __str__(self):
        return f"{self.run_id}:{self.start_ms}"
