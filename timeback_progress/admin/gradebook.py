"""Admin for the gradebook: attempts, results (with the correction view), the
correction audit trail and progress rows.

All read-only: every change goes through ``gradebook`` (a correction, a
recalculation) so the rules, the aggregates, the audit trail and the outbox
never disagree.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import router, transaction
from django.db.models import Exists, OuterRef
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _, ngettext

from .. import xp as xp_rules
from ..outbox import writing
from ..gradebook import corrections, derivation
from ..limits import parse_id
from ..models import Attempt, Result, ResultCorrection, StudentProgress
from . import search
from .base import AdminMedia, ReadOnlyAdmin, app_perm
from .display import diff, minutes, pretty_json, short_datetime
from .forms import ResultCorrectionForm


@admin.register(Attempt)
class AttemptAdmin(ReadOnlyAdmin):
    # The title names the student, the activity and the run; the state says whether it was completed
    # (the time is on the row's page and the result's): narrow figures after it, so the list fits 1,366 px.
    list_display = ["__str__", "state", "started", "accuracy", "xp_earned", "mastered_units", "is_overridden"]
    list_filter = [("completed_at", admin.EmptyFieldListFilter), "course"]
    list_select_related = ["student", "activity"]
    search_fields = ["student__sourced_id", "student__email", "activity__activity_id", "activity__name"]
    # Sorts an index serves (docs/admin.md, "At district scale"): a figure sort read the whole table.
    sortable_by = ["started_at", "started", "completed_at"]
    actions = ["recalculate_xp"]

    class Media(AdminMedia):
        pass

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("student", "activity", "course").with_state()

    def get_search_results(self, request, queryset, search_term):
        """By student (sourcedId, email, name), activity (id, name) or id, through indexes (``admin.search``)."""
        if not search_term.strip() or "\x00" in search_term:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(search.attempts(search_term.strip())), False

    @admin.display(description=_("state"))
    def state(self, obj):
        return obj.State(obj.state).label

    @admin.display(description=Attempt._meta.get_field("started_at").verbose_name, ordering="started_at")
    def started(self, obj):
        return short_datetime(obj.started_at)

    @admin.display(description=_("override"), boolean=True)
    def is_overridden(self, obj):
        return obj.xp_override is not None or obj.mastered_units_override is not None

    def has_recalculate_permission(self, request):
        return app_perm(request, "change_attempt")

    @admin.action(description=_("Recalculate XP for selected attempts"), permissions=["recalculate"])
    def recalculate_xp(self, request, queryset):
        count = derivation.recalculate_attempts(queryset)
        self.message_user(
            request,
            ngettext(
                "Recalculated %(count)d completed attempt.", "Recalculated %(count)d completed attempts.", count
            ) % {"count": count},
            messages.SUCCESS,
        )


def with_corrected(queryset):
    """Results annotated with ``has_corrections``: at least one audit row (``ResultCorrection``) exists."""
    return queryset.annotate(has_corrections=Exists(ResultCorrection.objects.filter(result=OuterRef("pk"))))


class CorrectedFilter(admin.SimpleListFilter):
    """Corrected: yes / no, by the audit trail (any correction, not only one that set the score)."""

    title = _("corrected")
    parameter_name = "corrected"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request, queryset):
        corrected = Exists(ResultCorrection.objects.filter(result=OuterRef("pk")))
        if self.value() == "yes":
            return queryset.filter(corrected)
        if self.value() == "no":
            return queryset.filter(~corrected)
        return queryset


@admin.register(Result)
class ResultAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "score", "score_status", "xp", "corrected", "score_date"]
    list_filter = ["score_status", CorrectedFilter, "status"]
    list_select_related = ["student", "attempt__activity"]
    search_fields = ["sourced_id", "student__sourced_id", "student__email", "line_item_sourced_id"]
    # Sorts an index serves: the newest first (the default) and the sourcedId.
    sortable_by = ["sourced_id", "score_date"]
    fields = [
        "sourced_id", "student", "attempt", "line_item_sourced_id", "score", "text_score", "score_status", "score_date",
        "status", "corrected", "score_kept", "metadata_pretty", "created_at", "updated_at",
    ]
    readonly_fields = fields
    actions = ["resync"]
    change_form_template = "admin/timeback_progress/result/change_form.html"

    class Media(AdminMedia):
        pass

    def get_queryset(self, request):
        return with_corrected(super().get_queryset(request).select_related("student", "attempt__activity"))

    @admin.display(description=_("corrected"), boolean=True)
    def corrected(self, obj):
        """Whether anyone corrected the result (it has an audit row), whatever the correction changed."""
        return obj.has_corrections

    @admin.display(description=_("score kept by a correction"), boolean=True)
    def score_kept(self, obj):
        """``Result.is_corrected``: a correction set the score, so recalculation keeps it.

        Not the same as "corrected": a correction of XP or mastered units only
        leaves the score to the rules.
        """
        return obj.is_corrected

    @admin.display(description=_("metadata"))
    def metadata_pretty(self, obj):
        return pretty_json(obj.metadata)

    def get_search_results(self, request, queryset, search_term):
        """By sourcedId, line item, student (sourcedId, email, name) or id, through indexes (``admin.search``)."""
        if not search_term.strip() or "\x00" in search_term:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(search.results(search_term.strip())), False

    def has_correct_permission(self, request, obj=None):
        return self.has_view_permission(request, obj) and app_perm(request, "correct_result")

    def has_resync_permission(self, request):
        return app_perm(request, "change_result")

    @admin.action(description=_("Re-sync selected results to Timeback"), permissions=["resync"])
    def resync(self, request, queryset):
        results = list(queryset)
        with transaction.atomic(using=router.db_for_write(Result)):
            for result in results:
                writing.enqueue_result(result)
        self.message_user(
            request,
            ngettext(
                "Queued %(count)d result for re-sync.", "Queued %(count)d results for re-sync.", len(results)
            ) % {"count": len(results)},
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
        if parse_id(object_id) is not None:  # not ``isdigit``: "²" is a digit int() refuses
            corrections = list(ResultCorrection.objects.filter(result_id=object_id).select_related("corrected_by"))
        for correction in corrections:
            correction.diff = diff(correction.before, correction.after)
        context = {"corrections": corrections, "can_correct": self.has_correct_permission(request)}
        return super().change_view(request, object_id, form_url, {**context, **(extra_context or {})})

    def correct_view(self, request, object_id):
        """Correct a result with a reason (``gradebook.corrections.correct_result``); 403 without the permission.

        The permission is checked before the lookup: whether a result exists is
        not disclosed to someone who may not correct one (403 either way).
        """
        if not self.has_correct_permission(request):
            raise PermissionDenied
        result = get_object_or_404(self.get_queryset(request).select_related("attempt__student"), pk=object_id)
        if not self.has_correct_permission(request, result):
            raise PermissionDenied
        form = ResultCorrectionForm(request.POST or None, result=result)
        if request.method == "POST" and form.is_valid():
            try:
                correction = corrections.correct_result(
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
            "title": _("Correct result %(result)s") % {"result": result},
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
    # The result is titled by its student, activity and run (Result.__str__): joined, not a query per row.
    list_select_related = ["result__student", "result__attempt__activity", "corrected_by"]
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
        "student", "course", "xp_total", "accuracy", "mastered_units", "course_progress", "course_completed_at",
        "completed_count", "active_minutes", "failed_streak", "last_activity_at",
    ]
    list_filter = ["course", ("course_completed_at", admin.EmptyFieldListFilter)]
    list_select_related = ["student", "course"]
    search_fields = ["student__sourced_id", "student__email", "student__family_name", "course__title"]

    def get_search_results(self, request, queryset, search_term):
        """By student (sourcedId, email, name) or course (sourcedId, title), through indexes (``admin.search``)."""
        if not search_term.strip() or "\x00" in search_term:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(search.progress(search_term.strip())), False

    @admin.display(description=_("active minutes"), ordering="active_seconds")
    def active_minutes(self, obj):
        return minutes(obj.active_seconds)

    @admin.display(description=_("course progress"), ordering="mastered_units")
    def course_progress(self, obj):
        """Mastered / masterable units (``xp.course_percent``); XP stays in its own column."""
        share = xp_rules.course_percent(obj.mastered_units, obj.course.masterable_units)
        return "–" if share is None else _("%(percent)s%%") % {"percent": number_format(share)}

