"""The demo's pages: ``path("demo/", include("project.demo.urls"))`` in the example project."""

from django.urls import path

from . import views

app_name = "demo"

urlpatterns = [
    path("fractions-quiz/", views.FractionsQuizView.as_view(), name="fractions-quiz"),
]
