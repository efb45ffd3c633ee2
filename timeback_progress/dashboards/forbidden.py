"""The dashboards' own 403 page: why access was refused, who is signed in, where to go, how to sign out.

Rendered by ``views.DashboardMixin`` when a view raises ``PermissionDenied``,
inside the dashboards: a reusable app leaves the host's ``handler403`` alone.
"""

from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext

from .. import permissions


def logout_url():
    """The host's ``logout`` URL (Django's LogoutView takes a POST), or None when the host names none."""
    try:
        return reverse("logout")
    except NoReverseMatch:
        return None


def response(request, exc):
    """The styled 403 for ``request``'s user; ``exc`` is the PermissionDenied with the reason."""
    user = request.user
    message = str(exc) or gettext("You do not have access to this page.")
    return render(
        request,
        "timeback_progress/forbidden.html",
        {
            "message": message,
            "signed_in_as": user.get_full_name() or user.get_username(),
            "own_student": permissions.student_for(user),
            "sees_courses": user.is_staff or permissions.courses_for(user).exists(),
            "logout_url": logout_url(),
        },
        status=403,
    )
