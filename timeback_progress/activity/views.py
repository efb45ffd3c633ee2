"""Thin views: authenticate as the API does, validate, resolve, call ``runs``; answer in the vendor's shapes.

Authentication and permissions are the project's DRF ones (session with its
CSRF check, token), the API's ``IsActiveUser`` and its throttles; every
refusal, DRF's included, is the vendor's ``{"error": {...}}`` body.
Responses: heartbeat 204 (counted) or 200 ``{"duplicate": true}``, as the
vendor's handler; submit 200 with the completion (the vendor answers 204 and
no body; a page written for it ignores the body); ``user/me`` 200 profile.
"""

from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from ..api.parsers import StrictJSONParser
from ..api.permissions import IsActiveUser
from ..api.schema import ChallengeMixin
from ..api.throttling import TimebackReadThrottle, TimebackWriteThrottle
from . import errors, profile, resolve, runs
from .serializers import HeartbeatRequest, SubmitRequest


class ProtocolView(ChallengeMixin, APIView):
    permission_classes = [IsActiveUser]
    parser_classes = [StrictJSONParser]
    throttle_classes = [TimebackWriteThrottle]
    schema = None  # not part of the REST API's published schema: the vendor's protocol documents it

    def handle_exception(self, exc):
        if isinstance(exc, errors.ProtocolError):
            return Response(exc.body(), status=exc.status)
        response = super().handle_exception(exc)  # DRF's status and headers (WWW-Authenticate, Retry-After)
        if isinstance(exc, exceptions.ParseError):
            response.data = errors.ProtocolError("INVALID_PAYLOAD", _("Malformed JSON in request body"), 400).body()
        else:
            response.data = errors.from_drf(response.status_code, getattr(exc, "detail", None))
        return response

    def validated(self, serializer_class):
        """The body as ``validation`` reads it (a ``Heartbeat`` or ``Submit``), or its ProtocolError."""
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def playing(self, request, payload):
        """``(student, activity)`` for a validated heartbeat or submit."""
        student = resolve.student_for(request.user)
        activity = resolve.activity_for(request.user, student, payload.activity_id, payload.selector)
        return student, activity


class HeartbeatView(ProtocolView):
    def post(self, request):
        beat = self.validated(HeartbeatRequest)
        student, activity = self.playing(request, beat)
        if runs.record_heartbeat(student, activity, beat):
            return Response(status=204)
        return Response({"duplicate": True})


class SubmitView(ProtocolView):
    def post(self, request):
        submit = self.validated(SubmitRequest)
        student, activity = self.playing(request, submit)
        attempt, duplicate = runs.submit_run(student, activity, submit, user=request.user)
        return Response(runs.result_body(attempt, submit.run_id, duplicate=duplicate))


class UserMeView(ProtocolView):
    throttle_classes = [TimebackReadThrottle]

    def get(self, request):
        return Response(profile.profile(resolve.student_for(request.user)))
