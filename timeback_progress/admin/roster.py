"""Admin for the roster: students (with their progress summed from the
precomputed rows), courses, enrollments and activities."""

from datetime import timedelta
from decimal import Decimal

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.paginator import Paginator
from django.db.models import (
    DecimalField, Exists, FloatField, IntegerField, Max, OuterRef, Q, Subquery, Sum, Value,
)
from django.db.models.functions import Cast, Coalesce, NullIf
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _, ngettext

from ..dashboards import export
from .. import xp as xp_rules
from ..limits import parse_id
from ..outbox import held
from ..models import (
    Activity, Attempt, Course, DailyProgress, Enrollment, Result, ResultCorrection, Student, StudentProgress,
)
from . import search
from .base import AdminMedia, AppModelAdmin
from .display import minutes

ATTEMPTS_PER_PAGE = 25
CHART_DAYS = 365


class CourseFilter(admin.SimpleListFilter):
    """Students enrolled in, or with progress in, a course.

    A value that is not a course id (``abc``, 25 digits, ``²``) is what Django's
    own filters do with a bad value: ``IncorrectLookupParameters``, which the
    changelist answers with its ``?e=1`` redirect.
    """

    title = _("course")
    parameter_name = "course"

    def lookups(self, request, model_admin):
        return [(str(pk), title) for pk, title in Course.objects.order_by("title").values_list("pk", "title")]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        course_id = parse_id(self.value())
        if course_id is None:
            raise IncorrectLookupParameters(_("The course filter takes a course id."))
        return queryset.filter(
            Q(Exists(Enrollment.objects.filter(student=OuterRef("pk"), course_id=course_id)))
            | Q(Exists(StudentProgress.objects.filter(student=OuterRef("pk"), course_id=course_id)))
        )


def _progress(aggregate, course_id=None):
    """A correlated subquery: ``aggregate`` over one student's progress rows."""
    rows = StudentProgress.objects.filter(student=OuterRef("pk"))
    if course_id:
        rows = rows.filter(course_id=course_id)
    return Subquery(rows.order_by().values("student").annotate(v=aggregate).values("v"))


class EmailFilter(admin.SimpleListFilter):
    """Students without an email: Timeback refuses their events, which are held until one is added."""

    title = _("email")
    parameter_name = "email"

    def lookups(self, request, model_admin):
        return [("missing", _("missing (events held)")), ("present", _("present"))]

    def queryset(self, request, queryset):
        missing = Q(email="") | Q(email__isnull=True)
        if self.value() == "missing":
            return queryset.filter(missing)
        if self.value() == "present":
            return queryset.exclude(missing)
        return queryset


def annotate_progress(queryset, course_id=None, how="annotate"):
    """Students with their progress summed across courses (or in one course).

    ``how="alias"``: the figures are named for sorting only, never selected, so
    a list sorted by name computes none of them (``progress_figures`` reads
    them for the page's rows).
    """
    money = DecimalField(max_digits=14, decimal_places=2)
    accuracy = Cast(Sum("correct_questions"), FloatField()) * 100 / NullIf(Sum("total_questions"), 0)
    return getattr(queryset, how)(
        xp_sum=Coalesce(_progress(Sum("xp_total"), course_id), Value(0), output_field=money),
        accuracy_pct=_progress(accuracy, course_id),
        mastered_sum=Coalesce(_progress(Sum("mastered_units"), course_id), Value(0), output_field=IntegerField()),
        masterable_sum=Coalesce(
            _progress(Sum("course__masterable_units"), course_id), Value(0), output_field=IntegerField()
        ),
        active_sum=Coalesce(_progress(Sum("active_seconds"), course_id), Value(0), output_field=IntegerField()),
        last_activity=_progress(Max("last_activity_at"), course_id),
    )


def progress_figures(students, course_id=None):
    """Set ``annotate_progress``'s figures on ``students`` (a page of them) from one grouped query."""
    rows = StudentProgress.objects.filter(student_id__in=[s.pk for s in students])
    if course_id:
        rows = rows.filter(course_id=course_id)
    sums = {
        row.pop("student"): row for row in rows.order_by().values("student").annotate(
            xp_sum=Sum("xp_total"), correct=Sum("correct_questions"), total=Sum("total_questions"),
            mastered_sum=Sum("mastered_units"), masterable_sum=Sum("course__masterable_units"),
            active_sum=Sum("active_seconds"), last_activity=Max("last_activity_at"),
        )
    }
    for student in students:
        row = sums.get(student.pk, {})
        total = row.get("total") or 0
        student.xp_sum = row.get("xp_sum") or Decimal("0.00")
        student.accuracy_pct = float(row["correct"]) * 100 / total if total else None
        student.mastered_sum = row.get("mastered_sum") or 0
        student.masterable_sum = row.get("masterable_sum") or 0
        student.active_sum = row.get("active_sum") or 0
        student.last_activity = row.get("last_activity")
    return students


def _course_param(request):
    return parse_id(request.GET.get(CourseFilter.parameter_name, ""))


class IdentityLockMixin:
    """Ids that derived ids (results, events) are built from cannot change once
    attempts refer to them: Timeback would get a second record, not a correction."""

    identity_fields = ()

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and "_has_attempts" not in obj.__dict__:
            obj._has_attempts = obj.attempts.exists()  # asked several times per page: one query
        if obj is not None and obj._has_attempts:
            fields += [f for f in self.identity_fields if f not in fields]
        return fields


@admin.register(Student)
class StudentAdmin(IdentityLockMixin, AppModelAdmin):
    identity_fields = ("sourced_id",)
    list_display = ["__str__", "email_or_missing", "xp", "accuracy", "mastered", "active_minutes", "last_activity"]
    list_filter = [CourseFilter, EmailFilter, "is_active"]
    search_fields = ["given_name", "family_name", "email", "sourced_id"]
    raw_id_fields = ["user"]
    readonly_fields = ["created_at", "updated_at"]
    actions = ["export_progress_csv"]
    change_form_template = "admin/timeback_progress/student/change_form.html"

    class Media(AdminMedia):
        js = ["timeback_progress/vendor/chart.umd.min.js", "timeback_progress/admin.js"]

    def get_queryset(self, request):
        # With the course filter on, the figures are that course's. Named for sorting only: a list
        # sorted by a figure computes that one for every student (50,000: ~0.1 s); the page's figures
        # are read for its rows alone (``page_rows``).
        return annotate_progress(super().get_queryset(request), _course_param(request), how="alias")

    def page_rows(self, request, rows):
        return progress_figures(list(rows), _course_param(request))

    @admin.display(description=_("email"), ordering="email")
    def email_or_missing(self, obj):
        if held.has_email(obj.email):
            return obj.email
        return format_html(
            '<span class="tbp-badge tbp-badge--held" title="{}">{}</span>', held.no_email_message(obj), _("no email: events held")
        )

    def save_model(self, request, obj, form, change):
        """Save, then say what the email (or its absence) means for Timeback.

        The ``post_save`` receiver releases the held events; the count is read
        before, and only when the email was just added.
        """
        added = change and "email" in form.changed_data and held.has_email(obj.email)
        releasing = held.held_count(obj) if added else 0
        super().save_model(request, obj, form, change)
        if not held.has_email(obj.email):
            self.message_user(request, held.no_email_message(obj), messages.WARNING)
        elif releasing:
            self.message_user(request, ngettext(
                "%(n)d held event of this student will now be sent to Timeback.",
                "%(n)d held events of this student will now be sent to Timeback.", releasing,
            ) % {"n": releasing}, messages.SUCCESS)

    @admin.display(description=_("XP"), ordering="xp_sum")
    def xp(self, obj):
        return number_format(obj.xp_sum, 2)

    @admin.display(description=_("accuracy"), ordering="accuracy_pct")
    def accuracy(self, obj):
        return "—" if obj.accuracy_pct is None else _("%(percent)s%%") % {"percent": number_format(obj.accuracy_pct, 1)}

    @admin.display(description=_("mastered"), ordering="mastered_sum")
    def mastered(self, obj):
        return f"{obj.mastered_sum} / {obj.masterable_sum}"

    @admin.display(description=_("active min"), ordering="active_sum")
    def active_minutes(self, obj):
        return minutes(obj.active_sum)

    @admin.display(description=_("last activity"), ordering="last_activity", empty_value="—")
    def last_activity(self, obj):
        # Short and sortable-looking, so the row stays on one line.
        return obj.last_activity and date_format(timezone.localtime(obj.last_activity), "Y-m-d H:i")

    @admin.action(description=_("Export selected students' progress to CSV"), permissions=["view"])
    def export_progress_csv(self, request, queryset):
        rows = (
            StudentProgress.objects.filter(student__in=queryset.values("pk"))
            .select_related("student", "course").order_by("student__family_name", "student__sourced_id", "course__title")
        )
        header = [
            "student sourcedId", "given name", "family name", "email", "course sourcedId", "course",
            "XP", "accuracy %", "mastered units", "masterable units", "active minutes", "last activity",
        ]
        return export.streaming_csv_response(
            "student-progress.csv",
            header,
            (
                [
                    p.student.sourced_id, p.student.given_name, p.student.family_name, p.student.email,
                    p.course.sourced_id, p.course.title, p.xp_total, p.accuracy, p.mastered_units,
                    p.course.masterable_units, round(p.active_seconds / 60), p.last_activity_at,
                ]
                for p in rows.iterator()
            ),
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        pk = parse_id(object_id)
        if pk is not None:
            extra_context = {**self.student_context(request, pk), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra_context)

    def student_context(self, request, pk):
        """Summary, a page of attempts and the XP chart: five queries whatever the size."""
        progress = list(StudentProgress.objects.filter(student_id=pk).select_related("course").order_by("course__title"))
        questions = sum(p.total_questions for p in progress)
        summary = {
            "xp": sum(p.xp_total for p in progress),
            "accuracy": xp_rules.percent_correct(sum(p.correct_questions for p in progress), questions),
            "mastered": sum(p.mastered_units for p in progress),
            "masterable": sum(p.course.masterable_units for p in progress),
            "active_minutes": minutes(sum(p.active_seconds for p in progress)),
            "completed": sum(p.completed_count for p in progress),
            "last_activity": max((p.last_activity_at for p in progress if p.last_activity_at), default=None),
        }
        attempts = (
            Attempt.objects.filter(student_id=pk).select_related("activity", "course", "result")
            .annotate(corrected=Exists(ResultCorrection.objects.filter(result__attempt=OuterRef("pk"))))
            .order_by("-started_at", "-pk")
        )
        page = Paginator(attempts, ATTEMPTS_PER_PAGE).get_page(request.GET.get("attempts_page"))
        since = timezone.localdate() - timedelta(days=CHART_DAYS)
        days = (
            DailyProgress.objects.filter(student_id=pk, day__gte=since).order_by("day")
            .values("day").annotate(xp=Sum("xp"))
        )
        return {
            "progress_rows": progress,
            "summary": summary,
            "attempts_page": page,
            "xp_chart": every_day({d["day"]: float(d["xp"]) for d in days}, timezone.localdate()),
            "can_view_results": self.admin_site.is_registered(Result)
            and request.user.has_perm("timeback_progress.view_result"),
        }


def every_day(xp_by_day, today):
    """``[{"day", "xp"}]`` for every day from the first in ``xp_by_day`` to ``today``, 0 where none was earned.

    The vendored Chart.js has no date adapter for a time axis, so the chart's
    category axis spaces points evenly: with every day present, even spacing
    is time spacing, and the cumulative line's flat stretches are real.
    """
    if not xp_by_day:
        return []
    first, last = min(xp_by_day), max(max(xp_by_day), today)
    return [
        {"day": (first + timedelta(days=n)).isoformat(), "xp": xp_by_day.get(first + timedelta(days=n), 0.0)}
        for n in range((last - first).days + 1)
    ]


@admin.register(Course)
class CourseAdmin(AppModelAdmin):
    list_display = ["title", "sourced_id", "subject", "grade", "total_xp", "masterable_units", "is_active"]
    list_filter = ["subject", "is_active"]
    search_fields = ["title", "sourced_id"]


@admin.register(Enrollment)
class EnrollmentAdmin(AppModelAdmin):
    list_display = ["__str__", "course", "role", "student", "user", "is_active"]
    list_filter = ["role", "is_active"]
    list_select_related = ["course", "student", "user"]
    search_fields = ["sourced_id", "student__sourced_id", "student__email", "user__username", "course__title"]
    autocomplete_fields = ["course", "student"]
    raw_id_fields = ["user"]

    def get_search_results(self, request, queryset, search_term):
        """By sourcedId, username, student (sourcedId, email, name) or course, through indexes (``admin.search``)."""
        if not search_term.strip() or "\x00" in search_term:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(search.enrollments(search_term.strip())), False


@admin.register(Activity)
class ActivityAdmin(IdentityLockMixin, AppModelAdmin):
    identity_fields = ("activity_id", "course", "line_item_sourced_id")
    list_display = ["name", "activity_id", "course", "subject", "expected_xp", "masterable_units", "is_graded", "is_active"]
    list_filter = ["subject", "is_graded", "is_active"]
    list_select_related = ["course"]
    search_fields = ["name", "activity_id", "line_item_sourced_id"]
    autocomplete_fields = ["course"]
