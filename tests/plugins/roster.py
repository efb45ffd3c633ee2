"""Fixtures for the roster import: a sandbox serving a seeded OneRoster roster.

``school`` is a sandbox (see ``tests/plugins/sandbox.py``) seeded with a small
generated school and wrapped in ``RosterSchool``: ``.data`` (what was seeded),
``.touch(collection, sourcedId, **changes)`` (change a record and move its
``dateLastModified`` past everything else, as a source does), ``.add(...)``,
``.requests()`` (rostering requests the sandbox received) and ``.run(**options)``
(one import, returning its Summary).
"""

import copy
from datetime import timedelta

import pytest

from timeback_progress.roster.importer import import_roster
from timeback_progress.contrib.sandbox.rostering import _as_time, generate_roster, iso


class RosterSchool:
    def __init__(self, server, data):
        self.server = server
        self.data = copy.deepcopy(data)
        self.server.state.seed_roster(self.data)

    def latest(self):
        stamps = [_as_time(r.get("dateLastModified")) for records in self.data.values() for r in records]
        return max(s for s in stamps if s)

    def record(self, collection, sourced_id):
        return next(r for r in self.data[collection] if r.get("sourcedId") == sourced_id)

    def touch(self, collection, sourced_id, **changes):
        """Change one record as the source would: new values, a later dateLastModified."""
        record = self.record(collection, sourced_id)
        record.update(changes)
        record["dateLastModified"] = iso(self.latest() + timedelta(seconds=1))
        self.server.state.seed_roster({collection: [record]}, merge=True)
        return record

    def add(self, collection, record, *, stamp=True):
        record = copy.deepcopy(record)
        if stamp:
            record["dateLastModified"] = iso(self.latest() + timedelta(seconds=1))
        self.data[collection].append(record)
        self.server.state.seed_roster({collection: [record]}, merge=True)
        return record

    def requests(self):
        return self.server.state.endpoint_stats.get("rostering", {}).get("received", 0)

    def run(self, **options):
        return import_roster(**options)


@pytest.fixture
def make_school(sandbox, db):
    """``make_school(students=12, **generate_roster options)`` -> a seeded RosterSchool."""

    def make(students=12, **options):
        return RosterSchool(sandbox, generate_roster(students, **options))

    return make


@pytest.fixture
def school(make_school):
    return make_school()


def student_record(sourced_id, **changes):
    """A valid OneRoster 1.2 student user."""
    record = {"sourcedId": sourced_id, "status": "active", "dateLastModified": "2025-08-01T12:00:00.000Z",
              "givenName": "New", "familyName": "Student", "email": f"{sourced_id}@example.com",
              "roles": [{"roleType": "primary", "role": "student", "org": {"sourcedId": "school-1"}}]}
    record.update(changes)
    return record


def enrollment_record(user, klass, role="student", **changes):
    record = {"sourcedId": f"enr-{klass}-{user}", "status": "active", "dateLastModified": "2025-08-01T12:00:00.000Z",
              "role": role, "user": {"sourcedId": user}, "class": {"sourcedId": klass}}
    record.update(changes)
    return record
