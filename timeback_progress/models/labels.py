"""Translatable names for the app's models and for the fields declared without one.

Django names a field declared without ``verbose_name`` after its attribute
(``started_at`` -> "started at"), and a model after its class: English only,
on every admin column, filter and form label. Declaring ``verbose_name`` in
the field would fix that, but the declared value is part of the field's
deconstruction, so every labelled field would need an ``AlterField``
migration that changes nothing in the database.

Django reads ``field.verbose_name`` (and ``Model._meta.verbose_name``) for
every label, while the migration autodetector reads what the declaration
passed (``field._verbose_name``, ``Model._meta.original_attrs``). So the labels
below are set on the fields after the classes exist: they translate
everywhere and change no migration. Their English text is exactly Django's
own default, so English pages read as before (``tests/test_translations.py``
holds both properties, and that every field of the app has a translatable
label). A label declared on the field itself wins; this table only fills the
gaps. A new field needs a line here (or a declared ``verbose_name`` and its
migration).
"""

from django.utils.translation import gettext_lazy as _, pgettext_lazy

# Field name -> label, for every model of the app that has the field (its meaning is the same in all).
FIELD_LABELS = {
    "accuracy": _("accuracy"),
    "active_seconds": _("active seconds"),
    "activity": _("activity"),
    "activity_id": _("activity id"),
    "after": _("after"),
    "app_name": _("app name"),
    "attempt": _("attempt"),
    "attempts_count": _("attempts count"),
    "before": _("before"),
    "best_accuracy": _("best accuracy"),
    "claimed_by": _("claimed by"),
    "class_sourced_id": _("class sourced id"),
    "completed_at": _("completed at"),
    "completed_count": _("completed count"),
    "component_resource_sourced_id": _("component resource sourced id"),
    "correct_questions": _("correct questions"),
    "corrected_by": _("corrected by"),
    "course": _("course"),
    "course_completed_at": _("course completed at"),
    "created_at": _("created at"),
    "date_last_modified": _("date last modified"),
    "day": _("day"),
    "email": _("email"),
    "expected_xp": _("expected xp"),
    "failed_streak": _("failed streak"),
    "family_name": _("family name"),
    "given_name": _("given name"),
    "grade": _("grade"),
    "high_water_mark": _("high water mark"),
    "inactive_seconds": _("inactive seconds"),
    "is_active": _("is active"),
    "is_corrected": _("is corrected"),
    "is_graded": _("is graded"),
    "key": _("key"),
    "kind": _("kind"),
    "last_activity_at": _("last activity at"),
    "last_completed_at": _("last completed at"),
    "last_completed_number": _("last completed number"),
    "last_error": _("last error"),
    "last_run_at": _("last run at"),
    "last_started_at": _("last started at"),
    "last_summary": _("last summary"),
    "leased_until": _("leased until"),
    "line_item_queued": _("line item queued"),
    "mastered_units": _("mastered units"),
    "mastered_units_override": _("mastered units override"),
    "masterable_units": _("masterable units"),
    "metadata": _("metadata"),
    "method": _("method"),
    "multiplier": _("multiplier"),
    "name": _("name"),
    "next_attempt_at": _("next attempt at"),
    "path": _("path"),
    "payload": _("payload"),
    "reason": _("reason"),
    "reported_active_seconds": _("reported active seconds"),
    "reported_inactive_seconds": _("reported inactive seconds"),
    "request_hash": _("request hash"),
    "response_body": _("response body"),
    "response_status": _("response status"),
    "result": _("result"),
    "role": _("role"),
    "score": _("score"),
    "score_date": _("score date"),
    "score_status": _("score status"),
    "sent_at": _("sent at"),
    "started_at": _("started at"),
    "status": _("status"),
    "student": _("student"),
    "subject": _("subject"),
    "time_events_sent": _("time events sent"),
    "time_reported_until": _("time reported until"),
    "title": _("title"),
    "total_questions": _("total questions"),
    "total_xp": _("total xp"),
    "updated_at": _("updated at"),
    "user": _("user"),
    "user_sourced_id": _("user sourced id"),
    "xp": _("xp"),
    "xp_corrections_sent": _("xp corrections sent"),
    "xp_earned": _("xp earned"),
    "xp_override": _("xp override"),
    "xp_total": _("xp total"),
}

# (model name, field name) -> label, where a field means something else on one model.
MODEL_FIELD_LABELS = {
    # An outbox row's tries at sending, not a student's attempts at an activity.
    ("Delivery", "attempts"): pgettext_lazy("sending tries", "attempts"),
    ("Delivery", "next_attempt_at"): pgettext_lazy("sending tries", "next attempt at"),
}

# Model name -> (verbose_name, verbose_name_plural), for the models whose Meta names none.
MODEL_NAMES = {
    "Activity": (_("activity"), None),
    "ActivityProgress": (_("activity progress"), None),
    "Attempt": (_("attempt"), _("attempts")),
    "Course": (_("course"), _("courses")),
    "DailyProgress": (_("daily progress"), None),
    "Delivery": (_("delivery"), None),
    "Enrollment": (_("enrollment"), _("enrollments")),
    "IdempotencyRecord": (_("idempotency record"), _("idempotency records")),
    "Result": (_("result"), _("results")),
    "ResultCorrection": (_("result correction"), _("result corrections")),
    "Student": (_("student"), _("students")),
    "StudentProgress": (_("student progress"), None),
    "SyncState": (_("sync state"), _("sync states")),
}


def label_models(models):
    """Set the labels above on ``models`` where their declarations give none (idempotent)."""
    for model in models:
        opts = model._meta
        names = MODEL_NAMES.get(model.__name__)
        if names and "verbose_name" not in opts.original_attrs:
            opts.verbose_name = names[0]
        if names and names[1] is not None and "verbose_name_plural" not in opts.original_attrs:
            opts.verbose_name_plural = names[1]
        for field in opts.local_fields + opts.local_many_to_many + list(opts.private_fields):
            if getattr(field, "_verbose_name", True) is not None or field.auto_created:
                continue
            label = MODEL_FIELD_LABELS.get((model.__name__, field.name), FIELD_LABELS.get(field.name))
            if label is not None:
                field.verbose_name = label
