"""No 500 from input: every served URL, every parameter it reads, hostile values, every role.

The sweep (``tests/hostile``) walks the example project's URL resolver and
derives each route's parameters from the code that reads them, so routes and
parameters added later are swept without editing this file. It drives the
project's real WSGI application (``project.wsgi``), as a server would.
``HOSTILE_REPORT=path`` writes the failures and the slowest routes there.
"""

import os
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from tests.hostile import discovery
from tests.hostile.sweep import Sweep
from tests.hostile.wsgi import Driver
from tests.hostile.world import World

pytestmark = pytest.mark.django_db

APP_URLCONFS = ("timeback_progress.urls", "timeback_progress.api.urls")


@pytest.fixture
def wsgi_application():
    from project.wsgi import application

    return application


def test_no_server_error_and_no_write_from_hostile_input(api_world, wsgi_application, capsys):
    world = World(api_world)
    started, cpu = time.monotonic(), time.process_time()
    with Driver(wsgi_application) as driver:
        sweep = Sweep(world, driver)
        failures = sweep.run()
    with capsys.disabled():
        print(f"\nhostile-input sweep: {driver.count} requests over {len(sweep.visited)} routes in "
              f"{time.monotonic() - started:.1f} s ({time.process_time() - cpu:.1f} s CPU), {len(failures)} failures")
    report = os.environ.get("HOSTILE_REPORT")
    if report:
        slowest = sorted(sweep.route_times.items(), key=lambda item: -item[1][0])[:25]
        lines = [*failures, f"TIMINGS {sweep.timings}", *(f"TIME {t} {v}" for t, v in slowest)]
        Path(report).write_text("\n".join(lines))
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:40])
    # Every route of the app's URLconfs was swept (a route the world cannot fill would be skipped silently).
    app_routes = {r.template for r in discovery.served_routes() if r.template.startswith(("progress/", "api/v1/"))}
    assert app_routes and app_routes <= sweep.visited, app_routes - sweep.visited
    assert {"admin/timeback_progress/student/", "admin/timeback_progress/result/<int:object_id>/correct/"} <= sweep.visited


def test_every_query_key_the_app_reads_is_swept_on_a_route_with_every_value(api_world):
    """A key read anywhere in the app (``request.GET.get("x")``) is one a route's own parameters hold."""
    superuser = get_user_model().objects.create_superuser("root", "root@example.com", None)
    own = set()
    for route in discovery.served_routes():
        own |= set(discovery.route_params(route, superuser)[0])
    read = discovery.every_query_key_read_by_the_app()
    assert read and read <= own, read - own
    # And what the forms, serializers and the app's own list filter read.
    assert {"start", "end", "q", "sort", "stuck", "subject", "search", "minXp", "pageSize", "course"} <= own


def test_every_api_write_has_a_body_to_sweep(db):
    """Each POST route of the API names the serializer its body is validated with (else the sweep raises)."""
    writes = {r.template: discovery.request_serializer(r) for r in discovery.served_routes() if r.template.startswith("api/v1/")}
    assert sum(serializer is not None for serializer in writes.values()) == 6, writes
