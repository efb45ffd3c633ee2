"""The request bodies as DRF serializers: their fields say what a body holds, ``validation`` judges it.

DRF's fields coerce (a ``CharField`` takes ``7`` as ``"7"``), and the
vendor's validators do not: so the fields here only describe the bodies
(to readers and to tools that walk the routes, such as the hostile-input
sweep), and ``to_internal_value`` hands the raw body to ``validation``,
which applies the vendor's rules and this app's bounds. A refusal is a
``ProtocolError`` (the vendor's error body), not DRF's field errors.
"""

from rest_framework import serializers

from . import validation


class CourseSelector(serializers.Serializer):
    subject = serializers.ChoiceField(choices=validation.SUBJECTS, required=False)
    grade = serializers.IntegerField(min_value=0, max_value=12, required=False)
    code = serializers.CharField(required=False)


class Metrics(serializers.Serializer):
    totalQuestions = serializers.IntegerField(min_value=0)
    correctQuestions = serializers.IntegerField(min_value=0)
    xpEarned = serializers.FloatField()
    masteredUnits = serializers.IntegerField(min_value=0, required=False)


class _Request(serializers.Serializer):
    id = serializers.CharField(max_length=validation.MAX_ID_LENGTH)
    name = serializers.CharField()
    course = CourseSelector()
    runId = serializers.UUIDField()
    validate_body = None

    def to_internal_value(self, data):
        return type(self).validate_body(data)


class HeartbeatRequest(_Request):
    startedAt = serializers.DateTimeField()
    endedAt = serializers.DateTimeField()
    elapsedMs = serializers.IntegerField(min_value=0)
    pausedMs = serializers.IntegerField(min_value=0)
    idleMs = serializers.IntegerField(min_value=0, required=False)
    validate_body = staticmethod(validation.heartbeat)


class SubmitRequest(_Request):
    endedAt = serializers.DateTimeField()
    metrics = Metrics()
    pctComplete = serializers.FloatField(required=False)
    process = serializers.BooleanField(required=False)
    validate_body = staticmethod(validation.submit)
