"""Teacher dashboards (server-rendered): course list, course overview, student
drill-down and the overview's CSV export.

The class pages read the aggregates ``gradebook`` maintains (StudentProgress,
DailyProgress) and never scan attempts, so a page costs the same handful of
queries at 10 students or 10,000. Who may see what is decided in
``permissions`` and nowhere else.
"""

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from django import forms
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DecimalField,
    F,
    FilteredRelation,
    Max,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from . import permissions
from .gradebook import derivation
from .conf import app_settings
from .export import streaming_csv_response
from .models import Attempt, Course, DailyProgress, Enrollment, Student, StudentProgress
from .subjects import SUBJECT_CHOICES, SubjectChoiceField

STUDENT = Enrollment.Role.STUDENT

# Sort key in the URL -> model/annotation fields. Anything else is refused,
# so a crafted ``?sort=`` can never order by an arbitrary column.
OVERVIEW_SORTS = {
    "name": ("family_name", "given_name"),
    "xp": ("xp_total",),
    "accuracy": ("accuracy",),
    "mastered": ("mastered_units",),
    "progress": ("xp_total",),  # progress is XP over the course's fixed total
    "active": ("active_seconds",),
    "attempts": ("attempts_count",),
    "last_activity": ("last_activity_at",),
    "stuck": ("is_stuck", "failed_streak"),
}
OVERVIEW_COLUMNS = [
    ("name", "Student"),
    ("xp", "XP"),
    ("accuracy", "Accuracy"),
    ("mastered", "Mastered units"),
    ("progress", "Course progress"),
    ("active", "Active time"),
    ("attempts", "Attempts"),
    ("last_activity", "Last activity"),
    ("stuck", "Status"),
]
CSV_HEADER = [
    "student_sourced_id", "given_name", "family_name", "email", "xp", "accuracy_percent",
    "mastered_units", "masterable_units", "course_progress_percent", "active_seconds",
    "inactive_seconds", "attempts", "completed_attempts", "last_activity", "stuck", "stuck_reason",
]


# -- forms ------------------------------------------------------------------------


class OverviewFilterForm(forms.Form):
    """The overview's query string; invalid values are reported, never guessed."""

    q = forms.CharField(required=False, max_length=100, label="Search by name")
    start = forms.DateField(required=False, label="Active from", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, label="Active until", widget=forms.DateInput(attrs={"type": "date"}))
    stuck = forms.BooleanField(required=False, label="Stuck only")
    sort = forms.ChoiceField(
        required=False,
        choices=[(p + k, p + k) for k in OVERVIEW_SORTS for p in ("", "-")],
        widget=forms.HiddenInput,
    )

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise forms.ValidationError("The start date must not be after the end date.")
        return data


class CourseFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Search courses")
    # A SUBJECT_MAP name filters by its Timeback subject; anything else is a 400 naming the accepted ones.
    subject = SubjectChoiceField(required=False, choices=[("", "All subjects"), *SUBJECT_CHOICES], label="Subject")


# -- queries --------------------------------------------------------------------


def day_bounds(start, end):
    """Aware datetimes covering local days ``start``..``end`` (either may be None)."""
    tz = timezone.get_current_timezone()
    low = timezone.make_aware(dt.datetime.combine(start, dt.time.min), tz) if start else None
    high = timezone.make_aware(dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min), tz) if end else None
    return low, high


def stuck_cutoff(now=None):
    return (now or timezone.now()) - dt.timedelta(days=app_settings.STUCK_INACTIVE_DAYS)


def class_rows(course, now=None):
    """One row per student actively enrolled in ``course``, with their aggregates.

    A single query: the StudentProgress row is left-joined (students who have
    not started yet still appear, with zeros) and ``is_stuck`` is computed in SQL
    so it can be sorted and filtered on.
    """
    cutoff = stuck_cutoff(now)
    stuck = (
        Q(failed_streak__gte=app_settings.STUCK_FAILED_ATTEMPTS)
        | Q(last_activity_at__lt=cutoff)
        | Q(last_activity_at__isnull=True, enrolled_at__lt=cutoff)
    )
    xp_field = DecimalField(max_digits=12, decimal_places=2)
    return (
        Student.objects.filter(enrollments__course=course, enrollments__role=STUDENT, enrollments__is_active=True)
        .annotate(p=FilteredRelation("progress", condition=Q(progress__course=course)))
        .annotate(
            enrolled_at=F("enrollments__created_at"),
            xp_total=Coalesce("p__xp_total", Value(Decimal(0)), output_field=xp_field),
            accuracy=F("p__accuracy"),
            mastered_units=Coalesce("p__mastered_units", 0),
            active_seconds=Coalesce("p__active_seconds", 0),
            inactive_seconds=Coalesce("p__inactive_seconds", 0),
            attempts_count=Coalesce("p__attempts_count", 0),
            completed_count=Coalesce("p__completed_count", 0),
            failed_streak=Coalesce("p__failed_streak", 0),
            last_activity_at=F("p__last_activity_at"),
        )
        .annotate(is_stuck=Case(When(stuck, then=Value(True)), default=Value(False), output_field=BooleanField()))
    )


def filter_rows(rows, data):
    """Apply the cleaned OverviewFilterForm ``data``: search, activity dates, stuck."""
    for term in (data.get("q") or "").split():
        rows = rows.filter(
            Q(given_name__icontains=term)
            | Q(family_name__icontains=term)
            | Q(email__icontains=term)
            | Q(sourced_id__icontains=term)
        )
    low, high = day_bounds(data.get("start"), data.get("end"))
    if low:
        rows = rows.filter(last_activity_at__gte=low)
    if high:
        rows = rows.filter(last_activity_at__lt=high)
    if data.get("stuck"):
        rows = rows.filter(is_stuck=True)
    return rows


def sort_rows(rows, sort):
    key = (sort or "name").lstrip("-")
    descending = (sort or "").startswith("-")
    fields = OVERVIEW_SORTS[key]
    order = [F(f).desc(nulls_last=True) if descending else F(f).asc(nulls_last=True) for f in fields]
    return rows.order_by(*order, "family_name", "given_name", "pk")


def class_figures(rows, course):
    """Headline figures over ``rows`` (one aggregate query)."""
    agg = rows.order_by().aggregate(
        students=Count("pk"),
        xp=Sum("xp_total"),
        questions=Sum("p__total_questions"),
        correct=Sum("p__correct_questions"),
        mastered=Sum("mastered_units"),
        active=Sum("active_seconds"),
        inactive=Sum("inactive_seconds"),
        attempts=Sum("attempts_count"),
        stuck=Count("pk", filter=Q(is_stuck=True)),
    )
    students = agg["students"]
    xp = Decimal(agg["xp"] or 0)
    average_xp = xp / students if students else Decimal(0)
    return {
        "students": students,
        "xp": xp,
        "average_xp": average_xp,
        "accuracy": percent(agg["correct"], agg["questions"]),
        "average_progress": percent(average_xp, course.total_xp),
        "mastered": agg["mastered"] or 0,
        "average_mastered": (agg["mastered"] or 0) / students if students else 0,
        "active": duration(agg["active"] or 0),
        "attempts": agg["attempts"] or 0,
        "stuck": agg["stuck"],
    }


def chart_range(start, end, today=None):
    """The days the class chart covers: the chosen range, else the last N days."""
    today = today or timezone.localdate()
    span = dt.timedelta(days=app_settings.DASHBOARD_CHART_DAYS - 1)
    if start and end:
        return start, end
    if start:
        return start, max(start, today)
    end = end or today
    return end - span, end


def class_xp_per_day(course, start, end):
    """``{"labels": [...iso days], "xp": [...]}`` for the class, gaps filled with 0."""
    totals = dict(
        DailyProgress.objects.filter(course=course, day__gte=start, day__lte=end)
        .values("day")
        .annotate(total=Sum("xp"))
        .order_by("day")
        .values_list("day", "total")
    )
    if (end - start).days > 366:  # a long range: plot only days with XP
        days = sorted(totals)
    else:
        days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
    return {"labels": [d.isoformat() for d in days], "xp": [float(totals.get(d) or 0) for d in days]}


def student_xp_per_day(daily):
    """Chart data from ``[(day, xp), ...]``: every day from the first to the last
    active one (gaps as 0, up to a year; longer spans plot active days only)."""
    totals = dict(daily)
    if not totals:
        return {"labels": [], "xp": [], "cumulative": []}
    first, last = min(totals), max(totals)
    if (last - first).days > 366:
        days = sorted(totals)
    else:
        days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    running, xp, cumulative = Decimal(0), [], []
    for day in days:
        running += totals.get(day) or 0
        xp.append(float(totals.get(day) or 0))
        cumulative.append(float(running))
    return {"labels": [d.isoformat() for d in days], "xp": xp, "cumulative": cumulative}


# -- formatting -------------------------------------------------------------------


def percent(part, whole):
    if not whole:
        return None
    return (Decimal(part or 0) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def two_places(value):
    """Decimals as the database stores them (SQLite drops trailing zeros)."""
    return None if value is None else Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def duration(seconds):
    """Compact human duration: '2 h 05 min', '12 min', '40 s'."""
    seconds = int(seconds or 0)
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"


def stuck_reasons(row, now=None):
    """Why a row is flagged, in words (the SQL ``is_stuck`` says whether)."""
    reasons = []
    if row.failed_streak >= app_settings.STUCK_FAILED_ATTEMPTS:
        reasons.append(f"{row.failed_streak} attempts in a row under 80%")
    cutoff = stuck_cutoff(now)
    if row.last_activity_at and row.last_activity_at < cutoff:
        days = ((now or timezone.now()) - row.last_activity_at).days
        reasons.append(f"no activity for {days} days")
    elif not row.last_activity_at and row.enrolled_at and row.enrolled_at < cutoff:
        reasons.append("no activity since enrolling")
    return reasons


def number(value, places=1, suffix=""):
    """'1,234.5' (or '–' for None). Formatting here, not with template filters,
    keeps a 50-row page cheap to render."""
    if value is None:
        return "–"
    return f"{Decimal(value):,.{places}f}{suffix}"


def short_number(value):
    """Up to two decimals without trailing zeros: 12.5, 10, 0.25."""
    if value is None:
        return "–"
    text = f"{Decimal(value):.2f}".rstrip("0").rstrip(".")
    return text or "0"


def when(value):
    """'Nov 25, 2026 09:30' in the current time zone, or None."""
    if value is None:
        return None
    local = timezone.localtime(value)
    return f"{local:%b} {local.day}, {local:%Y %H:%M}"


def row_url(prefix, pk):
    return f"{prefix}{pk}/"


def student_url_prefix(course):
    """The student-detail URL up to the student's pk (one ``reverse`` per page)."""
    url = reverse("timeback_progress:student-detail", args=[course.pk, 0])
    return url[: -len("0/")]


def decorate(row, course, now, url_prefix=None):
    """Display values for one overview row."""
    row.progress_percent = percent(row.xp_total, course.total_xp)
    row.progress_bar = str(min(row.progress_percent or 0, 100))  # an attribute: never localised
    row.xp_display = number(row.xp_total)
    row.accuracy_display = number(row.accuracy, suffix="%")
    row.progress_display = number(row.progress_percent, suffix="%")
    row.active_display = duration(row.active_seconds)
    row.last_activity_display = when(row.last_activity_at)
    row.stuck_reasons = stuck_reasons(row, now)
    if url_prefix is not None:
        row.url = row_url(url_prefix, row.pk)
    return row


def decorate_attempt(attempt):
    """Display values for one attempt row, and why it earned its XP."""
    attempt.reason = explain(attempt)
    attempt.completed_display = when(attempt.completed_at)
    if attempt.total_questions is None:
        attempt.correct_display = "–"
    else:
        attempt.correct_display = f"{short_number(attempt.correct_questions or 0)} / {attempt.total_questions}"
    attempt.accuracy_display = number(attempt.accuracy, suffix="%")
    attempt.multiplier_display = "–" if attempt.multiplier is None else f"×{short_number(attempt.multiplier)}"
    attempt.expected_display = short_number(attempt.activity.expected_xp)
    attempt.xp_display = short_number(attempt.xp_earned)
    return attempt


# -- views -----------------------------------------------------------------------


class DashboardMixin(LoginRequiredMixin):
    """Login first; then the subclass's ``check_access`` (PermissionDenied -> 403)."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.check_access(request, **kwargs)
        return super().dispatch(request, *args, **kwargs)

    def check_access(self, request, **kwargs):
        raise NotImplementedError


class CourseAccessMixin(DashboardMixin):
    """Loads ``self.course`` for users allowed to see it.

    The permission is checked before the course is fetched, so a teacher gets
    403 for any course they do not teach, existing or not.
    """

    def check_access(self, request, course_pk, **kwargs):
        if not permissions.can_view_course(request.user, course_pk):
            raise PermissionDenied("You do not teach this course.")
        self.course = get_object_or_404(Course, pk=course_pk)


class CourseListView(DashboardMixin, TemplateView):
    """The courses the signed-in user may see: staff all, teachers theirs."""

    template_name = "timeback_progress/course_list.html"

    def check_access(self, request, **kwargs):
        user = request.user
        if not user.is_staff and not permissions.courses_for(user).exists():
            raise PermissionDenied("Only teachers and staff can see the dashboards.")

    def get_context_data(self, **kwargs):
        form = CourseFilterForm(self.request.GET or None)
        data = form.cleaned_data if form.is_valid() else {}
        courses = permissions.courses_for(self.request.user)
        if data.get("q"):
            courses = courses.filter(title__icontains=data["q"])
        if data.get("subject"):
            courses = courses.filter(subject=data["subject"])
        class_xp = (
            StudentProgress.objects.filter(course=OuterRef("pk")).values("course").annotate(s=Sum("xp_total")).values("s")
        )
        courses = courses.annotate(
            students=Count("enrollments", filter=Q(enrollments__role=STUDENT, enrollments__is_active=True)),
            class_xp=Subquery(class_xp),
        ).order_by("-is_active", "title", "pk")
        page = Paginator(courses, app_settings.DASHBOARD_PAGE_SIZE).get_page(self.request.GET.get("page"))
        return super().get_context_data(form=form, page=page, courses=page.object_list, query=querystring(self.request), **kwargs)

    def render_to_response(self, context, **kwargs):
        if context["form"].errors:
            kwargs["status"] = 400
        return super().render_to_response(context, **kwargs)


class CourseOverviewView(CourseAccessMixin, TemplateView):
    """One row per student: XP, accuracy, mastery, progress, time, stuck flag."""

    template_name = "timeback_progress/course_overview.html"

    def get_context_data(self, **kwargs):
        now = timezone.now()
        form = OverviewFilterForm(self.request.GET)
        data = form.cleaned_data if form.is_valid() else {}
        sort = data.get("sort") or "name"
        rows = filter_rows(class_rows(self.course, now), data)
        page = Paginator(sort_rows(rows, sort), app_settings.DASHBOARD_PAGE_SIZE).get_page(self.request.GET.get("page"))
        prefix = student_url_prefix(self.course)
        for row in page.object_list:
            decorate(row, self.course, now, prefix)
        start, end = chart_range(data.get("start"), data.get("end"))
        return super().get_context_data(
            course=self.course,
            form=form,
            page=page,
            rows=page.object_list,
            columns=sort_headers(self.request, sort),
            figures=class_figures(rows, self.course),
            chart=class_xp_per_day(self.course, start, end),
            chart_start=start,
            chart_end=end,
            query=querystring(self.request),
            export_url=with_query(reverse("timeback_progress:course-export", args=[self.course.pk]), querystring(self.request)),
            filtered=any(data.get(k) for k in ("q", "start", "end", "stuck")),
            stuck_threshold=app_settings.STUCK_FAILED_ATTEMPTS,
            stuck_days=app_settings.STUCK_INACTIVE_DAYS,
            **kwargs,
        )

    def render_to_response(self, context, **kwargs):
        if context["form"].errors:
            kwargs["status"] = 400
        return super().render_to_response(context, **kwargs)


class CourseExportView(CourseAccessMixin, View):
    """The overview as a streamed CSV (same filters and sort, every page)."""

    def get(self, request, course_pk):
        form = OverviewFilterForm(request.GET)
        if not form.is_valid():
            errors = "; ".join(e for errs in form.errors.values() for e in errs)
            return HttpResponseBadRequest(f"Invalid filter: {errors}", content_type="text/plain; charset=utf-8")
        now = timezone.now()
        rows = sort_rows(filter_rows(class_rows(self.course, now), form.cleaned_data), form.cleaned_data.get("sort"))
        filename = f"{self.course.sourced_id}-overview-{timezone.localdate():%Y-%m-%d}.csv"
        return streaming_csv_response(filename, CSV_HEADER, self.csv_lines(rows.iterator(chunk_size=500), now))

    def csv_lines(self, rows, now):
        course = self.course
        for row in rows:
            reasons = stuck_reasons(row, now)
            yield [
                row.sourced_id, row.given_name, row.family_name, row.email, two_places(row.xp_total), two_places(row.accuracy),
                row.mastered_units, course.masterable_units, percent(row.xp_total, course.total_xp),
                row.active_seconds, row.inactive_seconds, row.attempts_count, row.completed_count,
                row.last_activity_at, row.is_stuck, "; ".join(reasons),
            ]


class StudentDetailView(CourseAccessMixin, TemplateView):
    """One student in one course: XP over time, accuracy by activity, attempts and why."""

    template_name = "timeback_progress/student_detail.html"

    def get_context_data(self, student_pk, **kwargs):
        course = self.course
        enrolled = Student.objects.filter(
            enrollments__course=course, enrollments__role=STUDENT, enrollments__is_active=True
        )
        student = get_object_or_404(enrolled, pk=student_pk)
        progress = StudentProgress.objects.filter(student=student, course=course).first()
        daily = list(
            DailyProgress.objects.filter(student=student, course=course).order_by("day").values_list("day", "xp")
        )
        activities = self.by_activity(student)
        attempts = (
            Attempt.objects.filter(student=student, course=course)
            .select_related("activity")
            .order_by("-started_at", "-number", "-pk")
        )
        paginator = Paginator(attempts, app_settings.DASHBOARD_ATTEMPTS_PAGE_SIZE)
        if progress is not None:
            paginator.count = progress.attempts_count  # maintained with the attempts: no COUNT over them
        page = paginator.get_page(self.request.GET.get("page"))
        for attempt in page.object_list:
            decorate_attempt(attempt)
        active = progress.active_seconds if progress else 0
        inactive = progress.inactive_seconds if progress else 0
        chart = student_xp_per_day(daily)
        return super().get_context_data(
            course=course,
            student=student,
            progress=progress,
            progress_percent=percent(progress.xp_total, course.total_xp) if progress else None,
            stuck=bool(progress and progress.failed_streak >= app_settings.STUCK_FAILED_ATTEMPTS),
            activities=activities,
            mastered_activities=[a for a in activities if a["mastered"]],
            time={
                "active": duration(active),
                "inactive": duration(inactive),
                "active_percent": percent(active, active + inactive),
                "inactive_percent": percent(inactive, active + inactive),
            },
            chart=chart,
            page=page,
            attempts=page.object_list,
            query=querystring(self.request),
            **kwargs,
        )

    def by_activity(self, student):
        rows = (
            Attempt.objects.filter(student=student, course=self.course, completed_at__isnull=False)
            .values("activity_id", "activity__name", "activity__masterable_units")
            .annotate(
                attempts=Count("id"),
                questions=Sum("total_questions"),
                correct=Sum("correct_questions"),
                best=Max("accuracy"),
                xp=Sum("xp_earned"),
                mastered=Sum("mastered_units"),
                last=Max("completed_at"),
            )
            .order_by("activity__name", "activity_id")
        )
        out = []
        for row in rows:
            row["accuracy"] = percent(row["correct"], row["questions"])
            row["accuracy_display"] = number(row["accuracy"], suffix="%")
            row["best_display"] = number(row["best"], suffix="%")
            row["xp_display"] = number(row["xp"])
            out.append(row)
        return out


def explain(attempt):
    """Why ``attempt`` earned its XP, in the words of the XP policy."""
    if not attempt.is_completed:
        return "In progress: XP is awarded on completion."
    if attempt.xp_override is not None:
        return f"Set to {attempt.xp_override} XP by an admin correction."
    try:
        return getattr(derivation.evaluate(attempt), "reason", "")
    except ValueError as exc:  # inputs the rules refuse; say so rather than crash the page
        return f"Could not be evaluated: {exc}"


# -- URL helpers -----------------------------------------------------------------


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
