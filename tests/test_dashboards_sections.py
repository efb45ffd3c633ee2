"""Sections: a course's OneRoster classes narrow the students every dashboard view lists."""

import pytest

from timeback_progress.dashboards import queries, sections
from timeback_progress.models import RosterClass
from tests.plugins.factories import enroll, make_student

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_sections(course):
    for sourced_id, title in (("cls-a", "Period 1"), ("cls-b", "Period 2")):
        RosterClass.objects.create(sourced_id=sourced_id, course=course, title=title)
    RosterClass.objects.create(sourced_id="cls-old", course=course, title="Last year", is_active=False)
    people = {}
    for name, section in (("Ann", "cls-a"), ("Bob", "cls-a"), ("Cy", "cls-b"), ("Dee", "")):
        people[name] = make_student(given_name=name)
        enroll(course, student=people[name], section=section)
    return people


def test_a_section_keeps_its_students_only(course, two_sections):
    names = lambda qs: sorted(s.given_name for s in qs)  # noqa: E731
    assert names(queries.enrolled_students(course)) == ["Ann", "Bob", "Cy", "Dee"]
    assert names(queries.enrolled_students(course, "cls-a")) == ["Ann", "Bob"]
    assert names(queries.enrolled_students(course, "cls-b")) == ["Cy"]


def test_choices_are_the_active_classes_by_title(course, two_sections):
    assert sections.choices(course) == [("cls-a", "Period 1"), ("cls-b", "Period 2")]


def test_the_field_refuses_another_courses_section(course, two_sections):
    field = sections.SectionField(course=course)
    assert field.has_sections
    assert field.clean("cls-b") == "cls-b" and field.clean("") == ""
    with pytest.raises(Exception, match="Select a valid choice"):
        field.clean("cls-old")


def test_a_course_without_classes_has_no_filter(db):
    from tests.plugins.factories import make_course

    field = sections.SectionField(course=make_course())
    assert not field.has_sections and field.choices == [("", "All sections")]
