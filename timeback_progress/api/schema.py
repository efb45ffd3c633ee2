"""The published OpenAPI schema: what it says, and who may read it.

- Descriptions are written for clients, never taken from docstrings: class
  docstrings here are notes for maintainers (``ApiSchema``).
- ``API_SCHEMA_PUBLIC`` (default False) decides whether the schema and its
  Swagger UI need a signed-in user (``SchemaView``, ``SchemaDocsView``).
- An anonymous API call is a 401 with ``WWW-Authenticate`` whenever one of the
  configured authenticators names a scheme, as the schema documents
  (``ChallengeMixin``).
"""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import get_override
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.serializers import ListField, ListSerializer

from ..conf import app_settings


class ApiSchema(AutoSchema):
    """Only explicit descriptions: ``extend_schema(description=...)`` and serializer ``help_text``."""

    def get_description(self):
        return ""  # extend_schema(description=...) replaces this method when given

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if not get_override(serializer, "description"):
            schema.pop("description", None)
        if direction == "request":
            required_any = getattr(serializer, "schema_required_any", ())  # "give at least one of these"
            if required_any:
                schema["anyOf"] = [{"required": [name]} for name in required_any]
            for name, field in serializer.fields.items():
                if isinstance(field, (ListSerializer, ListField)) and name in schema.get("properties", {}):
                    schema["properties"][name].update(list_bounds(field))
        return schema

    def _get_request_for_media_type(self, serializer, direction="request"):
        schema, required = super()._get_request_for_media_type(serializer, direction)
        # "Give at least one of these" needs a body: an absent one is refused like an empty one.
        return schema, required or bool(getattr(serializer, "schema_required_any", ()))


def list_bounds(field):
    """``minItems``/``maxItems`` for a list the server bounds (drf-spectacular leaves them out)."""
    bounds = {}
    low = field.min_length if field.min_length is not None else (0 if field.allow_empty else 1)
    if low:
        bounds["minItems"] = low
    if field.max_length is not None:
        bounds["maxItems"] = field.max_length
    return bounds


class ChallengeMixin:
    """Answer an anonymous call with 401 and the first scheme any authenticator offers.

    DRF asks only the first authenticator for its ``WWW-Authenticate`` header;
    session authentication has none, so with it first every anonymous call was
    a 403 without a challenge. The project's authenticators and their order are
    kept; only the challenge looks past the first.
    """

    def get_authenticate_header(self, request):
        for authenticator in self.get_authenticators():
            header = authenticator.authenticate_header(request)
            if header:
                return header
        return None


class _SchemaAccess:
    def get_permissions(self):
        permission = AllowAny if app_settings.API_SCHEMA_PUBLIC else IsAuthenticated
        return [permission()]


class SchemaView(ChallengeMixin, _SchemaAccess, SpectacularAPIView):
    """The OpenAPI schema; public only with ``API_SCHEMA_PUBLIC``."""

    schema = None  # not an operation of the API it describes


class SchemaDocsView(ChallengeMixin, _SchemaAccess, SpectacularSwaggerView):
    """Swagger UI over ``SchemaView``; public only with ``API_SCHEMA_PUBLIC``."""
