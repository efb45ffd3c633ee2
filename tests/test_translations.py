"""Translations: the catalogue is complete and compiled, labels translate without migrations,
and a Spanish request gets Spanish messages, numbers and dates (issue 18, point 7).

The catalogue tests need GNU gettext (``xgettext``, ``msgmerge``, ``msgfmt``,
``msgattrib``); CI installs it (``.ci/run``), so they skip only on a machine without it.
"""

import io
import json
import re
import shutil
from datetime import date, datetime, timezone as dt_timezone
from decimal import Decimal

import pytest
from django.apps import apps
from django.core.management import call_command
from django.urls import reverse
from django.utils import formats, translation
from django.utils.functional import Promise

from timeback_progress.admin.roster import StudentAdmin
from timeback_progress.gradebook import attempts
from timeback_progress.models import Attempt, labels
from timeback_progress.outbox import held

from tests import i18n_check
from tests.plugins.factories import enroll, make_activity, make_student

needs_gettext = pytest.mark.skipif(
    bool(i18n_check.missing_tools()),
    reason=f"GNU gettext is not installed ({', '.join(i18n_check.missing_tools())}): apt-get install gettext",
)

ES = {"HTTP_ACCEPT_LANGUAGE": "es"}


@pytest.fixture(autouse=True)
def back_to_the_default_language():
    """LocaleMiddleware activates a request's language for the thread and leaves it: reset after each test."""
    yield
    translation.deactivate()


# -- the catalogue -----------------------------------------------------------------------


@needs_gettext
def test_the_catalogues_are_complete_checked_and_compiled():
    """Every marked string translated, none fuzzy, ``msgfmt --check`` clean, the .mo compiled from the .po."""
    assert i18n_check.languages() == ["es"]
    assert i18n_check.problems() == []


@pytest.fixture
def package_copy(tmp_path):
    copy = tmp_path / "timeback_progress"
    shutil.copytree(i18n_check.PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return copy


@needs_gettext
def test_the_check_finds_a_string_marked_since_the_catalogue_was_updated(package_copy):
    module = package_copy / "admin" / "base.py"
    module.write_text(module.read_text() + '\nPROBE = _("A label nobody has translated yet")\n')
    assert i18n_check.problems(package_copy) == ["es: untranslated: A label nobody has translated yet"]


@needs_gettext
def test_the_check_finds_a_translation_that_drops_a_placeholder(package_copy):
    po = package_copy / "locale" / "es" / "LC_MESSAGES" / "django.po"
    po.write_text(po.read_text().replace('msgstr "Página %(n)s de %(total)s"', 'msgstr "Página %(n)s"'))
    found = i18n_check.problems(package_copy)
    assert any("msgfmt --check refuses" in line and "'total'" in line for line in found), found
    assert any("is not compiled from django.po" in line for line in found), found


# -- labels ------------------------------------------------------------------------------


def app_models():
    return list(apps.get_app_config("timeback_progress").get_models())


def test_every_model_and_field_of_the_app_has_a_translatable_label():
    unlabelled = [
        f"{model.__name__}.{field.name}" for model in app_models() for field in model._meta.get_fields()
        if hasattr(field, "verbose_name") and not field.auto_created and not isinstance(field.verbose_name, Promise)
    ]
    unlabelled += [
        model.__name__ for model in app_models()
        if not isinstance(model._meta.verbose_name, Promise) or not isinstance(model._meta.verbose_name_plural, Promise)
    ]
    assert unlabelled == [], "add them to timeback_progress/models/labels.py"


def test_the_labels_read_in_english_exactly_as_django_would_name_the_fields():
    """The table only makes Django's own default labels translatable: English pages do not change."""
    with translation.override("en"):
        for model in app_models():
            for field in model._meta.local_fields:
                if field._verbose_name is None and not field.auto_created:
                    assert str(field.verbose_name) == field.name.replace("_", " "), (model.__name__, field.name)
            if "verbose_name" not in model._meta.original_attrs:
                default = "".join(f" {c.lower()}" if c.isupper() else c for c in model.__name__).strip()
                assert str(model._meta.verbose_name) == default


@pytest.mark.django_db
def test_the_labels_need_no_migration():
    """Labels set after the class exists leave every field's deconstruction (and so the migrations) alone."""
    out = io.StringIO()
    call_command("makemigrations", "timeback_progress", "--check", "--dry-run", stdout=out, stderr=io.StringIO())
    assert "No changes detected" in out.getvalue()


def test_labels_are_spanish_in_a_spanish_request():
    with translation.override("es"):
        assert str(Attempt._meta.verbose_name_plural) == "intentos"
        assert str(Attempt._meta.get_field("started_at").verbose_name) == "iniciado el"
        # The same English word, told apart by context: an outbox row's tries are not a student's attempts.
        delivery = apps.get_model("timeback_progress", "Delivery")
        assert str(delivery._meta.get_field("attempts").verbose_name) == "intentos de envío"
    assert labels.FIELD_LABELS["started_at"] == "started at"


# -- Spanish requests -----------------------------------------------------------------------


def post(client, name, body, args=(), **extra):
    path = reverse(f"timeback_progress_api:{name}", args=args)
    return client.post(path, json.dumps(body), content_type="application/json", **extra)


def test_api_errors_follow_accept_language(api_world, client_for):
    w = api_world
    client = client_for(w.ann.user)
    pk = post(client, "attempt-start", {"studentSourcedId": w.ann.sourced_id, "activityId": w.quiz.activity_id}).json()["id"]
    bad = {"totalQuestions": 3, "correctQuestions": 5}

    spanish = post(client, "attempt-complete", bad, args=[pk], **ES)
    assert spanish.status_code == 400
    assert spanish.json() == {"correctQuestions": ["No puede superar totalQuestions."]}
    assert spanish["Content-Language"] == "es"
    # DRF's own messages come from DRF's catalogue, in the same language.
    assert post(client, "attempt-complete", {}, args=[pk], **ES).json()["totalQuestions"] == ["Este campo es requerido."]
    assert post(client, "attempt-complete", bad, args=[pk]).json() == {"correctQuestions": ["Cannot exceed totalQuestions."]}

    missing = client.get(reverse("timeback_progress_api:attempt-detail", args=[pk + 1000]), **ES)
    assert missing.status_code == 404 and missing.json() == {"detail": "Ese intento no existe."}


def test_gradebook_refusals_are_in_the_active_language(student, activity):
    with translation.override("es"), pytest.raises(attempts.AttemptError) as refusal:
        attempts.record_attempt(student, activity, total_questions=2, correct_questions=3)
    assert str(refusal.value) == "correctQuestions no puede superar totalQuestions."


def test_the_admin_changelist_in_spanish(admin_client, student, activity):
    attempts.record_attempt(student, activity, total_questions=4, correct_questions=3, active_seconds=60)
    page = admin_client.get(reverse("admin:timeback_progress_attempt_changelist"), **ES).content.decode()
    for phrase in ("Iniciado el", "completado el", "XP obtenida",  # completed at: the filter (the state is the column) "Recalcular la XP de los intentos seleccionados",
                   "Progreso en Timeback", "completado"):
        assert phrase in page, phrase
    english = admin_client.get(reverse("admin:timeback_progress_attempt_changelist")).content.decode()
    assert "Started at" in english and "Iniciado el" not in english


def test_numbers_and_dates_follow_the_active_locale():
    moment = datetime(2024, 11, 7, 15, 30, tzinfo=dt_timezone.utc)
    with translation.override("es"):
        assert formats.localize(Decimal("1234.50")) == "1234,50"
        assert formats.date_format(date(2024, 11, 7)) == "7 de noviembre de 2024"
        assert formats.date_format(moment, "SHORT_DATETIME_FORMAT") == "07/11/2024 15:30"
    with translation.override("en"):
        assert formats.localize(Decimal("1234.50")) == "1234.50"
        assert formats.date_format(date(2024, 11, 7)) == "Nov. 7, 2024"


def test_admin_figures_use_the_locale_decimal_separator(admin_client, student, activity):
    row = type("Row", (), {"xp_sum": Decimal("12.5"), "accuracy_pct": 87.25})()
    admin = StudentAdmin(apps.get_model("timeback_progress", "Student"), None)
    with translation.override("es"):
        assert (admin.xp(row), admin.accuracy(row)) == ("12,50", "87,2\u00a0%")
    with translation.override("en"):
        assert (admin.xp(row), admin.accuracy(row)) == ("12.50", "87.2%")
    attempts.record_attempt(student, activity, total_questions=4, correct_questions=3, active_seconds=60)
    xp = Attempt.objects.get().xp_earned
    page = admin_client.get(reverse("admin:timeback_progress_student_change", args=[student.pk]), **ES).content.decode()
    assert f"{xp:.2f}".replace(".", ",") in page


def test_held_reasons_are_stored_in_the_site_language_whatever_the_request(settings):
    """The admin groups held rows by this text: one request in Spanish must not split a student's rows."""
    event = {"actor": {"id": "https://example.test/ims/oneroster/rostering/v1p2/users/s-1"}}
    with translation.override("es"):
        assert held.reason(event).startswith("held: student s-1 has no email")
    settings.LANGUAGE_CODE = "es"
    assert held.reason(event).startswith("retenido: el estudiante s-1 no tiene correo")


# -- the dashboards (the lead turns this on after the dashboards merge) ----------------------------------

# Phrases a Spanish teacher must see on the course overview; extend with the new views' headings.
OVERVIEW_PHRASES = ["Estudiantes", "XP de la clase", "Precisión", "Progreso del curso", "Tiempo activo",
                    "Descargar CSV", '<html lang="es"', "Cifras de la clase", "Esta semana frente a la anterior",
                    "Filtrar estudiantes", "Con dificultades", "XP de la clase por día", "75,0\u00a0%"]


def test_the_course_overview_renders_in_spanish(client, users):
    course = users["course"]
    activity = make_activity(course)
    student = make_student(given_name="Ana", family_name="Ávila")
    enroll(course, student=student)
    attempts.record_attempt(student, activity, total_questions=4, correct_questions=3, active_seconds=60)
    client.force_login(users["teacher"])
    page = client.get(reverse("timeback_progress:course-overview", args=[course.pk]), **ES)
    assert page.status_code == 200
    html = page.content.decode()
    missing = [phrase for phrase in OVERVIEW_PHRASES if phrase not in html]
    assert missing == []
    text = re.sub(r"<script.*?</script>|<[^>]+>", " ", html, flags=re.S)
    english = [w for w in ("Student", "Class figures", "This week", "Accuracy", "Download", "Filter", "never")
               if re.search(rf"\b{w}\b", text)]
    assert english == [], english
