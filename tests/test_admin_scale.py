"""The admin at district scale (docs/admin.md, "At district scale"): estimated counts, pages in two steps,
a fixed number of queries per list whatever the size, indexed default orderings and searches, migration 0006.

The sizes here are small; ``bench/admin_scale.py`` measures a district's.
"""

import json

import pytest
from django.contrib import admin
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.plugins.admin import add_attempts, add_students
from tests.plugins.factories import complete, enroll, make_activity, make_course, make_student
from timeback_progress.admin.paginators import EstimatedCountPaginator, planner_estimate
from timeback_progress.models import Attempt, Delivery, Result, Student

APP = "timeback_progress"
POSTGRES = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the planner's estimate and EXPLAIN are PostgreSQL's (DATABASE_URL)"
)


def changelist(name):
    return reverse(f"admin:{APP}_{name}_changelist")


def count_queries(client, url):
    client.get(url)  # warm per-process caches
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx)


@pytest.fixture
def district(db):
    """Two courses, students with progress, attempts with results, outbox rows."""
    course, other = make_course(title="Algebra"), make_course(title="Biology")
    activity = make_activity(course, activity_id="alg-fractions", name="Fractions quiz")
    ada = make_student(sourced_id="ada-1", email="Ada@Example.com", given_name="Ada", family_name="Lovelace")
    enroll(course, student=ada)
    attempts = [complete(ada, activity, total=10, correct=8, active=60) for _ in range(2)]
    add_students(5, [course, other], prefix="bulk")
    audit(attempts[0].result, 1)
    return {"course": course, "other": other, "activity": activity, "ada": ada, "attempts": attempts}


def audit(result, n):
    """Audit rows of ``result`` (the corrections list titles each by its result's student and activity)."""
    from timeback_progress.models import ResultCorrection

    ResultCorrection.objects.bulk_create(
        ResultCorrection(result=result, reason=f"re-marked {i}", before={}, after={}) for i in range(n)
    )


def grow(district, students=40, attempts=60):
    """More of everything, through the same paths as ``district`` (bulk where they are bulk)."""
    add_students(students, [district["course"], district["other"]])
    add_attempts(district["ada"], district["activity"], attempts)
    for _ in range(3):  # results and outbox rows, through the app
        audit(complete(district["ada"], district["activity"], total=4, correct=3, active=30).result, 2)


# -- the paginator --------------------------------------------------------------------------------


def test_the_count_is_exact_where_there_is_no_planner_or_the_list_is_small(district):
    rows = Student.objects.order_by("pk")
    paginator = EstimatedCountPaginator(rows, 2)
    assert paginator.count == Student.objects.count() == 6
    if connection.vendor != "postgresql":
        assert paginator.estimated is None  # SQLite: always exact
    assert paginator.estimated is None  # PostgreSQL too: 6 rows is under EXACT_BELOW


@POSTGRES
def test_the_estimate_is_close_to_the_exact_count_on_postgresql(district):
    add_students(400, [district["course"]])
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Student._meta.db_table}")
    exact_all = Student.objects.count()
    filtered = Student.objects.filter(family_name__startswith="bulk")
    for rows, exact in ((Student.objects.all(), exact_all), (filtered, filtered.count())):
        estimate = planner_estimate(rows)
        assert abs(estimate - exact) <= max(5, exact * 0.1), (estimate, exact)
    paginator = type("Estimating", (EstimatedCountPaginator,), {"exact_below": 0})(Student.objects.order_by("pk"), 100)
    assert paginator.estimated is not None and paginator.count == paginator.estimated


def test_a_large_page_in_two_steps_has_the_rows_of_one(district):
    """The two-step page (ids, then rows) holds what Django's slice holds, past an estimate too."""
    add_students(30, [district["course"]])
    rows = Student.objects.order_by("family_name", "pk")

    class Estimated(EstimatedCountPaginator):
        estimated = 10  # pretend: fewer rows than there are

    exact = EstimatedCountPaginator(rows, 7)
    two_steps = Estimated(rows, 7)
    assert two_steps.count == 10 and two_steps.num_pages == 2
    for number in (1, 2, 4):  # page 4 is past the estimate: still its rows
        assert [s.pk for s in two_steps.page(number)] == [s.pk for s in exact.page(number)]
    assert list(two_steps.page(99)) == []  # past the end: no rows, no error


# -- a fixed number of queries per list ----------------------------------------------------------


def list_urls(client, district):
    """Every changelist of the app: its first page, a second page, a search, each sort it offers."""
    urls = []
    for model in admin.site._registry:
        if model._meta.app_label != APP:
            continue
        url = changelist(model._meta.model_name)
        cl = client.get(url).context["cl"]
        urls += [url, f"{url}?p=2", f"{url}?q=ada-1"]
        for i, field in enumerate(cl.list_display):
            if cl.sortable_by is not None and field not in cl.sortable_by:
                continue
            if field != "action_checkbox" and cl.get_ordering_field(field) is not None:
                urls.append(f"{url}?o=-{i}")
    return urls


def test_each_list_costs_the_same_queries_at_two_sizes(admin_client, district, monkeypatch):
    for model_admin in admin.site._registry.values():
        monkeypatch.setattr(model_admin, "list_per_page", 3)  # several pages at both sizes
    urls = list_urls(admin_client, district)
    Delivery.objects.bulk_create(
        Delivery(kind=Delivery.Kind.CALIPER_EVENT, key=f"k-{i}", status=Delivery.State.SENT) for i in range(5)
    )
    small = {url: count_queries(admin_client, url) for url in urls}
    grow(district)
    Delivery.objects.bulk_create(
        Delivery(kind=Delivery.Kind.CALIPER_EVENT, key=f"k-more-{i}", status=Delivery.State.SENT, payload={"x": i})
        for i in range(300)
    )
    large = {url: count_queries(admin_client, url) for url in urls}
    assert large == small


def test_the_lists_count_once_and_the_students_figures_come_in_one_query(admin_client, district):
    grow(district)
    with CaptureQueriesContext(connection) as ctx:
        admin_client.get(changelist("student"))
    sql = [q["sql"] for q in ctx.captured_queries]
    assert sum("COUNT(" in s.upper() for s in sql) == 1  # no second, unfiltered count
    progress = [s for s in sql if "studentprogress" in s]
    assert len(progress) == 1 and "IN (" in progress[0]  # the page's students only, no subquery per student


def test_students_still_sort_by_their_figures(admin_client, district):
    grow(district, students=12)
    cl = admin_client.get(changelist("student")).context["cl"]
    column = cl.list_display.index("xp")
    rows = admin_client.get(f"{changelist('student')}?course={district['course'].pk}&o=-{column}").context["cl"].result_list
    values = [r.xp_sum for r in rows]
    assert values == sorted(values, reverse=True) and len(set(values)) > 1


def test_only_indexed_sorts_are_offered_on_the_large_lists(admin_client, district):
    offered = {}
    for name in ("attempt", "result", "delivery"):
        cl = admin_client.get(changelist(name)).context["cl"]
        offered[name] = {
            f for f in cl.list_display
            if f != "action_checkbox" and f in cl.sortable_by and cl.get_ordering_field(f) is not None
        }
    assert offered["attempt"] <= {"started_at", "started", "completed_at"}
    assert offered["result"] <= {"sourced_id", "score_date"}
    assert offered["delivery"] <= {"id", "key", "short_key"}


# -- searches find what they should ---------------------------------------------------------------


def found(client, name, term):
    return {row.pk for row in client.get(changelist(name), {"q": term}).context["cl"].result_list}


def test_searches_find_by_indexed_identifiers_and_names(admin_client, district):
    ada, attempts = district["ada"], district["attempts"]
    ids = {a.pk for a in attempts}
    for term in ("ada-1", "ada@example.com", "Ada Lovelace", "lovelace", "alg-fractions", "Fractions", str(attempts[0].pk)):
        expected = {attempts[0].pk} if term == str(attempts[0].pk) else ids
        assert found(admin_client, "attempt", term) >= expected, term
    assert found(admin_client, "attempt", "nobody-at-all") == set()
    result = attempts[0].result
    for term in (result.sourced_id, "ada-1", result.line_item_sourced_id):
        assert result.pk in found(admin_client, "result", term), term
    row = Delivery.objects.filter(result=result).first() or Delivery.objects.first()
    assert found(admin_client, "delivery", row.key) >= {row.pk}
    assert found(admin_client, "delivery", str(row.pk)) >= {row.pk}
    assert found(admin_client, "delivery", row.key[:-2] + "zz") == set()  # exact, not contains
    progress = {p.pk for p in ada.progress.all()}
    assert found(admin_client, "studentprogress", "Algebra") >= progress
    assert found(admin_client, "studentprogress", "ada@example.com") == progress
    assert found(admin_client, "student", "ada-1") == {ada.pk}
    enrolment = {e.pk for e in ada.enrollments.all()}
    for term in ("ada-1", "ada@example.com", "Ada Lovelace", "lovelace"):
        assert found(admin_client, "enrollment", term) == enrolment, term
    assert found(admin_client, "enrollment", "Algebra") >= enrolment


# -- the default orderings use an index (PostgreSQL) -----------------------------------------------


def plan_nodes(plan):
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


@POSTGRES
@pytest.mark.parametrize("name", ["attempt", "result", "delivery", "student"])
def test_the_default_list_query_reads_an_index_in_order(admin_client, district, name):
    """The first page of each large list is an index range, never a sort of the table (seq scans off:
    on a small table the planner would rightly prefer one)."""
    cl = admin_client.get(changelist(name)).context["cl"]
    sql, params = cl.queryset.values_list("pk", flat=True)[:100].query.sql_with_params()
    with connection.cursor() as cursor:
        for plan_kind in ("seqscan", "bitmapscan", "sort"):  # what a large table would cost, on a small one
            cursor.execute(f"SET LOCAL enable_{plan_kind} = off")
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    nodes = [n["Node Type"] for n in plan_nodes(plan[0]["Plan"])]
    assert "Sort" not in nodes, nodes  # an Incremental Sort on a tie-breaker is fine
    assert any("Index" in n for n in nodes), nodes


# -- migration 0006 ------------------------------------------------------------------------------


def index_names(table):
    with connection.cursor() as cursor:
        return set(connection.introspection.get_constraints(cursor, table))


@pytest.mark.django_db(transaction=True)
def test_migration_0006_adds_and_removes_the_indexes():
    names = {"tbp_attempt_started", "tbp_result_score_date", "tbp_result_line_item"}

    def present():
        return names & (index_names(Attempt._meta.db_table) | index_names(Result._meta.db_table))

    assert present() == names
    executor = MigrationExecutor(connection)
    leaf = executor.loader.graph.leaf_nodes(APP)[0]
    executor.migrate([(APP, "0005_daily_window")])
    assert present() == set()
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([leaf])
    assert present() == names
