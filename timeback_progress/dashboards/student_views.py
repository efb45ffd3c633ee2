"""The student's own page: a signed-in student's progress, and nobody else's.

A ``Student`` whose ``user`` is the signed-in user sees their XP today and
this week, their courses (XP, mastered units, course progress) and their
recent attempts with why each earned its XP. The teacher pages never admit
a student (they are no teacher of the course), their own drill-down
included: they get the styled 403, which links here.
"""

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.utils import formats, timezone
from django.utils.translation import gettext
from django.views.generic import TemplateView

from .. import permissions
from ..conf import app_settings
from ..gradebook import progress
from . import display, student_queries
from .views import DashboardMixin


class MyProgressView(DashboardMixin, TemplateView):
    """The signed-in student's own progress: a fixed handful of queries whatever their history."""

    template_name = "timeback_progress/student_home.html"

    def check_access(self, request, **kwargs):
        self.student = permissions.student_for(request.user)
        if self.student is None:
            raise PermissionDenied(gettext("This page shows students their own progress; this account is not a student’s."))

    def get_context_data(self, **kwargs):
        student = self.student
        courses = [display.decorate_own_course(course) for course in student_queries.own_courses(student)]
        course_ids = [course.pk for course in courses]
        # Days as the gradebook files completions (the chart's zone), the week as the locale starts it.
        today = progress.chart_day(timezone.now())[0]
        week_from = student_queries.week_start(today, formats.get_format("FIRST_DAY_OF_WEEK"))
        xp = student_queries.xp_since(student, course_ids, today, week_from)
        paginator = Paginator(student_queries.own_attempts(student, course_ids), app_settings.DASHBOARD_ATTEMPTS_PAGE_SIZE)
        paginator.count = sum(course.attempts_count for course in courses)  # kept with the attempts: no COUNT over them
        page = paginator.get_page(self.request.GET.get("page"))
        for attempt in page.object_list:
            display.decorate_attempt(attempt)
        return super().get_context_data(
            student=student,
            courses=courses,
            xp_today=display.number(xp["today"]),
            xp_week=display.number(xp["week"]),
            today=today,
            week_from=week_from,
            chart_zone=str(progress.CHART_TZ()),
            page=page,
            attempts=page.object_list,
            show_course=True,
            **kwargs,
        )
