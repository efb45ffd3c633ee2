from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="timeback_progress:course-list", permanent=False)),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("progress/", include("timeback_progress.urls")),
    path("api/", include("timeback_progress.api.urls")),  # also the schema (api/schema/) and Swagger UI (api/docs/)
    path("api/timeback/", include("timeback_progress.activity.urls")),  # the vendor SDK's activity protocol
    path("demo/", include("project.demo.urls")),  # the demo's playable quiz (the browser kit's loop)
]

# Django's own error answers (a bad Host, an unknown path) are JSON under /api/, pages elsewhere.
handler400 = "timeback_progress.api.errors.bad_request"
handler403 = "timeback_progress.api.errors.permission_denied"
handler404 = "timeback_progress.api.errors.page_not_found"
handler500 = "timeback_progress.api.errors.server_error"
