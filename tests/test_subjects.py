"""Subjects: an app's names map onto Timeback's list, and anything else is refused where it is entered."""

import logging
from decimal import Decimal

import pytest
from django import forms
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test import override_settings
from django.urls import reverse

from tests.plugins.factories import make_activity, make_course
from tests.plugins.roster import RosterSchool
from timeback_progress.checks import check_settings
from timeback_progress.models import Activity, Course, RosterClass
from timeback_progress.contrib.sandbox.rostering import generate_roster
from timeback_progress.subjects import SUBJECTS, to_timeback
from timeback_progress.timeback import caliper

MAP = {"Maths": "Math", "ELA": "Language", "History ": "Social Studies"}


@pytest.fixture
def subject_map(settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "SUBJECT_MAP": MAP}


def message(exc_info):
    return " ".join(exc_info.value.messages)


# -- the mapping -------------------------------------------------------------------


def test_timeback_subjects_are_taken_as_they_are_ignoring_case_and_spaces():
    assert SUBJECTS == ("Reading", "Language", "Vocabulary", "Social Studies", "Writing", "Science", "FastMath",
                        "Math", "None", "Other")
    assert [to_timeback(s) for s in SUBJECTS] == list(SUBJECTS)
    assert to_timeback("  social studies ") == "Social Studies"
    assert to_timeback("FASTMATH") == "FastMath"


def test_subject_map_keys_match_exactly_then_ignoring_case(subject_map):
    assert to_timeback("Maths") == "Math"
    assert to_timeback(" maths ") == "Math"
    assert to_timeback("ela") == "Language"
    assert to_timeback("history") == "Social Studies"  # the key's own spaces do not count either


def test_a_timeback_subject_is_never_remapped(settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "SUBJECT_MAP": {"Math": "FastMath", "math": "Science"}}
    assert to_timeback("Math") == to_timeback("math") == "Math"


def test_an_unknown_name_is_refused_naming_it_the_subjects_and_the_setting(subject_map):
    with pytest.raises(ValidationError) as exc:
        to_timeback("Astrology")
    assert exc.value.code == "invalid_subject"
    text = message(exc)
    assert '"Astrology" is not a Timeback subject' in text
    assert ", ".join(SUBJECTS) in text and "TIMEBACK_PROGRESS['SUBJECT_MAP']" in text
    for value in ("", None, 7, ["Math"], "100%"):
        with pytest.raises(ValidationError):
            to_timeback(value)


def test_a_map_entry_onto_a_non_subject_is_refused_saying_so(settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "SUBJECT_MAP": {"Maths": "Mathematics"}}
    with pytest.raises(ValidationError) as exc:
        to_timeback("maths")
    assert "maps \"maths\" to \"Mathematics\", which is not a Timeback subject" in message(exc)


# -- models --------------------------------------------------------------------------


def unsaved_activity(course, **kw):
    return Activity(activity_id="a-1", name="Quiz", course=course, app_name="App", expected_xp=Decimal(5), **kw)


@pytest.mark.django_db
def test_full_clean_maps_a_name_and_refuses_an_unknown_one_on_the_field(subject_map):
    course = Course(sourced_id="c-1", title="Maths 5", subject="Maths")
    course.full_clean()
    assert course.subject == "Math"
    activity = unsaved_activity(make_course(), subject="astrology")
    with pytest.raises(ValidationError) as exc:
        activity.full_clean()
    assert list(exc.value.message_dict) == ["subject"]
    assert '"astrology" is not a Timeback subject' in exc.value.message_dict["subject"][0]


@pytest.mark.django_db
def test_save_maps_and_refuses_so_code_skipping_validation_stores_only_timeback_subjects(subject_map):
    course = make_course(subject="maths")
    assert course.subject == "Math"
    assert Course.objects.get(pk=course.pk).subject == "Math"
    activity = make_activity(course, subject="ELA")
    assert Activity.objects.values_list("subject", flat=True).get(pk=activity.pk) == "Language"

    with pytest.raises(ValidationError, match="is not a Timeback subject"):
        make_course(sourced_id="bad", subject="Astrology")
    course.subject = "Astrology"
    with pytest.raises(ValidationError):
        course.save()
    course.title = "Kept"  # still subject "Astrology" in memory
    course.save(update_fields=["title"])  # the subject is not written, so not checked
    assert Course.objects.values_list("title", "subject").get(pk=course.pk) == ("Kept", "Math")
    # Refused inside the write, like a database error: the caller's transaction must roll back.
    with pytest.raises(ValidationError), transaction.atomic():
        Course.objects.bulk_create([Course(sourced_id="bulk", title="Bulk", subject="Astrology")])
    with pytest.raises(ValidationError), transaction.atomic():
        Course.objects.filter(pk=course.pk).update(subject="Astrology")
    Course.objects.filter(pk=course.pk).update(subject="ela")
    assert set(Course.objects.values_list("sourced_id", "subject")) == {(course.sourced_id, "Language")}
    assert Course.objects.filter(subject="maths").count() == 0 and Course.objects.filter(subject="ELA").count() == 1


@pytest.mark.django_db
def test_a_host_model_form_offers_timeback_subjects_and_accepts_mapped_names(subject_map):
    CourseForm = forms.modelform_factory(Course, fields=["sourced_id", "title", "subject"])
    assert [value for value, _label in CourseForm().fields["subject"].choices] == list(SUBJECTS)
    form = CourseForm({"sourced_id": "c-1", "title": "T", "subject": "Maths"})
    assert form.is_valid(), form.errors
    assert form.save().subject == "Math"
    form = CourseForm({"sourced_id": "c-2", "title": "T", "subject": "Astrology"})
    assert not form.is_valid()
    assert '"Astrology" is not a Timeback subject' in form.errors["subject"][0]


# -- admin ---------------------------------------------------------------------------


def course_post(**changes):
    data = {"sourced_id": "new-course", "title": "New course", "subject": "Math", "grade": "05", "total_xp": "100",
            "masterable_units": "2", "is_active": "on", "date_last_modified_0": "", "date_last_modified_1": ""}
    data.update(changes)
    return data


@pytest.mark.django_db
def test_admin_refuses_an_unknown_subject_with_a_form_error_and_changes_nothing(admin_client, subject_map):
    add = reverse("admin:timeback_progress_course_add")
    page = admin_client.get(add)
    assert [v for v, _label in page.context["adminform"].form.fields["subject"].choices] == list(SUBJECTS)

    response = admin_client.post(add, course_post(subject="Astrology"))
    assert response.status_code == 200
    assert '"Astrology" is not a Timeback subject' in response.context["adminform"].form.errors["subject"][0]
    assert not Course.objects.exists()

    course = make_course(subject="Reading")
    activity = make_activity(course, subject="Reading")
    change = reverse("admin:timeback_progress_activity_change", args=[activity.pk])
    data = {"activity_id": activity.activity_id, "name": "Renamed", "course": course.pk, "subject": "Astrology",
            "app_name": "App", "expected_xp": "5", "masterable_units": "1", "is_graded": "on",
            "line_item_sourced_id": activity.line_item_sourced_id, "component_resource_sourced_id": "", "is_active": "on"}
    response = admin_client.post(change, data)
    assert response.status_code == 200 and "subject" in response.context["adminform"].form.errors
    name = activity.name
    activity.refresh_from_db()
    assert (activity.name, activity.subject) == (name, "Reading")

    assert admin_client.post(change, {**data, "subject": "maths"}).status_code == 302
    activity.refresh_from_db()
    assert (activity.name, activity.subject) == ("Renamed", "Math")


# -- dashboards' filter --------------------------------------------------------------


def test_dashboard_subject_filter_takes_mapped_names_and_refuses_others(client, users, subject_map):
    make_course(title="Reading Rockets", subject="Reading")
    make_course(title="Number Ninjas", subject="Math")
    client.force_login(users["staff"])
    course_list = reverse("timeback_progress:course-list")
    titles = {c.title for c in client.get(course_list, {"subject": "maths"}).context["courses"]}
    assert "Number Ninjas" in titles and "Reading Rockets" not in titles
    response = client.get(course_list, {"subject": "Astrology"})
    assert response.status_code == 400
    assert "is not a Timeback subject" in response.content.decode().replace("&quot;", '"')


# -- events ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_events_carry_the_stored_subject_and_a_row_written_around_the_model_is_logged(caplog):
    activity = make_activity(make_course(subject="Science"))
    assert caliper.activity_context(activity)["subject"] == "Science"
    with connection.cursor() as cursor:  # as data written before subjects were checked could be
        cursor.execute(f"UPDATE {Activity._meta.db_table} SET subject = %s WHERE id = %s", ["Astrology", activity.pk])
    activity.refresh_from_db()
    with caplog.at_level(logging.ERROR, logger="timeback_progress.caliper"):
        assert caliper.activity_context(activity)["subject"] == "Other"
    assert activity.activity_id in caplog.text and "'Astrology'" in caplog.text


# -- roster import ---------------------------------------------------------------------


@pytest.fixture
def school_with_subjects(sandbox, db, settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "SUBJECT_MAP": MAP}
    data = generate_roster(6)
    subjects = {"math-grade-5": ["Maths"], "reading-grade-5": ["Astrology", "Basket weaving"], "science-grade-5": []}
    for course in data["courses"]:
        course["subjects"] = subjects[course["sourcedId"]]
    return RosterSchool(sandbox, data)


def test_roster_course_with_no_mappable_subject_is_skipped_with_the_reason(school_with_subjects):
    summary = school_with_subjects.run()

    assert dict(Course.objects.values_list("sourced_id", "subject")) == {"math-grade-5": "Math", "science-grade-5": "Other"}
    reasons = {(s["kind"], s["sourcedId"]): s["reason"] for s in summary.skipped}
    reason = reasons[("courses", "reading-grade-5")]
    assert "'Astrology', 'Basket weaving'" in reason and "Social Studies" in reason and "SUBJECT_MAP" in reason
    # Nothing of that course is written: its class (and so its enrollments) cannot be placed either.
    assert reasons[("classes", "reading-grade-5-class-a")] == "course 'reading-grade-5' is not in the local roster"
    assert not RosterClass.objects.filter(course__sourced_id="reading-grade-5").exists()


def test_roster_update_with_no_mappable_subject_keeps_the_stored_course(school_with_subjects):
    school_with_subjects.run()
    school_with_subjects.touch("courses", "math-grade-5", title="Renamed", subjects=["Astrology"])
    school_with_subjects.touch("courses", "science-grade-5", subjects=["Astrology", "  science "])

    summary = school_with_subjects.run()

    assert [s["sourcedId"] for s in summary.skipped if s["kind"] == "courses"] == ["math-grade-5"]
    assert Course.objects.values_list("title", "subject").get(sourced_id="math-grade-5") == ("Math Grade 5", "Math")
    assert Course.objects.get(sourced_id="science-grade-5").subject == "Science"


# -- system check -----------------------------------------------------------------------


def e007(subject_map):
    with override_settings(TIMEBACK_PROGRESS={"SUBJECT_MAP": subject_map}):
        return [e for e in check_settings() if e.id == "timeback_progress.E007"]


def test_check_lists_subject_map_entries_timeback_would_refuse_or_that_never_apply():
    assert e007(MAP) == [] and e007({}) == [] and e007({"math": "Math"}) == []
    assert "must be a dict, not list" in e007(["Math"])[0].msg
    (error,) = e007({"Maths": "Mathematics", "Art": None, "Sci": "science", "Math": "FastMath", 3: "Math"})
    assert "'Maths': 'Mathematics', 'Art': None, 'Sci': 'science'" in error.msg
    assert "these keys are Timeback subjects, which are never remapped: 'Math'" in error.msg
    assert "keys must be strings" in error.msg
    assert "FastMath" in error.hint
