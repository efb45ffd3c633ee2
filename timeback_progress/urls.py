"""Teacher dashboards; include with ``path("progress/", include("timeback_progress.urls"))``."""

from django.urls import path

from . import views

app_name = "timeback_progress"

urlpatterns = [
    path("", views.CourseListView.as_view(), name="course-list"),
]
