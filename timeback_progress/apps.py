from django.apps import AppConfig


class TimebackProgressConfig(AppConfig):
    name = "timeback_progress"
    verbose_name = "Timeback progress"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import checks, signals  # noqa: F401  (register checks and receivers)
