"""The vendor's routes (``timeback/shared/constants.py`` ``ROUTES``) under the prefix the host picks.

The vendor's page calls ``{basePath}/activity/heartbeat``, ``/activity/submit``
and ``/user/me`` with ``basePath`` ``/api/timeback`` by default; so::

    path("api/timeback/", include("timeback_progress.activity.urls"))
"""

from django.urls import path

from . import views

app_name = "timeback_activity"

urlpatterns = [
    path("activity/heartbeat", views.HeartbeatView.as_view(), name="heartbeat"),
    path("activity/submit", views.SubmitView.as_view(), name="submit"),
    path("user/me", views.UserMeView.as_view(), name="user-me"),
]
