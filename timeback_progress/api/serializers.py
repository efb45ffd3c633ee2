"""Request and response shapes, in Timeback's camelCase vocabulary.

The fields themselves, strict and truthfully documented, are in ``fields``.
Domain rules beyond the shape (attempt state, XP) stay in ``gradebook``.
"""

import copy

from django.utils.translation import gettext as _, ngettext
from rest_framework import serializers
from rest_framework.settings import api_settings

from .. import xp as xp_rules
from ..gradebook import attempts, corrections
from ..conf import app_settings
from ..models import ResultCorrection, ScoreStatus
from .fields import SourcedIdField, StrictChoiceField, StrictDecimalField, StrictIntegerField, TimestampField, printable

MAX_SECONDS = attempts.MAX_SECONDS_PER_CALL


def seconds_field(help_text):
    return StrictIntegerField(min_value=0, max_value=MAX_SECONDS, default=0, help_text=help_text)


class FlatSerializer(serializers.Serializer):
    """A serializer of plain fields that copies them shallowly per instance.

    DRF deep-copies every declared field for each serializer instance, which
    re-runs each field's ``__init__``: a tenth of a completion's time. Plain
    fields keep no per-instance state but what ``bind`` sets, so a shallow copy
    serves; fields holding other fields (lists, nested serializers) are still
    deep-copied, as their children are bound to them.
    """

    def get_fields(self):
        return {
            name: copy.deepcopy(field) if isinstance(field, _NESTING) else copy.copy(field)
            for name, field in self._declared_fields.items()
        }


_NESTING = (serializers.BaseSerializer, serializers.ListField, serializers.DictField, serializers.HStoreField)


class StartAttemptSerializer(FlatSerializer):
    studentSourcedId = SourcedIdField(help_text="The OneRoster sourcedId of the student.")
    activityId = SourcedIdField(help_text="The activity's stable id.")


class TimeSerializer(FlatSerializer):
    schema_required_any = ("activeSeconds", "inactiveSeconds")  # ApiSchema: the rule in validate()
    activeSeconds = seconds_field("Active seconds since the last report (added).")
    inactiveSeconds = seconds_field("Inactive seconds since the last report (added).")

    def validate(self, attrs):
        if not self.initial_data.keys() & {"activeSeconds", "inactiveSeconds"}:
            raise serializers.ValidationError(_("Give activeSeconds, inactiveSeconds or both."))
        return attrs


class CompleteSerializer(FlatSerializer):
    totalQuestions = StrictIntegerField(min_value=0, help_text="Questions in the attempt.")
    correctQuestions = StrictDecimalField(
        max_digits=9, decimal_places=2, min_value=0,
        help_text="Correct answers; may be fractional (8.5); at most totalQuestions.",
    )
    activeSeconds = seconds_field("Final active seconds (added to those reported).")
    inactiveSeconds = seconds_field("Final inactive seconds (added to those reported).")

    def get_fields(self):
        fields = super().get_fields()
        fields["totalQuestions"].max_value = app_settings.API_MAX_QUESTIONS  # the setting now (the schema's maximum)
        return fields

    def validate_totalQuestions(self, value):
        limit = app_settings.API_MAX_QUESTIONS
        if value > limit:
            raise serializers.ValidationError(_("Ensure this value is less than or equal to %(limit)d.") % {"limit": limit})
        return value

    def validate(self, attrs):
        if attrs["correctQuestions"] > attrs["totalQuestions"]:
            raise serializers.ValidationError({"correctQuestions": [_("Cannot exceed totalQuestions.")]})
        return attrs

    def service_kwargs(self):
        data = self.validated_data
        return {
            "total_questions": data["totalQuestions"],
            "correct_questions": data["correctQuestions"],
            "active_seconds": data["activeSeconds"],
            "inactive_seconds": data["inactiveSeconds"],
        }


class RecordSerializer(StartAttemptSerializer, CompleteSerializer):
    """A completed attempt in one call: start and completion fields together."""

    startedAt = TimestampField(required=False, help_text="Defaults to completedAt.")
    completedAt = TimestampField(required=False, help_text="Defaults to now (backfills give it).")

    def validate(self, attrs):
        attrs = super().validate(attrs)
        completed = attrs.get("completedAt")
        started = attrs.get("startedAt")
        if started is not None and completed is not None and started > completed:
            raise serializers.ValidationError({"startedAt": [_("Cannot be after completedAt.")]})
        return attrs


def record_kwargs(data):
    """attempts.record_attempt keyword arguments from a validated record item."""
    completed = data.get("completedAt")
    return {
        "started_at": data.get("startedAt") or completed,
        "completed_at": completed,
        "total_questions": data["totalQuestions"],
        "correct_questions": data["correctQuestions"],
        "active_seconds": data["activeSeconds"],
        "inactive_seconds": data["inactiveSeconds"],
    }


class RecordBatchSerializer(serializers.Serializer):
    items = RecordSerializer(many=True, allow_empty=False)

    def get_fields(self):
        fields = super().get_fields()
        fields["items"].max_length = app_settings.API_BATCH_LIMIT  # the setting now (the schema's maxItems)
        return fields

    def validate_items(self, value):
        limit = app_settings.API_BATCH_LIMIT
        if len(value) > limit:
            raise serializers.ValidationError(at_most_items(limit))
        return value

    def to_internal_value(self, data):
        # Check the size before validating thousands of items.
        items = data.get("items") if isinstance(data, dict) else None
        if isinstance(items, list) and len(items) > app_settings.API_BATCH_LIMIT:
            raise serializers.ValidationError({"items": [at_most_items(app_settings.API_BATCH_LIMIT)]})
        return super().to_internal_value(data)


def at_most_items(limit):
    return ngettext("At most %(limit)d item per batch.", "At most %(limit)d items per batch.", limit) % {"limit": limit}


def _number(**kwargs):
    return serializers.DecimalField(max_digits=12, decimal_places=2, coerce_to_string=False, read_only=True, **kwargs)


class AttemptSerializer(FlatSerializer):
    """An attempt as the API shows it (a plain Serializer: a ModelSerializer
    introspects the model on every instantiation, on the hot path of every write)."""

    id = serializers.IntegerField(read_only=True)
    number = serializers.IntegerField(
        read_only=True, help_text="The run: 1 for the first attempt the student started at the activity (abandoned ones too)."
    )
    attempt = serializers.IntegerField(
        source="attempt_number", read_only=True, allow_null=True,
        help_text="The attempt as Timeback counts it (completed attempts only; what the XP multiplier reads); "
        "null until completed.",
    )
    studentSourcedId = serializers.CharField(source="student.sourced_id", read_only=True)
    activityId = serializers.CharField(source="activity.activity_id", read_only=True)
    courseSourcedId = serializers.CharField(source="activity.course.sourced_id", read_only=True)
    status = serializers.SerializerMethodField()
    startedAt = serializers.DateTimeField(source="started_at", read_only=True)
    completedAt = serializers.DateTimeField(source="completed_at", read_only=True, allow_null=True)
    activeSeconds = serializers.IntegerField(source="active_seconds", read_only=True)
    inactiveSeconds = serializers.IntegerField(source="inactive_seconds", read_only=True)
    totalQuestions = serializers.IntegerField(source="total_questions", read_only=True, allow_null=True)
    correctQuestions = _number(source="correct_questions", allow_null=True)
    accuracy = _number(allow_null=True, help_text="Percent, two places; null until completed.")
    multiplier = _number(allow_null=True)
    xpEarned = _number(source="xp_earned")
    masteredUnits = serializers.IntegerField(source="mastered_units", read_only=True)

    def get_status(self, attempt) -> str:
        return "completed" if attempt.is_completed else "open"


class RecordBatchResponseSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = AttemptSerializer(many=True)


class _Figures(serializers.Serializer):
    xpTotal = _number(source="xp_total")
    masteredUnits = serializers.IntegerField(source="mastered_units")
    attemptsCount = serializers.IntegerField(source="attempts_count")
    completedCount = serializers.IntegerField(source="completed_count")
    totalQuestions = serializers.IntegerField(source="total_questions")
    correctQuestions = _number(source="correct_questions")
    accuracy = _number(allow_null=True)
    activeSeconds = serializers.IntegerField(source="active_seconds")
    inactiveSeconds = serializers.IntegerField(source="inactive_seconds")


class _CourseProgress(serializers.Serializer):
    """Mastered / masterable units (``xp.course_percent``), next to XP and never derived from it."""

    courseProgress = serializers.SerializerMethodField(help_text="Percent 0-100; null without masterable units.")

    def get_courseProgress(self, row) -> int | None:
        course = row.course if hasattr(row, "course_id") else self.context["course"]  # a class row: the view's
        return xp_rules.course_percent(row.mastered_units, course.masterable_units)


class CourseProgressSerializer(_CourseProgress, _Figures):
    courseSourcedId = serializers.CharField(source="course.sourced_id")
    title = serializers.CharField(source="course.title")
    totalXp = serializers.IntegerField(source="course.total_xp")
    masterableUnits = serializers.IntegerField(source="course.masterable_units")
    failedStreak = serializers.IntegerField(source="failed_streak")
    lastActivityAt = serializers.DateTimeField(source="last_activity_at", allow_null=True)
    courseCompletedAt = serializers.DateTimeField(source="course_completed_at", allow_null=True)


class TotalsSerializer(_Figures):
    """The same figures summed over the courses shown."""


class StudentProgressResponseSerializer(serializers.Serializer):
    studentSourcedId = serializers.CharField()
    givenName = serializers.CharField()
    familyName = serializers.CharField()
    courses = CourseProgressSerializer(many=True)
    totals = TotalsSerializer()


class CourseStudentSerializer(_CourseProgress):
    """A student of a course with their figures there (zeros before any attempt): ``queries.class_rows``."""

    studentSourcedId = serializers.CharField(source="sourced_id")
    givenName = serializers.CharField(source="given_name")
    familyName = serializers.CharField(source="family_name")
    xpTotal = _number(source="xp_total")
    accuracy = _number(allow_null=True)
    masteredUnits = serializers.IntegerField(source="mastered_units")
    attemptsCount = serializers.IntegerField(source="attempts_count")
    completedCount = serializers.IntegerField(source="completed_count")
    activeSeconds = serializers.IntegerField(source="active_seconds")
    failedStreak = serializers.IntegerField(source="failed_streak")
    lastActivityAt = serializers.DateTimeField(source="last_activity_at", allow_null=True)
    struggling = serializers.BooleanField(
        source="is_struggling", help_text="The last STRUGGLING_ATTEMPTS completed attempts with questions were "
        "all under the XP policy's pass mark (never for a student who mastered every unit).",
    )
    inactive = serializers.BooleanField(
        source="is_inactive", help_text="No activity for INACTIVE_DAYS days, counted from enrolment before any "
        "(never for a student who mastered every unit).",
    )
    stuck = serializers.BooleanField(source="is_stuck", help_text="Deprecated: struggling or inactive.")


# ``ordering`` -> the dashboards' sort key (``dashboards.queries.SORTS``), so both order alike.
ORDERINGS = {
    "name": "name",
    "-name": "-name",
    "xpTotal": "xp",
    "-xpTotal": "-xp",
    "accuracy": "accuracy",
    "-accuracy": "-accuracy",
    "lastActivityAt": "last_activity",
    "-lastActivityAt": "-last_activity",
}


class CourseStudentsFilterSerializer(serializers.Serializer):
    """Query parameters of the course students list."""

    search = serializers.CharField(required=False, max_length=100, help_text="Every word in a name, email or sourcedId.")
    minXp = serializers.DecimalField(required=False, max_digits=12, decimal_places=2, min_value=0)
    stuck = serializers.BooleanField(
        required=False, allow_null=True, default=None,
        help_text="true: only students struggling or inactive; false: only students who are neither.",
    )
    ordering = serializers.ChoiceField(choices=list(ORDERINGS), default="name")
    page = serializers.IntegerField(required=False, min_value=1)
    pageSize = serializers.IntegerField(required=False, min_value=1, max_value=500)


# -- result corrections ---------------------------------------------------------

# Body field -> ``corrections.correct_result`` keyword.
CORRECTION_FIELDS = {
    "score": "score",
    "scoreStatus": "score_status",
    "xp": "xp",
    "totalQuestions": "total_questions",
    "correctQuestions": "correct_questions",
    "masteredUnits": "mastered_units",
}


class CorrectionRequestSerializer(serializers.Serializer):
    """A correction of a completed attempt's result, as the admin's correction form takes it.

    Unknown keys are refused (a misspelt field must not be a silent no-op in
    an audited change). Values equal to the current ones are not passed on, so
    an untouched ``xp`` or ``masteredUnits`` is never pinned with an override.
    """

    reason = serializers.CharField(max_length=2000, help_text="Required; kept in the audit trail.")
    # coerce_to_string=False: the schema says "number", which is what these fields accept.
    score = StrictDecimalField(
        required=False, max_digits=7, decimal_places=2, min_value=0, coerce_to_string=False,
        help_text="The result's score.",
    )
    scoreStatus = StrictChoiceField(required=False, choices=ScoreStatus.choices, help_text="OneRoster scoreStatus.")
    xp = StrictDecimalField(
        required=False, max_digits=9, decimal_places=2, min_value=0, coerce_to_string=False,
        help_text="Pins the attempt's XP (an override) until it is corrected again.",
    )
    totalQuestions = StrictIntegerField(required=False, min_value=0, help_text="Questions in the attempt.")
    correctQuestions = StrictDecimalField(
        required=False, max_digits=9, decimal_places=2, min_value=0, coerce_to_string=False,
        help_text="Correct answers; may be fractional; at most totalQuestions.",
    )
    masteredUnits = StrictIntegerField(
        required=False, min_value=0,
        help_text="Pins the attempt's mastered units (an override); at most the activity's masterable units.",
    )

    validate_totalQuestions = CompleteSerializer.validate_totalQuestions

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = [name for name in data if name not in self.fields]
            if unknown:
                raise serializers.ValidationError({printable(name, 100): [_("Unknown field.")] for name in unknown[:20]})
        return super().to_internal_value(data)

    def validate(self, attrs):
        if not attrs.keys() & CORRECTION_FIELDS.keys():
            raise serializers.ValidationError(_("Give at least one of %(fields)s.") % {"fields": ", ".join(CORRECTION_FIELDS)})
        return attrs  # the rules that need the attempt: corrections.check, via correction_errors


def correction_changes(data, result):
    """``corrections.correct_result`` keywords for the values that differ from ``result``'s (as the admin form)."""
    values = {keyword: data[field] for field, keyword in CORRECTION_FIELDS.items() if field in data}
    return corrections.changed_values(values, result)


def correction_errors(error):
    """A Django ``ValidationError`` from ``corrections.correct_result`` as DRF field errors (camelCase)."""
    fields = {keyword: field for field, keyword in CORRECTION_FIELDS.items()}
    fields["reason"] = "reason"
    if not hasattr(error, "error_dict"):
        return {api_settings.NON_FIELD_ERRORS_KEY: error.messages}
    errors = {}
    for name, messages in error.message_dict.items():
        errors.setdefault(fields.get(name, api_settings.NON_FIELD_ERRORS_KEY), []).extend(messages)
    return errors


class CorrectionSerializer(serializers.ModelSerializer):
    """One audit row: the result's figures before and after, who and why."""

    attemptId = serializers.IntegerField(source="result.attempt_id", read_only=True)
    resultSourcedId = serializers.CharField(source="result.sourced_id", read_only=True)
    before = serializers.DictField(read_only=True, help_text="score, scoreStatus and the result's metadata before.")
    after = serializers.DictField(read_only=True, help_text="The same, after the correction.")
    correctedBy = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = ResultCorrection
        fields = ["id", "attemptId", "resultSourcedId", "reason", "correctedBy", "createdAt", "before", "after"]
        read_only_fields = fields

    def get_correctedBy(self, correction) -> str | None:
        user = correction.corrected_by
        return user.get_username() if user is not None else None


class CorrectionCreatedSerializer(CorrectionSerializer):
    """The audit row just written, with the attempt's figures after the correction."""

    attempt = AttemptSerializer(source="result.attempt", read_only=True, help_text="The attempt's figures now.")

    class Meta(CorrectionSerializer.Meta):
        fields = [*CorrectionSerializer.Meta.fields, "attempt"]


class CorrectionListSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = CorrectionSerializer(many=True, help_text="Newest first.")
