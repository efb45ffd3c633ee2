"""The class views beside the overview: the student x activity grid and
"where the class struggles" (one row per activity), each with its CSV.

Thin views on the overview's access rule (``views.CourseAccessMixin``: staff
every course, teachers theirs, others 403): the rows come from ``grid`` and
``activities``, the query strings are checked by ``grid_forms`` (a bad value is
a 400 naming it, the page then shows the unfiltered class).
"""

from django.core.paginator import Paginator
from django.http import HttpResponseBadRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, gettext_lazy as _
from django.views import View
from django.views.generic import TemplateView

from ..conf import app_settings
from . import activities, grid
from .display import duration, number
from .export import streaming_csv_response
from .grid_forms import ActivitiesForm, GridForm
from .views import CourseAccessMixin, FormErrorsAre400, querystring, student_url_prefix, with_query

ACTIVITY_COLUMNS = [
    ("name", _("Activity"), False),
    ("attempted", _("Students attempted"), True),
    ("completed", _("Students completed"), True),
    ("never_passed", _("Never passed"), True),
    ("accuracy", _("Class accuracy"), True),
    ("mastery", _("Mastery rate"), True),
    ("to_master", _("Attempts to master"), True),
    ("time", _("Active time"), True),
]
ACTIVITIES_CSV_HEADER = [
    "activity_id", "name", "masterable_units", "students_attempted", "students_completed", "passive",
    "students_never_passed", "class_accuracy_percent", "students_mastered", "mastery_rate_percent",
    "average_attempts_to_master", "active_seconds", "most_students_fail",
]


def bad_request(form):
    """The export's 400: plain text naming each refused value (a download has no page to show it on)."""
    errors = "; ".join(e for errs in form.errors.values() for e in errs)
    return HttpResponseBadRequest(
        gettext("Invalid filter: %(errors)s") % {"errors": errors}, content_type="text/plain; charset=utf-8"
    )


def sort_link(request, current, key, first_descending):
    """A header's ``aria-sort`` state and link: the first click sorts ``first_descending``, the next flips it."""
    active = current.removeprefix("-") == key
    descending = current.startswith("-")
    next_desc = (not descending) if active else first_descending
    return {
        "aria_sort": ("descending" if descending else "ascending") if active else None,
        "url": "?" + querystring(request, sort=("-" if next_desc else "") + key),
    }


def grid_row(student, url, cells):
    """One row of the grid: the student, their page's URL and their cells' HTML, each linking there."""
    link = escape(url)
    return {"student": student, "url": url, "cells_html": mark_safe("".join(c.html(link) for c in cells))}


class CourseGridView(CourseAccessMixin, FormErrorsAre400, TemplateView):
    """Students x activities, one page of students at a time, each cell the student's state there."""

    template_name = "timeback_progress/course_grid.html"

    def get_context_data(self, **kwargs):
        course = self.course
        acts = list(activities.course_activities(course))
        form = GridForm(self.request.GET, course=course, activities=acts)
        sort = form.value("sort")
        students = grid.student_rows(course, form.value("section"), sort, form.sort_activity())
        page = Paginator(students, app_settings.DASHBOARD_PAGE_SIZE).get_page(form.value("page"))
        on_page = list(page.object_list)
        progress = grid.progress_rows(course, [s.pk for s in on_page])
        prefix = student_url_prefix(course)
        query = querystring(self.request)
        return super().get_context_data(
            course=course,
            course_view="grid",
            form=form,
            page=page,
            query=query,
            student_header=sort_link(self.request, sort, "name", False),
            activity_headers=[
                {"activity": a, **sort_link(self.request, sort, f"a{a.pk}", True)} for a in acts
            ],
            rows=[grid_row(s, f"{prefix}{s.pk}/", cells) for s, cells in grid.cells_for(on_page, acts, progress)],
            legend=[(grid.SYMBOLS[s], grid.LABELS[s], s) for s in grid.RANKS],
            export_url=with_query(reverse("timeback_progress:course-grid-export", args=[course.pk]), query),
            **kwargs,
        )


class CourseGridExportView(CourseAccessMixin, View):
    """The grid as a streamed CSV: same section and sort, every student; each cell in words."""

    throttle_scope = "timeback_export"

    def get(self, request, course_pk):
        course = self.course
        acts = list(activities.course_activities(course))
        form = GridForm(request.GET, course=course, activities=acts)
        if not form.is_valid():
            return bad_request(form)
        students = grid.student_rows(course, form.value("section"), form.value("sort"), form.sort_activity())
        rows = grid.chunked_cells(course, students.iterator(chunk_size=500), acts)
        header = ["student_sourced_id", "given_name", "family_name", *(a.name for a in acts)]
        filename = f"{course.sourced_id}-grid-{timezone.localdate():%Y-%m-%d}.csv"
        return streaming_csv_response(
            filename, header,
            ([s.sourced_id, s.given_name, s.family_name, *(c.text for c in cells)] for s, cells in rows),
        )


def decorate(row):
    """Display values for one ``activities.activity_rows`` row."""
    row["accuracy_display"] = number(row["accuracy"], suffix="%")
    row["mastery_display"] = number(row["mastery"], suffix="%")
    row["to_master_display"] = number(row["to_master"])
    row["time_display"] = duration(row["time"])
    return row


class CourseActivitiesView(CourseAccessMixin, FormErrorsAre400, TemplateView):
    """Where the class struggles: one row per activity, sortable by each column."""

    template_name = "timeback_progress/course_activities.html"

    def get_context_data(self, **kwargs):
        course = self.course
        form = ActivitiesForm(self.request.GET, course=course)
        sort = form.value("sort")
        rows = activities.sort_rows(activities.activity_rows(course, form.value("section")), sort)
        query = querystring(self.request)
        return super().get_context_data(
            course=course,
            course_view="activities",
            form=form,
            query=query,
            rows=[decorate(r) for r in rows],
            columns=[
                {"key": key, "label": label, "numeric": numeric, **sort_link(self.request, sort, key, numeric)}
                for key, label, numeric in ACTIVITY_COLUMNS
            ],
            flagged=sum(r["flagged"] for r in rows),
            threshold=app_settings.DASHBOARD_STRUGGLING_ACTIVITY_PERCENT,
            pass_mark=activities.pass_mark_text(),
            export_url=with_query(reverse("timeback_progress:course-activities-export", args=[course.pk]), query),
            **kwargs,
        )


class CourseActivitiesExportView(CourseAccessMixin, View):
    """The activities view as a streamed CSV (same section and sort)."""

    throttle_scope = "timeback_export"

    def get(self, request, course_pk):
        course = self.course
        form = ActivitiesForm(request.GET, course=course)
        if not form.is_valid():
            return bad_request(form)
        rows = activities.sort_rows(activities.activity_rows(course, form.value("section")), form.value("sort"))
        filename = f"{course.sourced_id}-activities-{timezone.localdate():%Y-%m-%d}.csv"
        return streaming_csv_response(filename, ACTIVITIES_CSV_HEADER, (self.line(r) for r in rows))

    @staticmethod
    def line(row):
        activity = row["activity"]
        return [
            activity.activity_id, activity.name, activity.masterable_units, row["attempted"], row["completed"],
            row["passive"], row["never_passed"], row["accuracy"], row["mastered"], row["mastery"], row["to_master"],
            row["time"], row["flagged"],
        ]
