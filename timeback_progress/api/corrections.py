"""The result corrections endpoint: the API twin of the admin's correction form.

The rules are ``gradebook.corrections``' (as the admin's); this module only
adapts HTTP to them: who may correct, the request's shape, the answer.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response
from rest_framework.settings import api_settings

from ..gradebook import corrections
from ..gradebook.locking import db_for_write
from ..models import Result, ResultCorrection
from . import idempotency, permissions, serializers
from .throttling import TimebackReadThrottle
from .responses import ERRORS, IDEMPOTENCY_PARAMETER, WRITE_ERRORS, ErrorSerializer
from .views import Conflict, WriteView, get_attempt

CORRECT_PERMISSION = "timeback_progress.correct_result"
VIEW_CORRECTIONS_PERMISSION = "timeback_progress.view_resultcorrection"


class MayCorrectResults(permissions.IsActiveUser):
    """The admin's rule: ``timeback_progress.correct_result``; being staff is not enough.

    Reading the audit trail also accepts ``view_resultcorrection``.
    """

    @property
    def message(self):  # read as DRF refuses, so in the request's language
        return gettext("Correcting results needs the permission %(permission)s.") % {"permission": CORRECT_PERMISSION}

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        user = request.user
        if request.method in SAFE_METHODS and user.has_perm(VIEW_CORRECTIONS_PERMISSION):
            return True
        return user.has_perm(CORRECT_PERMISSION)


class AttemptCorrectionsView(WriteView):
    """Correct a completed attempt's result (``corrections.correct_result``), or list its corrections.

    The API twin of the admin's correction form: the result and the attempt's
    figures are re-derived, an audit row is written, the result is re-queued
    for Timeback, and a changed XP sends an ActivityEvent with the difference.
    """

    permission_classes = [MayCorrectResults]

    def get_throttles(self):
        if self.request.method in SAFE_METHODS:
            return [TimebackReadThrottle()]
        return super().get_throttles()

    @extend_schema(
        summary="List an attempt's result corrections, newest first",
        responses={200: serializers.CorrectionListSerializer, **ERRORS},
    )
    def get(self, request, pk):
        attempt = get_attempt(pk, lambda a: True)
        rows = (
            ResultCorrection.objects.filter(result__attempt=attempt)
            .select_related("result", "corrected_by")
            .order_by("-created_at", "-pk")
        )
        results = serializers.CorrectionSerializer(rows, many=True).data
        return Response({"count": len(results), "results": results})

    @extend_schema(
        summary="Correct a completed attempt's result (with a reason, audited)",
        description="The result and the attempt's figures are re-derived, an audit row is written, the result "
        "is sent to Timeback again, and a changed XP sends an ActivityEvent with the difference.",
        request=serializers.CorrectionRequestSerializer,
        responses={
            201: serializers.CorrectionCreatedSerializer,
            **WRITE_ERRORS,
            409: OpenApiResponse(ErrorSerializer, description="The attempt is not completed: no result to correct."),
        },
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    def post(self, request, pk):
        data = self.validated(serializers.CorrectionRequestSerializer).validated_data

        def perform():
            # correct_result takes the locks (attempt and student, then the result) and re-reads under them.
            attempt = get_attempt(pk, lambda a: True)
            result = Result.objects.filter(attempt=attempt).first()
            if result is None:
                raise Conflict(gettext("This attempt is not completed, so it has no result to correct."), code="not_completed")
            result.attempt = attempt
            changes = serializers.correction_changes(data, result)
            if not changes:
                raise exceptions.ValidationError(
                    {api_settings.NON_FIELD_ERRORS_KEY: [gettext("Nothing changed: every value given is the current one.")]}
                )
            try:
                correction = corrections.correct_result(result, user=request.user, reason=data["reason"], **changes)
            except DjangoValidationError as error:
                raise exceptions.ValidationError(serializers.correction_errors(error)) from None
            attempt.refresh_from_db(using=db_for_write())  # the figures just written, not a replica's
            correction.result.attempt = attempt
            return status.HTTP_201_CREATED, serializers.CorrectionCreatedSerializer(correction).data

        return idempotency.run(request, perform)
