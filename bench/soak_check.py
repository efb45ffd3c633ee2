"""What bench/soak.py checks once the outbox has drained (Django is set up by then).

The sandbox is read over its HTTP control endpoints (``/_sandbox/events``,
``/results``, ``/line-items``, ``/stats``), as any process could, and read the
way Timeback reads events: per actor id, the sum of ``xpEarned`` and
``masteredUnits`` over the ActivityEvents (a correction is an event carrying
the difference) and of ``active`` and ``inactive`` over the TimeSpentEvents.
The app's side is the student's ``StudentProgress`` rows and their attempts.
"""

import json
import urllib.request
from collections import defaultdict
from decimal import Decimal

FIGURES = ("xp", "mastered units", "active s", "inactive s")


def fetch(url, timeout=300):
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return json.load(answer)


def sandbox_state(url):
    """Everything the sandbox stored, read over HTTP."""
    return {
        "events": fetch(f"{url}/_sandbox/events")["events"],
        "results": {r["sourcedId"]: r for r in fetch(f"{url}/_sandbox/results")["assessmentResults"]},
        "line_items": {li["sourcedId"]: li for li in fetch(f"{url}/_sandbox/line-items")["assessmentLineItems"]},
        "stats": fetch(f"{url}/_sandbox/stats"),
    }


def timeback_sums(events):
    """Per actor id: [xp, mastered units, active seconds, inactive seconds], as Timeback adds them up."""
    sums = defaultdict(lambda: [Decimal(0), 0, Decimal(0), Decimal(0)])
    for event in events:
        row = sums[event["actor"]["id"]]
        values = defaultdict(Decimal)
        for item in event["generated"]["items"]:
            values[item["type"]] += Decimal(str(item["value"]))
        if event["type"] == "ActivityEvent":
            row[0] += values["xpEarned"]
            row[1] += int(values["masteredUnits"])
        elif event["type"] == "TimeSpentEvent":
            row[2] += values["active"]
            row[3] += values["inactive"]
    return sums


def app_sums():
    """Per actor id: the same four figures from the progress rows, and from the attempts."""
    from django.db.models import Sum

    from timeback_progress.models import Attempt, Student, StudentProgress
    from timeback_progress.timeback.caliper import actor

    def per_student(queryset, *fields):
        rows = queryset.values("student_id").annotate(**{f: Sum(f) for f in fields})
        return {r["student_id"]: [Decimal(r[f] or 0) for f in fields] for r in rows}

    fields = ("xp_total", "mastered_units", "active_seconds", "inactive_seconds")
    progress = per_student(StudentProgress.objects.all(), *fields)
    attempts = per_student(Attempt.objects.all(), "xp_earned", "mastered_units", "active_seconds", "inactive_seconds")
    students = {s.pk: actor(s)["id"] for s in Student.objects.all()}
    zero = [Decimal(0)] * 4
    return (
        {students[pk]: progress.get(pk, zero) for pk in students},
        {students[pk]: attempts.get(pk, zero) for pk in students},
    )


def compare_sums(timeback, progress, attempts):
    """(students compared, [(actor, figure, timeback, progress rows, attempts), ...] that differ)."""
    differences = []
    actors = set(progress) | set(timeback)
    for actor_id in sorted(actors):
        ours = timeback.get(actor_id, [Decimal(0)] * 4)
        for i, name in enumerate(FIGURES):
            a, b, c = Decimal(ours[i]), progress.get(actor_id, [0] * 4)[i], attempts.get(actor_id, [0] * 4)[i]
            if not (a == b == c):
                differences.append((actor_id, name, a, b, c))
    return len(actors), differences


def totals(sums):
    return [sum(row[i] for row in sums.values()) for i in range(4)]


def lost_rows(sandbox):
    """Outbox rows recorded as sent that never arrived, and rows not sent (by status)."""
    from timeback_progress.models import Delivery

    received = {
        "caliper_event": {e["id"] for e in sandbox["events"]},
        "result": {f"result:{k}" for k in sandbox["results"]},
        "line_item": {f"lineitem:{k}" for k in sandbox["line_items"]},
    }
    lost, missing = [], []
    for kind, key, status in Delivery.objects.exclude(status="superseded").values_list("kind", "key", "status"):
        if key in received[kind]:
            continue
        (lost if status == "sent" else missing).append((kind, key, status))
    return lost, missing


def results_differ(sandbox):
    """App results whose last body in the sandbox is not the one the app would send now."""
    from timeback_progress.models import Result
    from timeback_progress.timeback.gradebook import result_body

    wrong = []
    for result in Result.objects.select_related("student"):
        expected = json.loads(json.dumps(result_body(result)["assessmentResult"]))
        if sandbox["results"].get(result.sourced_id) != expected:
            wrong.append(result.sourced_id)
    return wrong


def outbox_counts():
    from django.db.models import Count

    from timeback_progress.models import Delivery

    return dict(Delivery.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))


def unflushed_attempts():
    """Attempts holding time not yet handed to the outbox (an open attempt's last window)."""
    from django.db.models import F, Q

    from timeback_progress.models import Attempt

    return Attempt.objects.filter(
        Q(reported_active_seconds__lt=F("active_seconds")) | Q(reported_inactive_seconds__lt=F("inactive_seconds"))
    ).count()


def dead_examples(limit=5):
    from timeback_progress.models import Delivery

    return list(Delivery.objects.filter(status="dead").values_list("kind", "key", "last_error")[:limit])


def rows_since(pks, since):
    """How the rows ``pks`` ended: status counts, tries, and the latest send after ``since`` (a Unix time)."""
    from django.db.models import Count, Max

    from timeback_progress.models import Delivery

    rows = Delivery.objects.filter(pk__in=pks)
    statuses = dict(rows.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    last = rows.aggregate(last=Max("sent_at"), tries=Max("attempts"))
    after = f", the last sent {last['last'].timestamp() - since:.0f}s after the kill" if last["last"] else ""
    return f"{statuses or 'none'}, at most {last['tries'] or 0} tries{after}"


def tries_by_kind():
    """{kind: {tries: rows}}: how often rows had to be sent before one try got through."""
    from django.db.models import Count

    from timeback_progress.models import Delivery

    found = {}
    for kind, tries, n in Delivery.objects.values_list("kind", "attempts").annotate(n=Count("id")).order_by("kind", "attempts"):
        found.setdefault(kind, {})[tries] = n
    return found
