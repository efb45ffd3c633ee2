"""The dashboards beside the overview render in Spanish: the student's own page, the 403,
the grid, the class-by-activity view and the course list, with Spanish numbers ('92,0 %')."""

from decimal import Decimal

import pytest
from django.urls import reverse

from tests import test_dashboards_grid as grid_tests, test_student_pages as student_tests

# The fixtures of the pages' own tests: the same class and the same student, seen in Spanish.
klass, lesson, pupil = grid_tests.klass, student_tests.lesson, student_tests.pupil

pytestmark = pytest.mark.django_db
ES = {"HTTP_ACCEPT_LANGUAGE": "es"}
PCT = "\u00a0%"  # Spanish writes a space (non-breaking) before the percent sign


def missing(html, phrases):
    return [p for p in phrases if p not in html]


def test_the_students_own_page_in_spanish(client, pupil):
    client.force_login(pupil["ada"].user)
    html = client.get("/progress/me/", **ES).content.decode()
    assert '<html lang="es">' in html
    assert not missing(html, [
        "Mi progreso", "XP de hoy", "XP de esta semana", "Mis cursos", "Unidades dominadas", "Progreso del curso",
        "Mis intentos", "Por qué", "Correctas", "Cerrar sesión", "Saltar al contenido", "Hecho",
        f"92,0{PCT}", f"60{PCT}", "×1,25",
    ])
    assert "Corregir" not in html  # the admin's verb, not the column of correct answers


def test_the_students_own_page_keeps_english_numbers_in_english(client, pupil):
    client.force_login(pupil["ada"].user)
    html = client.get("/progress/me/").content.decode()
    assert '<html lang="en' in html
    assert "92.0%" in html and "60%" in html and "×1.25" in html


def test_the_403_in_spanish(client, pupil):
    client.force_login(pupil["ada"].user)
    response = client.get(reverse("timeback_progress:course-overview", args=[pupil["course"].pk]), **ES)
    assert response.status_code == 403
    assert not missing(response.content.decode(), [
        "No puede ver esta página", "Inició sesión como", "Como estudiante, puede ver su propio progreso", "Mi progreso",
    ])


def test_the_student_detail_counts_in_spanish(client, pupil):
    client.force_login(pupil["teacher"])
    html = client.get(reverse("timeback_progress:student-detail", args=[pupil["course"].pk, pupil["ada"].pk]), **ES).content.decode()
    assert not missing(html, [
        "(7 completados)", "(2 unidades)", "(1 unidad)", "Precisión por actividad", "Ruta de navegación",
        'data-label-day="XP de ese día"', 'data-label-total="XP total"',  # the chart's series (dashboard.js)
    ])


def test_the_grid_in_spanish(client, klass):
    client.force_login(klass["teacher"])
    html = client.get(reverse("timeback_progress:course-grid", args=[klass["course"].pk]), **ES).content.decode()
    assert not missing(html, [
        "Leyenda", "Sin empezar", "En curso", "Completado", "Dominado", "3 estudiantes", "Descargar CSV",
        "Resumen", "Cuadrícula", f'title="Dominado 100,0{PCT}"', f'title="Completado 50,0{PCT}"',
    ])


def test_a_refused_sort_is_explained_in_spanish(client, klass):
    client.force_login(klass["teacher"])
    response = client.get(reverse("timeback_progress:course-grid", args=[klass["course"].pk]) + "?sort=zz", **ES)
    assert response.status_code == 400
    assert "Orden: Ordene por nombre o por una de las actividades de este curso." in response.content.decode()


def test_the_activities_view_in_spanish(client, klass):
    client.force_login(klass["teacher"])
    html = client.get(reverse("timeback_progress:course-activities", args=[klass["course"].pk]), **ES).content.decode()
    assert not missing(html, [
        "Estudiantes que la intentaron", "Precisión de la clase", "Tasa de dominio", "Intentos hasta dominarla",
        "sin preguntas", "1 terminó", f"62,5{PCT}", "0 actividades marcadas",
    ])


def test_the_course_list_in_spanish(client, klass):
    client.force_login(klass["teacher"])
    html = client.get(reverse("timeback_progress:course-list"), **ES).content.decode()
    assert not missing(html, ["Cursos", "Los cursos en los que usted es docente.", "Estudiantes", "XP de la clase", "Filtrar"])


@pytest.mark.parametrize("language, expected", [("en", "66.7%"), ("es", "66,7\xa0%")])
def test_numbers_are_rounded_half_up_not_cut(language, expected):
    from django.utils import translation

    from timeback_progress.dashboards import display

    with translation.override(language):
        assert display.number(Decimal("66.67"), 1, suffix="%") == expected
        assert display.number(Decimal("0.05"), 1) == ("0.1" if language == "en" else "0,1")
