"""What ``timeback_demo --reset`` deletes: the rows the demo marked (its users,
courses and students), what hangs off them (activities, attempts, results,
progress, enrollments, their outbox rows), and nothing else.

Result corrections are the append-only audit trail and the demo never makes
one: if any touches demo data (or was made by a demo user) the reset refuses
and changes nothing, rather than delete or orphan it.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.db.models import ProtectedError, Q

from timeback_progress.models import Activity, Attempt, Course, Delivery, ResultCorrection, Student

from .models import DemoRecord


def delete_demo_data():
    """Delete what the demo made; returns ``{model label: rows}``. Call it in a transaction."""
    marks = DemoRecord.objects.all()
    users = list(marks.exclude(user=None).values_list("user", flat=True))
    courses = list(marks.exclude(course=None).values_list("course", flat=True))
    students = list(marks.exclude(student=None).values_list("student", flat=True))
    audit = ResultCorrection.objects.filter(
        Q(result__student__in=students) | Q(result__attempt__course__in=courses) | Q(corrected_by__in=users)
    ).count()
    if audit:
        raise CommandError(
            f"--reset stopped, nothing deleted: {audit} result correction(s) were made on demo data or by a demo "
            "user since it was loaded. Corrections are the audit trail and the demo never deletes or alters one; "
            "load the demo into a fresh database instead."
        )
    attempts = Attempt.objects.filter(Q(student__in=students) | Q(course__in=courses))
    line_items = Activity.objects.filter(course__in=courses).values("line_item_sourced_id")
    deleted = {}
    try:
        for queryset in (
            Delivery.objects.filter(
                Q(attempt__in=attempts) | Q(result__attempt__in=attempts)
                | Q(kind=Delivery.Kind.LINE_ITEM, key__in=line_items)
            ),
            attempts,
            Student.objects.filter(pk__in=students),
            Activity.objects.filter(course__in=courses),
            Course.objects.filter(pk__in=courses),
            get_user_model().objects.filter(pk__in=users),
        ):
            for label, rows in queryset.delete()[1].items():
                deleted[label] = deleted.get(label, 0) + rows
    except ProtectedError as exc:
        raise CommandError(f"--reset stopped, nothing deleted: other rows still use demo data ({exc.args[0]})") from None
    return deleted
