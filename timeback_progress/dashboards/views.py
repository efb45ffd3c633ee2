"""Teacher dashboards (server-rendered): course list, course overview, student
drill-down and the overview's CSV export.

Thin views: who may see what is decided in ``permissions``, the rows come
from ``queries``, their display values from ``display``, the query strings are
validated by ``forms``.
"""

from contextlib import nullcontext

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy as _
from django.views import View
from django.views.generic import TemplateView

from .. import permissions
from ..conf import app_settings
from ..gradebook import progress as progress_rows
from ..limits import MAX_ID
from ..models import Course, StudentProgress
from . import days, display, flags, forbidden, queries, student_queries, throttling
from .export import streaming_csv_response
from .forms import CourseFilterForm, OverviewFilterForm

OVERVIEW_COLUMNS = [
    ("name", _("Student")),
    ("xp", _("XP")),
    ("accuracy", _("Accuracy")),
    ("mastered", _("Units mastered")),
    ("progress", _("Course progress")),
    ("active", _("Active time")),
    ("completed", _("Completed")),
    ("last_activity", _("Last activity")),
    ("flags", _("Status")),
]
# Figures of the window when there is one (window_start/window_end say which; empty: all time).
CSV_HEADER = [
    "student_sourced_id", "given_name", "family_name", "email", "xp", "accuracy_percent",
    "mastered_units", "masterable_units", "course_progress_percent", "active_seconds",
    "inactive_seconds", "attempts", "completed_attempts", "last_activity", "struggling", "inactive",
    "flag_reasons", "window_start", "window_end",
]


class DashboardMixin(LoginRequiredMixin):
    """The rate first (a 429 page past it), then login, then the subclass's ``check_access``.

    ``check_access`` raises PermissionDenied (the styled 403 page,
    ``forbidden.html``, says why) or returns a response to send instead (a
    redirect), else None. The page renders in the dashboards' time zone
    (``DASHBOARD_TIME_ZONE``): rendered here, inside the zone, rather than by
    the handler after the view returns.
    """

    throttle_scope = "timeback_dashboard"

    def dispatch(self, request, *args, **kwargs):
        refused = throttling.refusal(request, self.throttle_scope)
        if refused is not None:
            return refused
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        zone = display.dashboard_zone()
        with timezone.override(zone) if zone else nullcontext():
            try:
                response = self.check_access(request, **kwargs) or super().dispatch(request, *args, **kwargs)
            except PermissionDenied as exc:
                response = forbidden.response(request, exc)
            if hasattr(response, "render"):
                response.render()
        return response

    def check_access(self, request, **kwargs):
        raise NotImplementedError


class CourseAccessMixin(DashboardMixin):
    """Loads ``self.course`` for users allowed to see it.

    The permission is checked before the course is fetched, so a teacher gets
    403 for any course they do not teach, existing or not.
    """

    def check_access(self, request, course_pk, **kwargs):
        if course_pk > MAX_ID:  # no such row; SQLite cannot even compare an integer that large
            raise Http404
        if not permissions.can_view_course(request.user, course_pk):
            raise PermissionDenied(gettext("You do not teach this course."))
        self.course = get_object_or_404(Course, pk=course_pk)


class FormErrorsAre400:
    """A page whose filter form has errors renders with status 400."""

    def render_to_response(self, context, **kwargs):
        if context["form"].errors:
            kwargs["status"] = 400
        return super().render_to_response(context, **kwargs)


class CourseListView(DashboardMixin, FormErrorsAre400, TemplateView):
    """The courses the signed-in user may see: staff all, teachers theirs."""

    template_name = "timeback_progress/course_list.html"

    def check_access(self, request, **kwargs):
        user = request.user
        if not user.is_staff and not permissions.courses_for(user).exists():
            if permissions.student_for(user) is not None:  # a student's dashboards: their own page
                return redirect("timeback_progress:my-progress")
            raise PermissionDenied(gettext("Only teachers and staff can see the dashboards."))

    def get_context_data(self, **kwargs):
        form = CourseFilterForm(self.request.GET or None)
        data = form.cleaned_data if form.is_valid() else {}
        courses = queries.course_rows(
            permissions.courses_for(self.request.user), search=data.get("q"), subject=data.get("subject")
        )
        page = Paginator(courses, app_settings.DASHBOARD_PAGE_SIZE).get_page(self.request.GET.get("page"))
        return super().get_context_data(
            form=form, page=page, courses=page.object_list, query=querystring(self.request), **kwargs
        )


class CourseOverviewView(CourseAccessMixin, FormErrorsAre400, TemplateView):
    """One row per student: XP, accuracy, mastery, progress, time, flags; all time or for a window."""

    template_name = "timeback_progress/course_overview.html"

    def get_context_data(self, **kwargs):
        now = timezone.now()
        form = OverviewFilterForm(self.request.GET, course=self.course)
        window, sort = form.window(), form.sort_key()
        rows = queries.filter_rows(
            queries.class_rows(self.course, now, section=form.section_id(), window=window), **form.row_filters()
        )
        page = Paginator(queries.sort_rows(rows, sort), app_settings.DASHBOARD_PAGE_SIZE).get_page(
            self.request.GET.get("page")
        )
        prefix = student_url_prefix(self.course)
        for row in page.object_list:
            display.decorate(row, self.course, now, prefix)
        students = queries.student_ids(rows)
        start, end = window or queries.chart_range(None, None)
        chart = queries.class_xp_per_day(self.course, start, end, students)
        query = querystring(self.request)
        return super().get_context_data(
            course=self.course,
            form=form,
            page=page,
            rows=page.object_list,
            columns=sort_headers(self.request, sort),
            window=window,
            figures=queries.class_figures(rows, self.course, window),
            weeks=days.week_comparison(self.course, students),
            chart=chart,
            chart_total=sum(chart["xp"]),
            chart_start=start,
            chart_end=end,
            zone=days.zone_name(),
            query=query,
            export_url=with_query(reverse("timeback_progress:course-export", args=[self.course.pk]), query),
            filtered=form.filtered(),
            struggling_attempts=app_settings.STRUGGLING_ATTEMPTS,
            inactive_days=app_settings.INACTIVE_DAYS,
            pass_mark=flags.pass_mark_text(),
            **kwargs,
        )


class CourseExportView(CourseAccessMixin, View):
    """The overview as a streamed CSV (same filters, window and sort, every page); its own, lower rate."""

    throttle_scope = "timeback_export"

    def get(self, request, course_pk):
        form = OverviewFilterForm(request.GET, course=self.course)
        if not form.is_valid():
            errors = "; ".join(e for errs in form.errors.values() for e in errs)
            return HttpResponseBadRequest(
                gettext("Invalid filter: %(errors)s") % {"errors": errors}, content_type="text/plain; charset=utf-8"
            )
        now, window = timezone.now(), form.window()
        rows = queries.filter_rows(
            queries.class_rows(self.course, now, section=form.section_id(), window=window), **form.row_filters()
        )
        rows = queries.sort_rows(rows, form.sort_key())
        filename = f"{self.course.sourced_id}-overview-{days.today():%Y-%m-%d}.csv"
        return streaming_csv_response(filename, CSV_HEADER, self.csv_lines(rows.iterator(chunk_size=500), now, window))

    def csv_lines(self, rows, now, window):
        course = self.course
        first, last = window or (None, None)
        for row in rows:
            yield [
                row.sourced_id, row.given_name, row.family_name, row.email,
                display.two_places(row.xp_total), display.row_accuracy(row),
                row.mastered_units, course.masterable_units, display.course_progress(row.course_mastered_units, course),
                row.active_seconds, row.inactive_seconds, row.attempts_count, row.completed_count,
                row.last_activity_at, row.is_struggling, row.is_inactive, "; ".join(flags.reasons(row, now)),
                first, last,
            ]


class StudentDetailView(CourseAccessMixin, TemplateView):
    """One student in one course: XP over time, accuracy by activity, attempts and why."""

    template_name = "timeback_progress/student_detail.html"

    def get_context_data(self, student_pk, **kwargs):
        course = self.course
        student = get_object_or_404(queries.enrolled_students(course), pk=student_pk)
        progress = StudentProgress.objects.filter(student=student, course=course).first()
        activities = [display.decorate_activity(row) for row in student_queries.activity_rows(student, course)]
        paginator = Paginator(queries.student_attempts(student, course), app_settings.DASHBOARD_ATTEMPTS_PAGE_SIZE)
        if progress is not None:
            paginator.count = progress.attempts_count  # maintained with the attempts: no COUNT over them
        page = paginator.get_page(self.request.GET.get("page"))
        for attempt in page.object_list:
            display.decorate_attempt(attempt)
        return super().get_context_data(
            course=course,
            student=student,
            progress=progress,
            progress_percent=display.course_progress(progress.mastered_units if progress else 0, course),
            stuck=bool(progress and flags.struggling(progress.failed_streak, progress.course_completed_at is not None)),
            activities=activities,
            mastered_activities=[a for a in activities if a["mastered"]],
            time=display.time_split(
                progress.active_seconds if progress else 0, progress.inactive_seconds if progress else 0
            ),
            chart=queries.student_xp_per_day(student, course),
            chart_zone=str(progress_rows.CHART_TZ()),
            page=page,
            attempts=page.object_list,
            query=querystring(self.request),
            **kwargs,
        )


# -- URL helpers -----------------------------------------------------------------


def student_url_prefix(course):
    """The student-detail URL up to the student's pk (one ``reverse`` per page)."""
    url = reverse("timeback_progress:student-detail", args=[course.pk, 0])
    return url[: -len("0/")]


def querystring(request, **changes):
    """The current query string without ``page``, with ``changes`` applied (None drops a key)."""
    params = request.GET.copy()
    params.pop("page", None)
    for key, value in changes.items():
        params.pop(key, None)
        if value is not None:
            params[key] = value
    return params.urlencode()


def with_query(url, query):
    return f"{url}?{query}" if query else url


def sort_headers(request, current):
    """Column headers with their toggle links and ``aria-sort`` state."""
    key = current.lstrip("-")
    descending = current.startswith("-")
    headers = []
    for name, label in OVERVIEW_COLUMNS:
        active = name == key
        # First click sorts numbers high-to-low and names A-Z; a second click flips it.
        default_desc = name != "name"
        next_desc = (not descending) if active else default_desc
        headers.append(
            {
                "key": name,
                "label": label,
                "aria_sort": ("descending" if descending else "ascending") if active else None,
                "url": "?" + querystring(request, sort=("-" if next_desc else "") + name),
            }
        )
    return headers
