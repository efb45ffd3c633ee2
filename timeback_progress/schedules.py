"""The django-q2 schedules the app keeps, written one way.

django-q2 is imported here, and only when a schedule is written: a host that
never schedules anything needs no django-q2 tables.
"""


def keep_schedule(name, func, *, every_minutes=None, daily=False, renamed=None):
    """Create or update the Schedule ``name`` running ``func`` (a dotted path) forever.

    ``every_minutes`` or ``daily`` says how often. ``renamed``: ``{old dotted
    path: new}`` of tasks that moved; stored rows naming an old path (ours or
    a host's own) are pointed at the new one first.
    """
    from django_q.models import Schedule

    for old, new in (renamed or {}).items():
        Schedule.objects.filter(func=old).update(func=new)
    timing = {"schedule_type": Schedule.DAILY} if daily else {"schedule_type": Schedule.MINUTES, "minutes": every_minutes}
    return Schedule.objects.update_or_create(name=name, defaults={"func": func, "repeats": -1, **timing})[0]
