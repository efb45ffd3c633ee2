from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from timeback_progress.api.schema import SchemaDocsView, SchemaView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="timeback_progress:course-list", permanent=False)),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("progress/", include("timeback_progress.urls")),
    path("api/", include("timeback_progress.api.urls")),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", SchemaDocsView.as_view(url_name="schema"), name="api-docs"),
]
