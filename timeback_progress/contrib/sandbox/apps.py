from django.apps import AppConfig


class SandboxConfig(AppConfig):
    """Installs the ``timeback_sandbox`` command; the sandbox itself needs no Django."""

    name = "timeback_progress.contrib.sandbox"
    label = "timeback_sandbox"  # "sandbox" alone could clash with a host's app
    verbose_name = "Timeback sandbox"
