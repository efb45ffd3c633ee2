"""Django admin for the mirror, corrections and sync health.

Gradebook rows (attempts, results, progress) are read-only here: every change
goes through ``services`` (a correction, a recalculation) so the rules, the
aggregates, the audit trail and the outbox never disagree. Pages read the
precomputed ``StudentProgress``/``DailyProgress`` rows, so their query count
does not grow with the number of students or attempts.
"""

import json
from datetime import timedelta

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import (
    Count, DecimalField, Exists, FloatField, IntegerField, Max, OuterRef, Q, Subquery, Sum, Value,
)
from django.db.models.functions import Cast, Coalesce, NullIf
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _, ngettext

from . import delivery, replay, services
from . import xp as xp_rules
from .conf import app_settings
from .dashboards import export
from .forms import ResultCorrectionForm
from .roster import import_roster_action
from .models import (
    Activity, Attempt, Course, DailyProgress, Delivery, Enrollment, Result, ResultCorrection, Student,
    StudentProgress, SyncState,
)

ATTEMPTS_PER_PAGE = 25
CHART_DAYS = 365
REDACTED = "********"
SENSITIVE_KEY_PARTS = ("secret", "password", "token", "authorization", "api_key", "apikey")
UNSENT = (Delivery.State.PENDING, Delivery.State.SENDING, Delivery.State.RETRYING)


class AdminMedia:
    css = {"all": ["timeback_progress/admin.css"]}


def _perm(request, codename):
    return request.user.has_perm(f"timeback_progress.{codename}")


# -- secrets never reach a page -------------------------------------------------


def redact(value):
    """``value`` with secret-looking keys masked and the configured client secret removed.

    Payloads hold no secret by construction; this is the second line of defence
    for error texts and anything a future payload might carry.
    """
    if isinstance(value, dict):
        return {
            k: REDACTED if any(p in str(k).lower() for p in SENSITIVE_KEY_PARTS) else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str):
        secret = app_settings.CLIENT_SECRET
        return value.replace(secret, REDACTED) if secret else value
    return value


def pretty_json(value):
    return format_html("<pre class=\"tbp-json\">{}</pre>", json.dumps(redact(value), indent=2, sort_keys=True, default=str))


def diff(before, after):
    """``(key, before, after)`` for each value an audit row shows changing."""
    return [
        (key, before.get(key), after.get(key))
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]


# -- sync health ----------------------------------------------------------------


def sync_health():
    """Outbox counts by status and the oldest unsent row: two queries."""
    counts = dict(Delivery.objects.order_by().values_list("status").annotate(n=Count("id")))
    oldest = (
        Delivery.objects.filter(status__in=UNSENT).order_by("created_at", "id")
        .only("id", "kind", "key", "status", "created_at", "next_attempt_at").first()
    )
    stale_after = timedelta(minutes=app_settings.ADMIN_SYNC_STALE_MINUTES)
    stale = oldest is not None and timezone.now() - oldest.created_at > stale_after
    dead = counts.get(Delivery.State.DEAD, 0)
    return {
        "counts": [(state, label, counts.get(state, 0)) for state, label in Delivery.State.choices],
        "oldest": oldest,
        "dead": dead,
        "stale": stale,
        "healthy": not dead and not stale,
        "enabled": app_settings.SYNC_ENABLED,
        "stale_minutes": app_settings.ADMIN_SYNC_STALE_MINUTES,
    }


# -- roster ---------------------------------------------------------------------


class CourseFilter(admin.SimpleListFilter):
    """Students enrolled in, or with progress in, a course."""

    title = _("course")
    parameter_name = "course"

    def lookups(self, request, model_admin):
        return [(str(pk), title) for pk, title in Course.objects.order_by("title").values_list("pk", "title")]

    def queryset(self, request, queryset):
        course_id = self.value()
        if not course_id:
            return queryset
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


def annotate_progress(queryset, course_id=None):
    """Students with their progress summed across courses (or in one course)."""
    money = DecimalField(max_digits=14, decimal_places=2)
    accuracy = Cast(Sum("correct_questions"), FloatField()) * 100 / NullIf(Sum("total_questions"), 0)
    return queryset.annotate(
        xp_sum=Coalesce(_progress(Sum("xp_total"), course_id), Value(0), output_field=money),
        accuracy_pct=_progress(accuracy, course_id),
        mastered_sum=Coalesce(_progress(Sum("mastered_units"), course_id), Value(0), output_field=IntegerField()),
        masterable_sum=Coalesce(
            _progress(Sum("course__masterable_units"), course_id), Value(0), output_field=IntegerField()
        ),
        active_sum=Coalesce(_progress(Sum("active_seconds"), course_id), Value(0), output_field=IntegerField()),
        last_activity=_progress(Max("last_activity_at"), course_id),
    )


def _course_param(request):
    value = request.GET.get(CourseFilter.parameter_name, "")
    return int(value) if value.isdigit() else None


def _minutes(seconds):
    return f"{(seconds or 0) / 60:.0f}"


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
class StudentAdmin(IdentityLockMixin, admin.ModelAdmin):
    identity_fields = ("sourced_id",)
    list_display = ["__str__", "email", "xp", "accuracy", "mastered", "active_minutes", "last_activity"]
    list_filter = [CourseFilter, "is_active"]
    search_fields = ["given_name", "family_name", "email", "sourced_id"]
    raw_id_fields = ["user"]
    readonly_fields = ["created_at", "updated_at"]
    actions = ["export_progress_csv"]
    change_form_template = "admin/timeback_progress/student/change_form.html"

    class Media(AdminMedia):
        js = ["timeback_progress/vendor/chart.umd.min.js", "timeback_progress/admin.js"]

    def get_queryset(self, request):
        # With the course filter on, the figures are that course's.
        return annotate_progress(super().get_queryset(request), _course_param(request))

    @admin.display(description=_("XP"), ordering="xp_sum")
    def xp(self, obj):
        return f"{obj.xp_sum:.2f}"

    @admin.display(description=_("accuracy"), ordering="accuracy_pct")
    def accuracy(self, obj):
        return "—" if obj.accuracy_pct is None else f"{obj.accuracy_pct:.1f}%"

    @admin.display(description=_("mastered units"), ordering="mastered_sum")
    def mastered(self, obj):
        return f"{obj.mastered_sum} / {obj.masterable_sum}"

    @admin.display(description=_("active min"), ordering="active_sum")
    def active_minutes(self, obj):
        return _minutes(obj.active_sum)

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
        pk = Student._meta.pk.to_python(object_id) if str(object_id).isdigit() else None
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
            "active_minutes": _minutes(sum(p.active_seconds for p in progress)),
            "completed": sum(p.completed_count for p in progress),
            "last_activity": max((p.last_activity_at for p in progress if p.last_activity_at), default=None),
        }
        attempts = (
            Attempt.objects.filter(student_id=pk).select_related("activity", "course", "result")
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
            "xp_chart": [{"day": d["day"].isoformat(), "xp": float(d["xp"])} for d in days],
            "can_view_results": self.admin_site.is_registered(Result)
            and request.user.has_perm("timeback_progress.view_result"),
        }


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    list_display = ["title", "sourced_id", "subject", "grade", "total_xp", "masterable_units", "is_active"]
    list_filter = ["subject", "is_active"]
    search_fields = ["title", "sourced_id"]


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = ["__str__", "course", "role", "student", "user", "is_active"]
    list_filter = ["role", "is_active"]
    list_select_related = ["course", "student", "user"]
    search_fields = ["sourced_id", "student__sourced_id", "student__email", "user__username", "course__title"]
    autocomplete_fields = ["course", "student"]
    raw_id_fields = ["user"]


@admin.register(Activity)
class ActivityAdmin(IdentityLockMixin, admin.ModelAdmin):
    identity_fields = ("activity_id", "course", "line_item_sourced_id")
    list_display = ["name", "activity_id", "course", "subject", "expected_xp", "masterable_units", "is_graded", "is_active"]
    list_filter = ["subject", "is_graded", "is_active"]
    list_select_related = ["course"]
    search_fields = ["name", "activity_id", "line_item_sourced_id"]
    autocomplete_fields = ["course"]


# -- gradebook (read-only; changed through services) ------------------------------


class ReadOnlyAdmin(admin.ModelAdmin):
    """Visible with the view permission; never added, edited or deleted here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Attempt)
class AttemptAdmin(ReadOnlyAdmin):
    list_display = [
        "__str__", "student", "activity", "number", "started_at", "completed_at", "accuracy", "xp_earned",
        "mastered_units", "is_overridden",
    ]
    list_filter = [("completed_at", admin.EmptyFieldListFilter), "course"]
    list_select_related = ["student", "activity"]
    search_fields = ["student__sourced_id", "student__email", "activity__activity_id", "activity__name"]
    actions = ["recalculate_xp"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("student", "activity", "course")

    @admin.display(description=_("override"), boolean=True)
    def is_overridden(self, obj):
        return obj.xp_override is not None or obj.mastered_units_override is not None

    def has_recalculate_permission(self, request):
        return _perm(request, "change_attempt")

    @admin.action(description=_("Recalculate XP for selected attempts"), permissions=["recalculate"])
    def recalculate_xp(self, request, queryset):
        count = services.recalculate_attempts(queryset)
        self.message_user(
            request, ngettext("Recalculated %d completed attempt.", "Recalculated %d completed attempts.", count) % count,
            messages.SUCCESS,
        )


@admin.register(Result)
class ResultAdmin(ReadOnlyAdmin):
    list_display = ["sourced_id", "student", "activity", "score", "score_status", "xp", "is_corrected", "score_date"]
    list_filter = ["score_status", "is_corrected", "status"]
    list_select_related = ["student", "attempt__activity"]
    search_fields = ["sourced_id", "student__sourced_id", "student__email", "line_item_sourced_id"]
    fields = [
        "sourced_id", "student", "attempt", "line_item_sourced_id", "score", "score_status", "score_date",
        "status", "is_corrected", "metadata_pretty", "created_at", "updated_at",
    ]
    readonly_fields = fields
    actions = ["resync"]
    change_form_template = "admin/timeback_progress/result/change_form.html"

    class Media(AdminMedia):
        pass

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("student", "attempt__activity")

    @admin.display(description=_("activity"), ordering="attempt__activity__name")
    def activity(self, obj):
        return obj.attempt.activity

    @admin.display(description=_("metadata"))
    def metadata_pretty(self, obj):
        return pretty_json(obj.metadata)

    def has_correct_permission(self, request, obj=None):
        return self.has_view_permission(request, obj) and _perm(request, "correct_result")

    def has_resync_permission(self, request):
        return _perm(request, "change_result")

    @admin.action(description=_("Re-sync selected results to Timeback"), permissions=["resync"])
    def resync(self, request, queryset):
        results = list(queryset)
        with transaction.atomic():
            for result in results:
                delivery.enqueue_result(result)
        self.message_user(
            request,
            ngettext("Queued %d result for re-sync.", "Queued %d results for re-sync.", len(results)) % len(results),
            messages.SUCCESS,
        )

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<int:object_id>/correct/",
                self.admin_site.admin_view(self.correct_view),
                name="%s_%s_correct" % info,
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        corrections = []
        if str(object_id).isdigit():
            corrections = list(ResultCorrection.objects.filter(result_id=object_id).select_related("corrected_by"))
        for correction in corrections:
            correction.diff = diff(correction.before, correction.after)
        context = {"corrections": corrections, "can_correct": self.has_correct_permission(request)}
        return super().change_view(request, object_id, form_url, {**context, **(extra_context or {})})

    def correct_view(self, request, object_id):
        """Correct a result with a reason (``services.correct_result``); 403 without the permission."""
        result = get_object_or_404(self.get_queryset(request).select_related("attempt__student"), pk=object_id)
        if not self.has_correct_permission(request, result):
            raise PermissionDenied
        form = ResultCorrectionForm(request.POST or None, result=result)
        if request.method == "POST" and form.is_valid():
            try:
                correction = services.correct_result(
                    result, user=request.user, reason=form.cleaned_data["reason"], **form.changes()
                )
            except ValidationError as error:
                form.add_service_error(error)
            else:
                self.log_change(request, result, f"Corrected: {correction.reason}")
                self.message_user(request, _("The result was corrected and queued for re-sync."), messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:timeback_progress_result_change", args=[result.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Correct result %s") % result,
            "opts": self.opts,
            "original": result,
            "form": form,
            "media": self.media + form.media,
            "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/timeback_progress/result/correct.html", context)


@admin.register(ResultCorrection)
class ResultCorrectionAdmin(ReadOnlyAdmin):
    """The audit trail: nobody (not even a superuser) edits or deletes it here."""

    list_display = ["created_at", "result", "corrected_by", "short_reason"]
    list_select_related = ["result", "corrected_by"]
    search_fields = ["result__sourced_id", "reason", "corrected_by__username"]
    fields = ["result", "corrected_by", "created_at", "reason", "before_pretty", "after_pretty"]
    readonly_fields = fields
    date_hierarchy = "created_at"

    class Media(AdminMedia):
        pass

    @admin.display(description=_("reason"))
    def short_reason(self, obj):
        return obj.reason if len(obj.reason) <= 80 else obj.reason[:79] + "…"

    @admin.display(description=_("before"))
    def before_pretty(self, obj):
        return pretty_json(obj.before)

    @admin.display(description=_("after"))
    def after_pretty(self, obj):
        return pretty_json(obj.after)


@admin.register(StudentProgress)
class StudentProgressAdmin(ReadOnlyAdmin):
    list_display = [
        "student", "course", "xp_total", "accuracy", "mastered_units", "completed_count", "active_minutes",
        "failed_streak", "last_activity_at",
    ]
    list_filter = ["course"]
    list_select_related = ["student", "course"]
    search_fields = ["student__sourced_id", "student__email", "student__family_name", "course__title"]

    @admin.display(description=_("active minutes"), ordering="active_seconds")
    def active_minutes(self, obj):
        return _minutes(obj.active_seconds)


# -- sync health ----------------------------------------------------------------


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "kind", "key", "status_badge", "attempts", "next_attempt_at", "response_status", "short_error",
    ]
    list_filter = ["status", "kind"]
    search_fields = ["key"]
    ordering = ["-id"]
    fields = [
        "kind", "key", "status_badge", "attempts", "next_attempt_at", "leased_until", "claimed_by", "sent_at",
        "response_status",
        "error", "attempt", "result", "created_at", "updated_at", "payload_pretty",
    ]
    readonly_fields = fields
    actions = ["retry_now", "replay_dead"]
    change_list_template = "admin/timeback_progress/delivery/change_list.html"

    class Media(AdminMedia):
        pass

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("attempt__student", "attempt__activity", "result")

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj):
        return format_html('<span class="tbp-badge tbp-badge--{}">{}</span>', obj.status, obj.get_status_display())

    @admin.display(description=_("last error"))
    def short_error(self, obj):
        text = redact(obj.last_error)
        return text if len(text) <= 80 else text[:79] + "…"

    @admin.display(description=_("last error"))
    def error(self, obj):
        return format_html('<pre class="tbp-json">{}</pre>', redact(obj.last_error)) if obj.last_error else "—"

    @admin.display(description=_("payload"))
    def payload_pretty(self, obj):
        return pretty_json(obj.payload)

    def has_resend_permission(self, request):
        return _perm(request, "change_delivery")

    @admin.action(description=_("Retry selected now"), permissions=["resend"])
    def retry_now(self, request, queryset):
        count = replay.retry_now(_plain(queryset))
        self.message_user(
            request, ngettext("%d row will be sent now.", "%d rows will be sent now.", count) % count, messages.SUCCESS
        )

    @admin.action(description=_("Replay selected dead rows"), permissions=["resend"])
    def replay_dead(self, request, queryset):
        """Dead rows back to pending with their attempts reset (``replay.replay``)."""
        moved, skipped = replay.replay(_plain(queryset))
        self.message_user(
            request, ngettext("Replayed %d dead row.", "Replayed %d dead rows.", moved) % moved, messages.SUCCESS
        )
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%d dead row was skipped: its key already has a newer waiting row.",
                    "%d dead rows were skipped: their keys already have a newer waiting row.",
                    skipped,
                ) % skipped,
                messages.WARNING,
            )


def _plain(queryset):
    # The selected rows without the list's joins: replay locks them FOR UPDATE,
    # which PostgreSQL refuses on the nullable side of an outer join.
    return Delivery.objects.filter(pk__in=list(queryset.values_list("pk", flat=True)))


@admin.register(SyncState)
class SyncStateAdmin(ReadOnlyAdmin):
    list_display = ["name", "high_water_mark", "last_run_at"]
    actions = [import_roster_action]  # timeback_progress.roster: an incremental import now
    fields = ["name", "high_water_mark", "last_run_at", "summary_pretty"]
    readonly_fields = fields

    class Media(AdminMedia):
        pass

    @admin.display(description=_("last summary"))
    def summary_pretty(self, obj):
        return pretty_json(obj.last_summary)
