"""API routes; include with ``path("api/", include("timeback_progress.api.urls"))``.

Ids are ``<int:…>``, so ``attempts/abc/`` matches no route; the last route
answers every unmatched ``v1/`` path with the API's JSON 404 (Django's own
404 page is HTML, and with ``DEBUG`` on it lists the URLconf).
"""

from django.urls import path, re_path

from . import corrections, errors, views

app_name = "timeback_progress_api"

urlpatterns = [
    path("v1/attempts/", views.StartAttemptView.as_view(), name="attempt-start"),
    path("v1/attempts/record/", views.RecordAttemptView.as_view(), name="attempt-record"),
    path("v1/attempts/record/batch/", views.RecordBatchView.as_view(), name="attempt-record-batch"),
    path("v1/attempts/<int:pk>/", views.AttemptDetailView.as_view(), name="attempt-detail"),
    path("v1/attempts/<int:pk>/time/", views.AttemptTimeView.as_view(), name="attempt-time"),
    path("v1/attempts/<int:pk>/complete/", views.AttemptCompleteView.as_view(), name="attempt-complete"),
    path("v1/attempts/<int:pk>/corrections/", corrections.AttemptCorrectionsView.as_view(), name="attempt-corrections"),
    path("v1/students/<str:sourced_id>/progress/", views.StudentProgressView.as_view(), name="student-progress"),
    path("v1/courses/<str:sourced_id>/students/", views.CourseStudentsView.as_view(), name="course-students"),
    re_path(r"^v1/", errors.not_found, name="not-found"),  # last: anything else under v1/
]
