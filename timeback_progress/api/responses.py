"""What the schema says each operation answers: the error bodies, the
Idempotency-Key header, and ``write_schema`` for the write operations.

Kept apart from the views so a reader finds the published contract in one
place; the views only name what they answer with.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers as drf_serializers

from . import idempotency


class ErrorSerializer(drf_serializers.Serializer):
    detail = drf_serializers.CharField()


class BatchItemErrorsSerializer(drf_serializers.Serializer):
    items = drf_serializers.DictField(
        child=drf_serializers.JSONField(), help_text="The errors of each refused item, keyed by the item's index."
    )


# A batch's 403 and 404 name the refused items; the same statuses from the checks
# before it (an inactive user) carry ``detail``.
BATCH_REFUSAL = PolymorphicProxySerializer(
    component_name="BatchRefusal", serializers=[ErrorSerializer, BatchItemErrorsSerializer],
    resource_type_field_name=None,
)


IDEMPOTENCY_PARAMETER = OpenApiParameter(
    idempotency.HEADER,
    # What idempotency.get_key accepts: 1 to 255 printable ASCII characters (a header's
    # surrounding spaces are not part of its value, so the key starts and ends with a visible one).
    {"type": "string", "minLength": 1, "maxLength": idempotency.MAX_KEY_LENGTH,
     "pattern": r"^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$"},
    OpenApiParameter.HEADER,
    description="Retry-safe writes: a repeated request with the same key returns the first response "
    "(1 to 255 printable ASCII characters).",
)
ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="Field errors; nothing was written."),
    401: OpenApiResponse(ErrorSerializer, description="Not authenticated."),
    403: OpenApiResponse(ErrorSerializer, description="Not allowed."),
    404: OpenApiResponse(ErrorSerializer, description="Unknown, inactive or not yours."),
}
WRITE_ERRORS = {
    **ERRORS,
    409: OpenApiResponse(ErrorSerializer, description="The attempt is already completed."),
    422: OpenApiResponse(ErrorSerializer, description="Idempotency-Key reused for a different request."),
}


def write_schema(request, response, summary, code=200, description=None, errors=None):
    return extend_schema(
        summary=summary,
        description=description,
        request=request,
        responses={code: response, **WRITE_ERRORS, **(errors or {})},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
