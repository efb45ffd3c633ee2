"""What the API benchmarks share: Django set up on the example project, and a bare
DRF insert to measure the app's endpoints against (same authentication and
middleware, one row written, nothing of the app's work)."""

import os
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django():
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    # The example project wants a SECRET_KEY with DEBUG off and redirects plain http;
    # these runs are in-process on loopback (the test client speaks http).
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
    import django

    django.setup()


def urlconf(name, *includes):
    """A URLconf module ``name``: ``includes`` (``(prefix, module)`` pairs) plus ``bench/bare/``."""
    from django.urls import include, path
    from rest_framework import serializers
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from timeback_progress.models import SyncState

    class RowSerializer(serializers.ModelSerializer):
        class Meta:
            model = SyncState
            fields = ["id", "name"]

    class BareInsert(APIView):
        def post(self, request):
            serializer = RowSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            serializer.save()
            return Response(serializer.data, status=201)

    module = type(sys)(name)
    module.urlpatterns = [*(path(prefix, include(target)) for prefix, target in includes),
                          path("bench/bare/", BareInsert.as_view())]
    sys.modules[name] = module
    return name
