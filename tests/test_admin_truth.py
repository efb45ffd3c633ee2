"""An admin that tells the truth (issue 19, point 3): what the pages say is what the data holds.

"Corrected" means a correction exists (whatever it changed) and its filter
finds exactly those results; results, attempts and outbox rows are titled by
student, activity and run; sync health says disabled, healthy or why not,
from what the sending worker recorded; an outbox row shows the body the
sender builds.
"""

import json

import pytest
from django.urls import reverse

from tests.plugins.factories import complete
from tests.test_admin import correct_url, correction_data, graded, result_url  # noqa: F401  (fixture)
from timeback_progress.models import Attempt, Delivery, Result

pytestmark = pytest.mark.django_db

RESULTS = reverse("admin:timeback_progress_result_changelist")
ATTEMPTS = reverse("admin:timeback_progress_attempt_changelist")
TITLE_RELATED = ("result__student", "result__attempt__activity", "attempt__student", "attempt__activity")


def listed(client, url):
    response = client.get(url)
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


# -- "corrected" -------------------------------------------------------------------------------


def test_a_correction_of_xp_only_marks_the_result_corrected_and_the_filter_finds_it(admin_client, graded):  # noqa: F811  (the fixture imported above)
    """The demo's case: the history shows a correction, so the page and the filter must say so."""
    first, second = (a.result for a in graded["attempts"])
    response = admin_client.post(correct_url(first), correction_data(first, xp="20"))
    assert response.status_code == 302

    first.refresh_from_db()
    assert not first.is_corrected  # the score was not touched: the rules still compute it
    assert [r.pk for r in listed(admin_client, RESULTS + "?corrected=yes")] == [first.pk]
    assert [r.pk for r in listed(admin_client, RESULTS + "?corrected=no")] == [second.pk]
    page = admin_client.get(result_url(first)).content.decode()
    assert "Correction history" in page and "10.0 → 20.0" in page
    assert corrected_cell(page) == "True"
    assert corrected_cell(admin_client.get(result_url(second)).content.decode()) == "False"


def test_a_correction_through_the_api_marks_the_result_corrected(api_world, client_for, admin_client):
    from django.contrib.auth.models import Permission

    from tests.plugins.api import make_user

    attempt = complete(api_world.ann, api_world.quiz, total=10, correct=8)
    corrector = make_user("corrector")
    corrector.user_permissions.add(Permission.objects.get(codename="correct_result"))
    response = client_for(corrector).post(
        reverse("timeback_progress_api:attempt-corrections", args=[attempt.pk]),
        json.dumps({"reason": "Miscounted question 7", "correctQuestions": 9}), content_type="application/json",
    )
    assert response.status_code == 201, response.content
    result = Result.objects.get(attempt=attempt)
    assert [r.pk for r in listed(admin_client, RESULTS + "?corrected=yes")] == [result.pk]
    changelist = admin_client.get(RESULTS).content.decode()
    assert 'alt="True"' in changelist  # the ✓ icon in the "corrected" column


def corrected_cell(page):
    """The readonly "corrected" field's icon on a result page: "True" or "False"."""
    start = page.index('class="form-row field-corrected')
    icon = page.index('alt="', start) + len('alt="')
    return page[icon : page.index('"', icon)]


# -- titles ------------------------------------------------------------------------------------


def test_results_attempts_and_outbox_rows_are_titled_by_student_activity_and_run(admin_client, graded):  # noqa: F811  (the fixture imported above)
    student, activity = graded["student"], graded["activity"]
    second = graded["attempts"][1]
    expected = f"Ada Lovelace – {activity.name} #2"
    assert str(second) == str(second.result) == expected

    rows = Delivery.objects.select_related(*TITLE_RELATED)
    result_row = rows.filter(kind=Delivery.Kind.RESULT, result=second.result).first()
    assert str(result_row) == f"Result: {expected}"
    event = rows.filter(kind=Delivery.Kind.CALIPER_EVENT, attempt=second, payload__type="ActivityEvent").first()
    assert str(event) == f"Caliper ActivityEvent: {expected}"
    # Without its relations loaded a row names its key: a list never pays a query per row for its title.
    plain = Delivery.objects.get(pk=event.pk)
    assert str(plain) == f"Caliper ActivityEvent: {event.key}"

    page = admin_client.get(result_url(second.result)).content.decode()
    assert f"<title>Ada Lovelace – {activity.name} #2 | " in page.replace("&ndash;", "–")
    assert second.result.sourced_id not in page.split("<h2>", 1)[0].split('<div id="content"', 1)[-1]  # not in the title
    delivery_page = admin_client.get(reverse("admin:timeback_progress_delivery_change", args=[result_row.pk]))
    assert f"Result: {expected}" in delivery_page.content.decode()
    assert str(Attempt.objects.get(pk=second.pk)) in admin_client.get(ATTEMPTS).content.decode()
    assert student.sourced_id
