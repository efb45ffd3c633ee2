from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TimebackProgressConfig(AppConfig):
    name = "timeback_progress"
    verbose_name = _("Timeback progress")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.db.models.signals import post_migrate

        from . import checks, signals  # noqa: F401  (register checks and receivers)
        post_migrate.connect(_schedule_after_migrate, sender=self, dispatch_uid="timeback_progress.schedule")
        from django.apps import apps

        if apps.is_installed("django_q"):
            from django_q.signals import post_spawn

            from .outbox.kick import at_worker_start

            # Each qcluster worker delivers what is due as it starts, not after the first sweep.
            post_spawn.connect(at_worker_start, dispatch_uid="timeback_progress.kick_at_start")


def _schedule_after_migrate(app_config, using="default", **kwargs):
    """Keep the django-q2 schedules in place, under the tasks' current paths, after every migrate."""
    from django.apps import apps

    if apps.is_installed("django_q"):
        from .outbox.tasks import ensure_schedule  # imports models: not before the app registry is ready

        ensure_schedule()
