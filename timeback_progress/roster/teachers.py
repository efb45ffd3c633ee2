"""Teachers are not stored as records: a teacher enrollment is linked to a host user.

The host user is the one ``ROSTER_USER_MAP`` names (by sourcedId or email), or
else the one whose email matches (case-insensitively). A teacher not met in
the users pages of this run is fetched from Timeback in batches.
"""

from collections import defaultdict

from django.contrib.auth import get_user_model
from django.db.models.functions import Lower

from ..conf import app_settings

FETCH_BATCH = 50  # teacher sourcedIds per OneRoster filter


class TeacherMatcher:
    """Teacher sourcedId -> host user pk, with the reason in ``summary.unmatched_teachers`` when none."""

    def __init__(self, summary):
        self.summary = summary
        self.teachers = {}  # teacher sourcedId -> email ("" when none), or None when unknown
        self.host_users = {}  # teacher sourcedId -> host user pk or None

    def seen(self, sourced_id, record):
        """A teacher read from a users page (its email may have changed: match it again)."""
        self.summary.teachers_seen += 1
        email = record.get("email") if isinstance(record.get("email"), str) else ""
        self.teachers[sourced_id] = email
        self.host_users.pop(sourced_id, None)

    def host_user(self, sourced_id):
        """The host user pk of a teacher ``resolve`` has seen, or None."""
        return self.host_users.get(sourced_id)

    def resolve(self, sourced_ids, client):
        """Fill ``host_users`` for these teacher sourcedIds, fetching unknown teachers in batches."""
        unknown = sorted(s for s in sourced_ids if s not in self.teachers)
        for start in range(0, len(unknown), FETCH_BATCH):
            chunk = unknown[start:start + FETCH_BATCH]
            query = " OR ".join(f"sourcedId='{s.replace(chr(39), chr(39) * 2)}'" for s in chunk)
            for page in client.get_collection(f"{app_settings.ROSTERING_PATH}/users", {"filter": query},
                                              key="users", page_size=len(chunk)):
                for record in page:
                    if isinstance(record, dict) and record.get("sourcedId") in chunk:
                        email = record.get("email")
                        self.teachers[record["sourcedId"]] = email if isinstance(email, str) else ""
        todo = [s for s in sourced_ids if s not in self.host_users]
        if not todo:
            return
        User = get_user_model()
        user_map = {str(k).lower(): v for k, v in (app_settings.ROSTER_USER_MAP or {}).items()}
        emails = {s: (self.teachers.get(s) or "").lower() for s in todo}
        mapped = {s: user_map.get(s.lower()) or user_map.get(emails[s]) for s in todo}
        by_name = dict(
            User.objects.filter(**{f"{User.USERNAME_FIELD}__in": {m for m in mapped.values() if m}})
            .values_list(User.USERNAME_FIELD, "pk")
        ) if any(mapped.values()) else {}
        by_email = defaultdict(list)
        wanted_emails = {e for s, e in emails.items() if e and not mapped[s]}
        if wanted_emails:
            for pk, email in (User.objects.annotate(_email=Lower(User.get_email_field_name()))
                              .filter(_email__in=wanted_emails).values_list("pk", "_email")):
                by_email[email].append(pk)
        for sourced_id in todo:
            pk, reason = self._match(sourced_id, emails[sourced_id], mapped[sourced_id], by_name, by_email)
            self.host_users[sourced_id] = pk
            if reason:
                self.summary.unmatched_teachers[sourced_id] = reason
            else:
                self.summary.unmatched_teachers.pop(sourced_id, None)

    def _match(self, sourced_id, email, mapped, by_name, by_email):
        """``(host user pk, None)`` or ``(None, why not)``."""
        if self.teachers.get(sourced_id) is None:
            return None, "the teacher is not among Timeback's users"
        if mapped:
            if mapped in by_name:
                return by_name[mapped], None
            return None, f"ROSTER_USER_MAP names the user {mapped!r}, who does not exist"
        if not email:
            return None, "the teacher has no email and no ROSTER_USER_MAP entry"
        found = by_email.get(email, [])
        if len(found) == 1:
            return found[0], None
        if found:
            return None, f"{len(found)} host users have the email {email}; set ROSTER_USER_MAP"
        return None, f"no host user has the email {email}"
