"""Sign-in and sign-out for a host that has no pages of its own for them.

Include with ``path("accounts/", include("timeback_progress.auth_urls"))``:
Django's ``django.contrib.auth.urls`` (sign-out, password change and reset),
with the sign-in page rendered by the app's own template, because Django
ships no ``registration/login.html`` and ``django.contrib.auth.urls`` alone
answers ``/accounts/login/`` with a TemplateDoesNotExist error. No namespace: the names stay
Django's (``login``, ``logout``, ...), which ``LOGIN_URL``'s default
``/accounts/login/`` matches and the dashboards' "Sign out" button reverses
(checks W007, W008). A host with its own sign-in pages leaves this out.
"""

from django.contrib.auth import urls as django_auth_urls
from django.contrib.auth import views as auth_views
from django.urls import path

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="timeback_progress/login.html"), name="login"),
    *(pattern for pattern in django_auth_urls.urlpatterns if pattern.name != "login"),
]
