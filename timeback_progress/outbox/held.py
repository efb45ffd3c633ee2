"""Held deliveries: Caliper events for a student without an email wait for one instead of dying.

Timeback refuses an event whose ``actor.email`` is empty (the vendor's
``TimebackUser.email`` has ``min_length=1``), yet the roster may deliver a
student before their email and host code may create one without it. So an
event row for such a student is written ``held`` (never claimed, outside the
one-waiting-row-per-key constraint) with the reason in ``last_error``, and
released when the student gets an email: the email is written into the
stored event (its id unchanged, so nothing can count twice) and the row is
pending, due now.

Release happens on a student's ``post_save`` (admin, host code), after a
roster page that gave students an email (bulk writes send no signal), and at
the start of every delivery run for whatever those missed (a
``QuerySet.update`` by host code, a release racing a completion). Rows
written before this existed are caught at send time (``fill_or_hold``).
"""

from django.conf import settings
from django.db import IntegrityError, router, transaction
from django.db.models import F, Func, JSONField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Trim
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_lazy as _

from ..models import Attempt, Delivery, Student
from ..timeback.caliper import rostering_url
from . import kick

# Rows released per query: a student may have hundreds of held events, a roster page a thousand students.
CHUNK = 500
HELD_EVENTS = Q(status=Delivery.State.HELD, kind=Delivery.Kind.CALIPER_EVENT)

NO_EMAIL = _(
    "Student %(student)s has no email. Timeback refuses events without one, so this student's events "
    "are held (not lost) and sent once an email is added."
)


def has_email(email):
    """Whether ``email`` is one Timeback can take (blank or whitespace is none)."""
    return bool(email and str(email).strip())


def no_email_message(student):
    """The warning every entry point shows for a student without an email (translated now)."""
    return gettext(NO_EMAIL) % {"student": student.sourced_id}


def _actor(event):
    actor = event.get("actor") if isinstance(event, dict) else None
    return actor if isinstance(actor, dict) else {}


def needs_hold(event):
    """Whether a Caliper event cannot go out yet: its actor has no email."""
    return not has_email(_actor(event).get("email"))


def reason(event):
    """Why an event is held, naming the student (their sourcedId, never a secret).

    Stored in ``last_error``, so in the site's language (``LANGUAGE_CODE``),
    never the language of the request that happened to write the row: the
    admin groups held rows by this text, and one student's rows must read alike.
    """
    actor_id = str(_actor(event).get("id") or "")
    student = actor_id.rsplit("/users/", 1)[-1] or "?"
    with translation.override(settings.LANGUAGE_CODE):
        return gettext(
            "held: student %(student)s has no email, and Timeback requires one (actor.email). "
            "Add the student's email and this event is sent."
        ) % {"student": student}


def hold_if_needed(row):
    """Make a new event row held when its event cannot go out; returns the row (``writing._event_row``)."""
    if needs_hold(row.payload):
        row.status = Delivery.State.HELD
        row.last_error = reason(row.payload)
    return row


# -- releasing -------------------------------------------------------------------------------------


class WithActorEmail(Func):
    """``payload`` with ``actor.email`` set to ``email`` (an expression), computed by the database.

    Rows never travel to Python and back (``bulk_update`` spends seconds
    compiling its CASE for a thousand rows); SQLite and PostgreSQL are the
    backends the app supports (check E009).
    """

    output_field = JSONField()

    def __init__(self, email):
        super().__init__(F("payload"), email)

    def as_sql(self, compiler, connection, **extra):
        payload, email = self.source_expressions
        payload_sql, payload_params = compiler.compile(payload)
        email_sql, email_params = compiler.compile(email)
        if connection.vendor == "postgresql":
            sql = f"jsonb_set({payload_sql}, '{{actor,email}}', to_jsonb(({email_sql})::text))"
        else:
            sql = f"JSON_SET({payload_sql}, '$.actor.email', {email_sql})"
        return sql, (*payload_params, *email_params)


def _student_email():
    """The current email of the row's attempt's student (a correlated subquery)."""
    return Trim(Subquery(Attempt.objects.filter(pk=OuterRef("attempt_id")).values("student__email")[:1]))


def release(students):
    """Held events of ``students`` who now have an email -> pending, due now; returns how many.

    A few queries per ``CHUNK`` students however many rows they hold (one when
    they hold none); the database writes the email into each stored event
    (its id stays, so Timeback de-duplicates a resend). Kicks delivery once
    the transaction commits.
    """
    students = [s for s in students if has_email(s.email)]
    released = 0
    for start in range(0, len(students), CHUNK):
        chunk = students[start : start + CHUNK]
        by_attempt = Delivery.objects.filter(HELD_EVENTS, attempt__student_id__in=[s.pk for s in chunk])
        # Rows whose attempt was deleted meanwhile are matched by their actor.
        by_actor = {rostering_url("users", s.sourced_id): s.email.strip() for s in chunk}
        orphans = Delivery.objects.filter(HELD_EVENTS, attempt__isnull=True, payload__actor__id__in=list(by_actor))
        if not (by_attempt | orphans).exists():
            continue
        released += _release_rows(by_attempt.exclude(attempt__student__email=""), WithActorEmail(_student_email()))
        for actor_id in set(orphans.values_list("payload__actor__id", flat=True)):
            released += _release_rows(orphans.filter(payload__actor__id=actor_id), WithActorEmail(Value(by_actor[actor_id])))
    if released:
        kick.after_commit()
    return released


def _release_rows(rows, payload):
    """One UPDATE; if an event is already waiting (one waiting row per key), those held copies step aside first."""
    try:
        with transaction.atomic(using=router.db_for_write(Delivery)):
            return _set_pending(rows, payload)
    except IntegrityError:
        _step_aside(rows)
        return _set_pending(rows, payload)


def _set_pending(rows, payload):
    now = timezone.now()
    return rows.update(payload=payload, status=Delivery.State.PENDING, next_attempt_at=now, attempts=0, last_error="",
                       updated_at=now)


def _step_aside(rows):
    """Held rows whose event already waits, or is held twice, become superseded: never twice in line.

    Rare (a dead row of an event that was also held, replayed), so plain and
    row by row in Python; the usual release never comes here.
    """
    ids_by_key = {}
    for pk, key in rows.order_by("id").values_list("id", "key"):
        ids_by_key.setdefault(key, []).append(pk)
    keys, superseded = list(ids_by_key), []
    for start in range(0, len(keys), CHUNK):
        waiting = set(Delivery.objects.waiting().filter(key__in=keys[start : start + CHUNK]).values_list("key", flat=True))
        for key in keys[start : start + CHUNK]:
            superseded += ids_by_key[key] if key in waiting else ids_by_key[key][1:]
    for start in range(0, len(superseded), CHUNK):
        Delivery.objects.filter(id__in=superseded[start : start + CHUNK]).update(
            status=Delivery.State.SUPERSEDED, updated_at=timezone.now()
        )


def release_student(student):
    """``release`` for one student (the ``post_save`` receiver); nothing without an email."""
    return release([student]) if has_email(student.email) else 0


def release_ready(limit=CHUNK):
    """Release held events whose student has an email by now (run before each delivery).

    Catches what no signal told: emails written with ``QuerySet.update`` or
    ``bulk_update``, a release that raced a completion writing a held row.
    One query when nothing is ready.
    """
    ready = list(
        Delivery.objects.filter(HELD_EVENTS, attempt__isnull=False)
        .exclude(attempt__student__email="")
        .order_by().values_list("attempt__student_id", flat=True).distinct()[:limit]
    )
    return release(list(Student.objects.filter(pk__in=ready))) if ready else 0


def held_count(student):
    """How many of ``student``'s events are held (the admin's message after adding an email)."""
    return Delivery.objects.filter(HELD_EVENTS, attempt__student_id=student.pk).count()


# -- at send time ----------------------------------------------------------------------------------


def fill_or_hold(rows, outcome):
    """Event rows of a claim that may go out; the others are held (``outcome.hold``).

    Rows written before events were held at the source (or replayed dead ones)
    may lack an email: their student's current email is filled in when there
    is one (one query, and one write of the filled payloads), else they are held.
    """
    missing = [r for r in rows if needs_hold(r.payload)]
    if not missing:
        return rows
    emails = dict(
        Attempt.objects.filter(pk__in={r.attempt_id for r in missing if r.attempt_id}).values_list("pk", "student__email")
    )
    filled, held = [], set()
    for row in missing:
        email = emails.get(row.attempt_id)
        if has_email(email):
            row.payload = {**row.payload, "actor": {**_actor(row.payload), "email": email.strip()}}
            filled.append(row.id)
        else:
            outcome.hold(row, reason(row.payload))
            held.add(row.id)
    if filled:  # what is sent is what is stored
        Delivery.objects.filter(id__in=filled).update(payload=WithActorEmail(_student_email()))
    return [r for r in rows if r.id not in held]
