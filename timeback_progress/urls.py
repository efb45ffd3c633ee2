"""Teacher dashboards and the student's own page; include with ``path("progress/", include("timeback_progress.urls"))``."""

from django.urls import path

from .dashboards import class_views, student_views, views

app_name = "timeback_progress"

urlpatterns = [
    path("", views.CourseListView.as_view(), name="course-list"),
    path("me/", student_views.MyProgressView.as_view(), name="my-progress"),
    path("courses/<int:course_pk>/", views.CourseOverviewView.as_view(), name="course-overview"),
    path("courses/<int:course_pk>/export.csv", views.CourseExportView.as_view(), name="course-export"),
    path("courses/<int:course_pk>/grid/", class_views.CourseGridView.as_view(), name="course-grid"),
    path("courses/<int:course_pk>/grid.csv", class_views.CourseGridExportView.as_view(), name="course-grid-export"),
    path("courses/<int:course_pk>/activities/", class_views.CourseActivitiesView.as_view(), name="course-activities"),
    path(
        "courses/<int:course_pk>/activities.csv",
        class_views.CourseActivitiesExportView.as_view(),
        name="course-activities-export",
    ),
    path(
        "courses/<int:course_pk>/students/<int:student_pk>/",
        views.StudentDetailView.as_view(),
        name="student-detail",
    ),
]
