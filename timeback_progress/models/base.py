"""What the app's models share: OneRoster's status vocabularies, timestamps, the id namespace."""

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

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
