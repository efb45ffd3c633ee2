"""Plain SQL for the statements every completion runs.

Django compiles a queryset's SQL on each evaluation; for the joined, locked
attempt lookup, the progress aggregate and the small upserts of a completion
that compile costs several times what the database spends running them, and
the API's completion rate is bound by it (bench/api_ingest.py). Lookups and
row writes build their SQL once per process from the models' ``_meta`` (a new
field is picked up) and return ordinary model instances, converted by the
backend's own converters; the two aggregates are written out. The statements
run on SQLite (>= 3.24) and PostgreSQL alike. Everything else stays on the ORM.
"""

import datetime
from functools import cache

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, transaction
from django.db.models import signals
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import xp as xp_rules
from .models import Activity, Attempt, Course, DailyProgress, IdempotencyRecord, Student, StudentProgress

# (table alias, model) of the joined attempt lookup, in column order.
_ATTEMPT_JOIN = (("a", Attempt), ("s", Student), ("ac", Activity), ("c", Course))


def _db():
    """The default database's wrapper itself.

    ``django.db.connection`` is a proxy that looks the wrapper up on every
    attribute access; Django's per-field value preparation reads it several
    times per value, which doubled the cost of preparing a row.
    """
    return connections[DEFAULT_DB_ALIAS]


def _fields(model):
    return [f for f in model._meta.concrete_fields]


@cache
def _attempt_sql(vendor, lock, chain):
    qn = connection.ops.quote_name
    table = qn(Attempt._meta.db_table)
    columns = ", ".join(f"{alias}.{qn(f.column)}" for alias, model in _ATTEMPT_JOIN for f in _fields(model))
    sql = (
        f"SELECT {columns} FROM {table} a"
        f" INNER JOIN {qn(Student._meta.db_table)} s ON s.id = a.student_id"
        f" INNER JOIN {qn(Activity._meta.db_table)} ac ON ac.id = a.activity_id"
        f" INNER JOIN {qn(Course._meta.db_table)} c ON c.id = ac.course_id"
    )
    if chain:  # the attempt and the student's completed attempts at the same activity
        sql += (
            f" WHERE a.student_id = (SELECT t.student_id FROM {table} t WHERE t.id = %(pk)s)"
            f" AND a.activity_id = (SELECT t.activity_id FROM {table} t WHERE t.id = %(pk)s)"
            " AND (a.id = %(pk)s OR a.completed_at IS NOT NULL) ORDER BY a.number"
        )
    else:
        sql += " WHERE a.id = %(pk)s"
    if lock and connection.features.has_select_for_update:
        sql += " FOR UPDATE OF a, s" if connection.features.has_select_for_update_of else " FOR UPDATE"
    return sql


@cache
def _attempt_converters(vendor):
    """The backend's converters per column (SQLite hands back text for datetimes, ints for booleans)."""
    compiler = Attempt.objects.none().query.get_compiler(connection=connection)
    columns = [f.get_col(model._meta.db_table) for _alias, model in _ATTEMPT_JOIN for f in _fields(model)]
    return compiler, compiler.get_converters(columns)


def _build(row, model, start):
    fields = _fields(model)
    return model.from_db(DEFAULT_DB_ALIAS, [f.attname for f in fields], row[start:start + len(fields)]), start + len(fields)


def attempt_for_write(pk, *, lock=False, chain=False):
    """The attempt ``pk`` with its student, activity and course loaded, or None.

    What ``Attempt.objects.select_related("student", "activity__course")
    .select_for_update(of=("self", "student")).get(pk=pk)`` returns, without
    compiling it each time. ``lock`` takes the attempt's and the student's row
    locks (call it inside a transaction). ``chain`` also loads (and locks) the
    student's completed attempts at the activity, which completing re-evaluates
    (``services.apply_attempt``): one statement fewer per completion.
    """
    connection = _db()
    with connection.cursor() as cursor:
        cursor.execute(_attempt_sql(connection.vendor, lock, chain), {"pk": pk})
        rows = cursor.fetchall()
    if not rows:
        return None
    compiler, converters = _attempt_converters(connection.vendor)
    if converters:
        rows = list(compiler.apply_converters(rows, converters))
    # Every row carries the same student, activity and course: build them once.
    student, start = _build(rows[0], Student, len(_fields(Attempt)))
    activity, start = _build(rows[0], Activity, start)
    activity.course, _ = _build(rows[0], Course, start)
    attempts = []
    for row in rows:
        item, _ = _build(row, Attempt, 0)
        item.student, item.activity = student, activity
        attempts.append(item)
    attempt = next(a for a in attempts if a.pk == pk)
    if chain:
        attempt._completed_siblings = [a for a in attempts if a is not attempt]
    return attempt


def completed_chain(student_id, activity_id):
    """A student's completed attempts at one activity, in attempt order."""
    where = "student_id = %s AND activity_id = %s AND completed_at IS NOT NULL ORDER BY number"
    return _select(Attempt, where, [student_id, activity_id])


@cache
def _update_sql(vendor, table, names):
    qn = connection.ops.quote_name
    return f"UPDATE {qn(table)} SET {', '.join(f'{qn(n)} = %s' for n in names)} WHERE id = %s"  # noqa: S608


def update_row(instance, names):
    """``UPDATE`` of ``names`` (concrete field names) of one saved row, from the instance's values.

    ``auto_now`` fields among ``names`` are stamped, as ``save()`` does. Returns
    the number of rows changed.
    """
    connection = _db()
    meta = type(instance)._meta
    fields = [meta.get_field(name) for name in names]
    params = [f.get_db_prep_save(f.pre_save(instance, False), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(_update_sql(connection.vendor, meta.db_table, tuple(f.column for f in fields)), [*params, instance.pk])
        return cursor.rowcount


def save_fields(instance, names):
    """``instance.save(update_fields=names)`` on the default database, minus the compile.

    For a row the caller holds locked (so it exists): Django builds and
    compiles the one-row UPDATE on every save, which cost more than running it
    on the completion path. ``pre_save`` and ``post_save`` are sent with the
    arguments ``save()`` sends, so receivers (the XP derivation among them) run
    unchanged; a database error marks the enclosing ``atomic`` for rollback,
    as in ``save()``. Not run: a ``save()`` override of the model (Attempt's
    adds nothing for an existing row) and database routing (the app writes to
    the default database throughout).
    """
    model = type(instance)
    if not names:
        return  # as save(update_fields=[]): nothing written, no signals
    writable = {n for f in _fields(model) if not f.primary_key for n in (f.name, f.attname)}
    if unknown := set(names) - writable:
        raise ValueError(f"Not concrete non-pk fields of {model.__name__}: {', '.join(sorted(unknown))}")
    connection = _db()
    using, update_fields = connection.alias, frozenset(names)
    signals.pre_save.send(sender=model, instance=instance, raw=False, using=using, update_fields=update_fields)
    with transaction.mark_for_rollback_on_error(using):
        changed = update_row(instance, names)
    if changed != 1:
        raise DatabaseError("Save with update_fields did not affect any rows.")
    instance._state.adding, instance._state.db = False, using
    signals.post_save.send(
        sender=model, instance=instance, created=False, update_fields=update_fields, raw=False, using=using
    )


def _select(model, where, params):
    """Instances of ``model`` for ``WHERE where`` (ORDER BY may follow), built as the ORM builds them."""
    connection = _db()
    statement, compiler, converters = _select_sql(connection.vendor, model, where)
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        rows = cursor.fetchall()
    if converters and rows:
        rows = compiler.apply_converters(rows, converters)
    names = [f.attname for f in _fields(model)]
    return [model.from_db(connection.alias, names, row) for row in rows]


@cache
def _select_sql(vendor, model, where):
    qn = connection.ops.quote_name
    fields = _fields(model)
    statement = f"SELECT {', '.join(qn(f.column) for f in fields)} FROM {qn(model._meta.db_table)} WHERE {where}"  # noqa: S608
    compiler = model.objects.none().query.get_compiler(connection=connection)
    return statement, compiler, compiler.get_converters([f.get_col(model._meta.db_table) for f in fields])


def idempotency_record(user_id, key):
    """The stored response for (user, Idempotency-Key), or None."""
    rows = _select(IdempotencyRecord, "user_id = %s AND key = %s", [user_id, key])
    return rows[0] if rows else None


@cache
def _insert_sql(vendor, model):
    """``(fields, "INSERT INTO t (columns) VALUES ", "(%s, ...)")`` for the model's columns but the pk."""
    qn = connection.ops.quote_name
    fields = [f for f in _fields(model) if not f.primary_key]
    head = f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) VALUES "
    return fields, head, f"({', '.join(['%s'] * len(fields))})"


def _insert_params(objs, fields, connection):
    return [f.get_db_prep_save(f.pre_save(obj, True), connection) for obj in objs for f in fields]


def insert_rows(objs, *, ignore_conflicts=False):
    """``INSERT ... VALUES (...), (...)`` of unsaved instances of one model (no pks come back).

    What ``bulk_create`` does (no signals either), minus its compile; and on
    PostgreSQL without the UNNEST form Django 5.2+ picks for several rows,
    whose array parameters psycopg quotes element by element (slower than the
    insert itself here).
    """
    connection = _db()
    if not objs:
        return
    fields, head, row = _insert_sql(connection.vendor, type(objs[0]))
    tail = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    size = max(1, connection.ops.bulk_batch_size(fields, objs))  # the backend's parameter limit
    with connection.cursor() as cursor:
        for i in range(0, len(objs), size):
            batch = objs[i:i + size]
            cursor.execute(head + ", ".join([row] * len(batch)) + tail, _insert_params(batch, fields, connection))


def insert_row(obj):
    """``INSERT ... RETURNING`` the pk of one unsaved instance, which it then stands for.

    ``Model.objects.create()`` without the compile (and, like ``bulk_create``,
    without ``pre_save``/``post_save`` signals).
    """
    connection = _db()
    if not connection.features.can_return_columns_from_insert:  # SQLite < 3.35
        obj.save(force_insert=True)
        return obj
    fields, head, row = _insert_sql(connection.vendor, type(obj))
    with connection.cursor() as cursor:
        cursor.execute(f"{head}{row} RETURNING {connection.ops.quote_name(obj._meta.pk.column)}", _insert_params([obj], fields, connection))
        obj.pk = cursor.fetchone()[0]
    obj._state.adding, obj._state.db = False, connection.alias
    return obj


def upsert_progress(progress):
    """Insert or replace one ``StudentProgress`` row (by student and course)."""
    connection = _db()
    fields, head, row = _insert_sql(connection.vendor, StudentProgress)
    qn = connection.ops.quote_name
    replace = ", ".join(f"{qn(f.column)} = excluded.{qn(f.column)}" for f in fields if f.name not in ("student", "course"))
    with connection.cursor() as cursor:
        cursor.execute(f"{head}{row} ON CONFLICT (student_id, course_id) DO UPDATE SET {replace}", _insert_params([progress], fields, connection))


# -- progress aggregates ---------------------------------------------------------

# One student's sums in one course; failed_streak counts the misses since the last pass.
_AGGREGATE = """
SELECT
  SUM(CASE WHEN a.completed_at IS NOT NULL THEN a.xp_earned END) AS xp_total,
  COUNT(*) AS attempts_count,
  COUNT(a.completed_at) AS completed_count,
  SUM(CASE WHEN a.completed_at IS NOT NULL THEN a.total_questions END) AS total_questions,
  SUM(CASE WHEN a.completed_at IS NOT NULL THEN a.correct_questions END) AS correct_questions,
  SUM(CASE WHEN a.completed_at IS NOT NULL THEN a.mastered_units END) AS mastered_units,
  SUM(a.active_seconds) AS active_seconds,
  SUM(a.inactive_seconds) AS inactive_seconds,
  SUM(CASE WHEN a.completed_at IS NOT NULL AND a.total_questions > 0 AND a.accuracy < %(threshold)s AND (
        last_pass.at IS NULL OR a.completed_at > last_pass.at) THEN 1 ELSE 0 END) AS failed_streak,
  MAX(a.completed_at) AS last_completed,
  MAX(a.started_at) AS last_started
FROM {attempt} a
CROSS JOIN (
  SELECT MAX(p.completed_at) AS at FROM {attempt} p
  WHERE p.student_id = %(student)s AND p.course_id = %(course)s
    AND p.completed_at IS NOT NULL AND p.accuracy >= %(threshold)s
) last_pass
WHERE a.student_id = %(student)s AND a.course_id = %(course)s
"""
_AGGREGATE_FIELDS = (
    "xp_total", "attempts_count", "completed_count", "total_questions", "correct_questions",
    "mastered_units", "active_seconds", "inactive_seconds", "failed_streak", "last_completed", "last_started",
)

# The day's chart row, from the attempts completed in [start, end).
_DAY_UPSERT = """
INSERT INTO {daily} (student_id, course_id, day, xp, completed_count, active_seconds)
SELECT %(student)s, %(course)s, %(day)s, COALESCE(SUM(xp_earned), 0), COUNT(*), COALESCE(SUM(active_seconds), 0)
FROM {attempt}
WHERE student_id = %(student)s AND course_id = %(course)s AND completed_at >= %(start)s AND completed_at < %(end)s
ON CONFLICT (student_id, course_id, day) DO UPDATE SET
  xp = excluded.xp, completed_count = excluded.completed_count, active_seconds = excluded.active_seconds
"""


def _tables():
    qn = connection.ops.quote_name
    return {
        "attempt": qn(Attempt._meta.db_table),
        "daily": qn(DailyProgress._meta.db_table),
        "progress": qn(StudentProgress._meta.db_table),
    }


def progress_aggregate(student_id, course_id):
    """The sums behind one ``StudentProgress`` row, as a dict of Python values."""
    connection = _db()
    with connection.cursor() as cursor:
        cursor.execute(
            _AGGREGATE.format(**_tables()),
            {"student": student_id, "course": course_id, "threshold": xp_rules.PASS_THRESHOLD},
        )
        row = dict(zip(_AGGREGATE_FIELDS, cursor.fetchone()))
    for key in ("last_completed", "last_started"):
        row[key] = _as_datetime(row[key])
    for key in ("xp_total", "correct_questions"):
        row[key] = xp_rules.quantize(row[key] or 0)
    return row


def _as_datetime(value):
    """SQLite hands back MAX() of a datetime column as text."""
    if isinstance(value, str):
        value = parse_datetime(value)
        if value is not None and timezone.is_naive(value):
            value = timezone.make_aware(value, datetime.UTC)
    return value


def _day_params(day, start, end):
    connection = _db()
    ops = connection.ops
    return {"day": ops.adapt_datefield_value(day), "start": ops.adapt_datetimefield_value(start),
            "end": ops.adapt_datetimefield_value(end)}


def upsert_day(student_id, course_id, day, start, end):
    """Rebuild one chart row (``day``, a date, whose local midnight-to-midnight is [start, end))."""
    connection = _db()
    with connection.cursor() as cursor:
        cursor.execute(
            _DAY_UPSERT.format(**_tables()), {"student": student_id, "course": course_id, **_day_params(day, start, end)}
        )



# -- PostgreSQL: the progress rows in one statement ------------------------------

# progress_aggregate + upsert_progress (+ upsert_day) as one statement of
# data-modifying CTEs: two round trips fewer per completion. Accuracy is
# computed here with numeric division rounded half away from zero, which for
# these non-negative values is xp.percent_correct's half-up.
_REFRESH = """
WITH agg AS ({aggregate}),
progress AS (
  INSERT INTO {progress} (student_id, course_id, xp_total, attempts_count, completed_count, total_questions,
    correct_questions, mastered_units, active_seconds, inactive_seconds, failed_streak, accuracy,
    last_activity_at, updated_at)
  SELECT %(student)s, %(course)s, COALESCE(xp_total, 0), attempts_count, completed_count,
    COALESCE(total_questions, 0), COALESCE(correct_questions, 0), COALESCE(mastered_units, 0),
    COALESCE(active_seconds, 0), COALESCE(inactive_seconds, 0), COALESCE(failed_streak, 0),
    CASE WHEN total_questions > 0 THEN ROUND(correct_questions * 100 / total_questions, 2) END,
    GREATEST(last_completed, last_started), %(now)s
  FROM agg
  ON CONFLICT (student_id, course_id) DO UPDATE SET
    xp_total = excluded.xp_total, attempts_count = excluded.attempts_count,
    completed_count = excluded.completed_count, total_questions = excluded.total_questions,
    correct_questions = excluded.correct_questions, mastered_units = excluded.mastered_units,
    active_seconds = excluded.active_seconds, inactive_seconds = excluded.inactive_seconds,
    failed_streak = excluded.failed_streak, accuracy = excluded.accuracy,
    last_activity_at = excluded.last_activity_at, updated_at = excluded.updated_at
)
"""


def refresh_progress_in_one_statement(student_id, course_id, *, now, day=None):
    """PostgreSQL only: the progress row and, with ``day`` ((date, start, end)), that chart row."""
    connection = _db()
    tables = _tables()
    statement = _REFRESH.format(aggregate=_AGGREGATE.format(**tables), **tables)
    params = {"student": student_id, "course": course_id, "threshold": xp_rules.PASS_THRESHOLD, "now": now}
    if day:
        statement += _DAY_UPSERT.format(**tables)
        params.update(_day_params(*day))
    else:
        statement += "SELECT 1"
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
