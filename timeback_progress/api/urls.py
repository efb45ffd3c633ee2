"""API routes; include with ``path("api/", include("timeback_progress.api.urls"))``.

With that one include the host also gets the OpenAPI schema at ``schema/``
and its Swagger UI at ``docs/`` (``schema.SchemaView``, ``SchemaDocsView``:
signed-in users only unless ``API_SCHEMA_PUBLIC``); the Swagger page needs
``drf_spectacular`` in ``INSTALLED_APPS`` (check W013).

Ids are ``<int:…>``, so ``attempts/abc/`` matches no route; the last route
answers every unmatched ``v1/`` path with the API's JSON 404 (Django's own
404 page is HTML, and with ``DEBUG`` on it lists the URLconf).
"""

from django.urls import path, re_path

from . import corrections, errors, views
from .schema import SchemaDocsView, SchemaView

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
    # api_version: the API has one (v1/); fixed, so ?version= (drf-spectacular puts it in a header) is not read.
    path("schema/", SchemaView.as_view(api_version="1"), name="schema"),
    path("docs/", SchemaDocsView.as_view(url_name=f"{app_name}:schema"), name="docs"),
    re_path(r"^v1/", errors.not_found, name="not-found"),  # last: anything else under v1/
]
