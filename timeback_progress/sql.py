"""Plain SQL for the statements every completion runs.

Django compiles a queryset's SQL on each evaluation; for the joined, locked
attempt lookup and the small upserts of a completion that compile costs
several times what the database spends running them, and the API's
completion rate is bound by it (bench/api_ingest.py). These functions build
their SQL once per process and database vendor from the models' ``_meta``
(never hand-written column lists, so a new field is picked up) and return
ordinary model instances, converted by the backend's own converters.
Everything else stays on the ORM.
"""

from functools import cache

from django.db import connection

from .models import Activity, Attempt, Course, Student, StudentProgress

# (table alias, model) of the joined attempt lookup, in column order.
_ATTEMPT_JOIN = (("a", Attempt), ("s", Student), ("ac", Activity), ("c", Course))


def _fields(model):
    return [f for f in model._meta.concrete_fields]


@cache
def _attempt_sql(vendor, lock):
    qn = connection.ops.quote_name
    columns = ", ".join(f"{alias}.{qn(f.column)}" for alias, model in _ATTEMPT_JOIN for f in _fields(model))
    sql = (
        f"SELECT {columns} FROM {qn(Attempt._meta.db_table)} a"
        f" INNER JOIN {qn(Student._meta.db_table)} s ON s.id = a.student_id"
        f" INNER JOIN {qn(Activity._meta.db_table)} ac ON ac.id = a.activity_id"
        f" INNER JOIN {qn(Course._meta.db_table)} c ON c.id = ac.course_id"
        " WHERE a.id = %s"
    )
    if lock and connection.features.has_select_for_update:
        sql += " FOR UPDATE OF a, s" if connection.features.has_select_for_update_of else " FOR UPDATE"
    return sql


@cache
def _attempt_converters(vendor):
    """The backend's converters per column (SQLite hands back text for datetimes, ints for booleans)."""
    compiler = Attempt.objects.none().query.get_compiler(connection=connection)
    columns = [f.get_col(model._meta.db_table) for _alias, model in _ATTEMPT_JOIN for f in _fields(model)]
    return compiler, compiler.get_converters(columns)


def attempt_for_write(pk, *, lock=False):
    """The attempt ``pk`` with its student, activity and course loaded, or None.

    What ``Attempt.objects.select_related("student", "activity__course")
    .select_for_update(of=("self", "student")).get(pk=pk)`` returns, without
    compiling it each time. ``lock`` takes the attempt's and the student's row
    locks (call it inside a transaction).
    """
    with connection.cursor() as cursor:
        cursor.execute(_attempt_sql(connection.vendor, lock), [pk])
        row = cursor.fetchone()
    if row is None:
        return None
    compiler, converters = _attempt_converters(connection.vendor)
    if converters:
        row = next(iter(compiler.apply_converters([row], converters)))
    objects, start = [], 0
    for _alias, model in _ATTEMPT_JOIN:
        fields = _fields(model)
        objects.append(model.from_db(connection.alias, [f.attname for f in fields], row[start:start + len(fields)]))
        start += len(fields)
    attempt, student, activity, course = objects
    activity.course = course
    attempt.student, attempt.activity = student, activity
    return attempt


@cache
def _chain_sql(vendor):
    qn = connection.ops.quote_name
    return (
        f"SELECT * FROM {qn(Attempt._meta.db_table)}"  # noqa: S608 - our own table
        " WHERE student_id = %s AND activity_id = %s AND completed_at IS NOT NULL ORDER BY number"
    )


def completed_chain(student_id, activity_id):
    """A student's completed attempts at one activity, in attempt order."""
    return Attempt.objects.raw(_chain_sql(connection.vendor), [student_id, activity_id])


@cache
def _update_sql(vendor, table, names):
    qn = connection.ops.quote_name
    return f"UPDATE {qn(table)} SET {', '.join(f'{qn(n)} = %s' for n in names)} WHERE id = %s"  # noqa: S608


def update_row(instance, names):
    """``UPDATE`` of ``names`` (concrete field names) of one saved row, from the instance's values."""
    meta = type(instance)._meta
    fields = [meta.get_field(name) for name in names]
    params = [f.get_db_prep_save(getattr(instance, f.attname), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(_update_sql(connection.vendor, meta.db_table, tuple(f.column for f in fields)), [*params, instance.pk])


@cache
def _upsert_sql(vendor, table, names, unique):
    qn = connection.ops.quote_name
    return (
        f"INSERT INTO {qn(table)} ({', '.join(qn(n) for n in names)}) VALUES ({', '.join(['%s'] * len(names))})"
        f" ON CONFLICT ({', '.join(qn(n) for n in unique)}) DO UPDATE SET "
        + ", ".join(f"{qn(n)} = excluded.{qn(n)}" for n in names if n not in unique)
    )


def upsert_progress(progress):
    """Insert or replace one ``StudentProgress`` row (by student and course)."""
    fields = [f for f in _fields(StudentProgress) if not f.primary_key]
    params = [f.get_db_prep_save(getattr(progress, f.attname), connection) for f in fields]
    sql = _upsert_sql(
        connection.vendor, StudentProgress._meta.db_table, tuple(f.column for f in fields), ("student_id", "course_id")
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
