"""A strict local Timeback: token, Caliper events and the OneRoster gradebook.

Run it with ``python manage.py timeback_sandbox`` or, in tests and
benchmarks, ``start_sandbox()`` (a background thread on a free port). See
docs/sandbox.md.
"""

from .server import (
    PLATFORMS, ROUTES, Request, Response, Route, SandboxServer, ims_error, paged, platform_routes, start_sandbox,
)
from .state import Faults, SandboxState

__all__ = [
    "PLATFORMS", "ROUTES", "Faults", "Request", "Response", "Route", "SandboxServer", "SandboxState", "ims_error",
    "paged", "platform_routes", "start_sandbox",
]
