"""The local mirror of Timeback's roster and gradebook, plus the sync outbox.

Attempts are the source of truth; ``Result`` (the OneRoster assessmentResult),
``StudentProgress`` and ``DailyProgress`` are derived from them by
``gradebook`` so dashboards never scan attempts. One module per part of the
mirror; everything is importable from ``timeback_progress.models``.
"""

from ..subjects import SUBJECT_CHOICES  # noqa: F401 (hosts imported it from here)
from .activity import ActivityRun, HeartbeatWindow  # noqa: F401 (the activity protocol: timeback_progress.activity)
from .base import ID_NAMESPACE, ScoreStatus, Status, TimestampedModel
from .gradebook import Attempt, Result, ResultCorrection
from .idempotency import IdempotencyRecord
from .labels import label_models
from .outbox import Delivery
from .progress import ActivityProgress, DailyProgress, StudentProgress
from .roster import Activity, Course, Enrollment, RosterClass, Student, SyncState

label_models([
    Activity, ActivityProgress, Attempt, Course, DailyProgress, Delivery, Enrollment, IdempotencyRecord, Result,
    ResultCorrection, RosterClass, Student, StudentProgress, SyncState,
])

__all__ = [
    "ID_NAMESPACE", "Activity", "ActivityProgress", "Attempt", "Course", "DailyProgress", "Delivery", "Enrollment",
    "IdempotencyRecord", "Result", "ResultCorrection", "RosterClass", "ScoreStatus", "Status",
    "Student", "StudentProgress", "SyncState", "TimestampedModel",
]
