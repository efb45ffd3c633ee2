"""Run the strict local Timeback sandbox (token, Caliper, OneRoster gradebook), as either platform."""

import json
import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from ... import PLATFORMS, SandboxServer

DEFAULT_CLIENT_ID = "sandbox-client"
DEFAULT_CLIENT_SECRET = "sandbox-secret"


def _share(value):
    number = float(value)
    if not 0 <= number <= 1:
        raise ValueError
    return number


class Command(BaseCommand):
    help = "Run a local Timeback (token, Caliper events, OneRoster gradebook) that validates strictly."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="Interface to listen on (default: loopback).")
        parser.add_argument("--port", type=int, default=8765, help="Port (0 picks a free one).")
        parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
        parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
        parser.add_argument("--platform", choices=list(PLATFORMS), default="timeback",
                            help="Whose paths and token scope to serve (default: timeback).")
        parser.add_argument("--fail-rate", type=_share, default=0.0, help="Share of requests answered 5xx (0-1).")
        parser.add_argument("--throttle-rate", type=_share, default=0.0, help="Share of requests answered 429 (0-1).")
        parser.add_argument("--rate-limit", type=float, default=0.0, help="Requests per second per endpoint before 429s.")
        parser.add_argument("--retry-after", type=int, default=1, help="Retry-After seconds sent with 429/503.")
        parser.add_argument("--drop-rate", type=_share, default=0.0, help="Share of connections closed with no answer.")
        parser.add_argument("--latency-ms", type=int, default=0, help="Delay added to every response.")
        parser.add_argument("--jitter-ms", type=int, default=0, help="Plus a random 0..N ms.")
        parser.add_argument("--token-ttl", type=int, default=3600, help="expires_in of issued tokens.")
        parser.add_argument("--token-lifetime", type=int, default=None, help="Real token lifetime (shorter: early expiry).")
        parser.add_argument("--put-creates", action="store_true", help="A PUT for an unknown sourcedId creates it (default 404).")
        parser.add_argument("--seed", type=int, default=None, help="Seed for the random faults (repeatable runs).")
        parser.add_argument("--roster-seed", metavar="PATH", help="JSON file of OneRoster users/courses/classes/enrollments to serve.")

    def handle(self, *args, **opts):
        if opts["host"] not in ("127.0.0.1", "localhost", "::1"):
            self.stderr.write(self.style.WARNING(f"Listening on {opts['host']}: the sandbox is for local use only."))
        faults = {
            "fail_rate": opts["fail_rate"], "throttle_rate": opts["throttle_rate"], "rate_limit": opts["rate_limit"],
            "retry_after": opts["retry_after"], "drop_rate": opts["drop_rate"], "latency_ms": opts["latency_ms"],
            "jitter_ms": opts["jitter_ms"], "token_ttl": opts["token_ttl"], "token_lifetime": opts["token_lifetime"],
            "put_creates": opts["put_creates"], "seed": opts["seed"],
        }
        try:
            server = SandboxServer(opts["host"], opts["port"], client_id=opts["client_id"],
                                   client_secret=opts["client_secret"], faults=faults, platform=opts["platform"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        except OSError as exc:
            raise CommandError(f"Cannot listen on {opts['host']}:{opts['port']}: {exc.strerror}") from None
        if opts["roster_seed"]:
            self._seed_roster(server, opts["roster_seed"])
        secret_hint = DEFAULT_CLIENT_SECRET if opts["client_secret"] == DEFAULT_CLIENT_SECRET else "<the --client-secret you gave>"
        self.stdout.write(self.style.SUCCESS(f"Timeback sandbox ({opts['platform']}) on {server.url}"))
        self.stdout.write("Point the app at it (e.g. in .env):\n")
        for key, value in (
            ("TIMEBACK_PLATFORM", opts["platform"]),
            ("TIMEBACK_AUTH_URL", server.url), ("TIMEBACK_CALIPER_URL", server.url), ("TIMEBACK_API_URL", server.url),
            ("TIMEBACK_CLIENT_ID", opts["client_id"]), ("TIMEBACK_CLIENT_SECRET", secret_hint),
            ("TIMEBACK_SYNC_ENABLED", "true"),
        ):
            self.stdout.write(f"  {key}={value}")
        self.stdout.write(
            f"\nSee what arrived: {server.url}/_sandbox/stats, /_sandbox/events, /_sandbox/results, "
            "/_sandbox/line-items, /_sandbox/rejections"
        )
        self.stdout.write(f"Faults now: {json.dumps(server.state.faults.as_dict())}")
        self.stdout.write("Change them: curl -X POST -d '{\"fail_rate\": 0.2}' -H 'Content-Type: application/json' "
                          f"{server.url}/_sandbox/faults\nCtrl-C to stop.")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        server.start()
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
            self.stdout.write(f"Stopped. Final stats: {json.dumps(server.state.snapshot_stats())}")

    def _seed_roster(self, server, path):
        try:
            with open(path, encoding="utf-8") as handle:
                counts = server.state.seed_roster(json.load(handle))
        except OSError as exc:
            server.server_close()
            raise CommandError(f"Cannot read --roster-seed {path}: {exc.strerror}") from None
        except ValueError as exc:  # JSONDecodeError is a ValueError too
            server.server_close()
            raise CommandError(f"Bad --roster-seed {path}: {exc}") from None
        self.stdout.write("Roster: " + ", ".join(f"{n} {name}" for name, n in counts.items()))
