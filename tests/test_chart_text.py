"""A chart's text alternative: the summary sentence and the table carry the numbers the chart draws."""

import json
import re
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.urls import reverse

from timeback_progress.dashboards import chart_text
from tests.plugins.factories import complete, enroll, make_activity, make_student

CHART = {
    "labels": ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"],
    "xp": [10.0, 0.0, 1234.5, 1234.5],
    "cumulative": [10.0, 10.0, 1244.5, 2479.0],
}


def test_the_summary_gives_the_range_the_total_and_the_first_best_day():
    assert chart_text.summary(CHART, "XP per day") == (
        "XP per day, 11/01/2026 – 11/04/2026: total 2,479.0, highest 1,234.5 on 11/03/2026."
    )


def test_a_chart_without_xp_has_no_best_day_and_an_empty_one_no_summary():
    assert chart_text.summary({"labels": ["2026-11-01"], "xp": [0]}, "XP") == "XP, 11/01/2026 – 11/01/2026: total 0.0."
    assert chart_text.summary({"labels": [], "xp": []}, "XP") is None


def test_the_table_has_a_row_per_day_and_a_column_per_series_present():
    headings, rows = chart_text.table(CHART)
    assert headings == ["Day", "XP that day", "Total XP"]
    assert rows[2] == ["11/03/2026", "1,234.5", "1,244.5"]
    assert len(rows) == 4
    headings, rows = chart_text.table({"labels": CHART["labels"], "xp": CHART["xp"]})  # the class chart: no cumulative
    assert headings == ["Day", "XP that day"] and rows[0] == ["11/01/2026", "10.0"]


def test_the_tag_renders_a_summary_to_describe_the_canvas_and_a_table_of_headers():
    html = Template('{% load timeback_charts %}{% chart_text chart "tbp-class-chart" %}').render(Context({"chart": CHART}))
    assert 'id="tbp-class-chart-summary"' in html and "highest 1,234.5 on 11/03/2026" in html
    assert html.count('<th scope="row">') == 4 and html.count('<th scope="col"') == 3
    assert "<details" in html and "<caption" in html
    assert Template('{% load timeback_charts %}{% chart_text chart "x" %}').render(Context({"chart": {}})).strip() == ""


@pytest.mark.django_db
def test_the_student_page_describes_its_chart_with_the_numbers_it_draws(client, users):
    course = users["course"]
    student = make_student(given_name="Ada", family_name="Lovelace")
    enroll(course, student=student)
    quiz = make_activity(course, name="Quiz", expected_xp=Decimal(10))
    complete(student, quiz, total=10, correct=10)
    complete(student, quiz, total=10, correct=9)
    client.force_login(users["teacher"])
    html = client.get(reverse("timeback_progress:student-detail", args=[course.pk, student.pk])).content.decode()
    data = json.loads(re.search(r'<script id="tbp-student-chart-data" type="application/json">(.*?)</script>', html).group(1))
    assert 'aria-describedby="tbp-student-chart-summary"' in html
    total = chart_text.number(sum(Decimal(str(x)) for x in data["xp"]))
    summary = re.search(r'id="tbp-student-chart-summary"[^>]*>(.*?)</p>', html).group(1)
    assert f"total {total}" in summary
    assert html.count('<th scope="row">' + chart_text.day(data["labels"][-1])) == 1
