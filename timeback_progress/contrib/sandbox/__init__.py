"""A strict local Timeback: token, Caliper events and the OneRoster gradebook.

An opt-in app: list ``timeback_progress.contrib.sandbox`` in ``INSTALLED_APPS``
for ``python manage.py timeback_sandbox``; tests and benchmarks call
``start_sandbox()`` (a background thread on a free port) without installing it.
Standard library only, and independent of the app's settings. See
docs/sandbox.md.
"""

from .messages import Request, Response, Route, ims_error, paged
from .platforms import PLATFORMS
from .routes import ROUTES, platform_routes
from .server import SandboxServer, start_sandbox
from .state import Faults, SandboxState

__all__ = [
    "PLATFORMS", "ROUTES", "Faults", "Request", "Response", "Route", "SandboxServer", "SandboxState", "ims_error",
    "paged", "platform_routes", "start_sandbox",
]
