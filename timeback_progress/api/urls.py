"""API routes; include with ``path("api/", include("timeback_progress.api.urls"))``."""

app_name = "timeback_progress_api"

urlpatterns = []
