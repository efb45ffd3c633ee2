"""The grid's and the activities view's query strings as forms: a bad value is a 400 naming it.

Both take the course (its sections are the only ones accepted); the grid also
takes the course's activities, so ``?sort=a<pk>`` names one of them or is refused.
"""

import re

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from . import activities
from .sections import SectionField

ACTIVITY_SORT = re.compile(r"-?a(\d{1,18})")


class CourseViewForm(forms.Form):
    """Section, page and sort, shared by the grid and the activities view."""

    section = SectionField()
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput, label=_("Page"))
    sort = forms.CharField(required=False, max_length=24, widget=forms.HiddenInput, label=_("Sort"))
    default_sort = "name"

    def __init__(self, data, *, course, **kwargs):
        super().__init__(data, **kwargs)
        self.fields["section"].set_course(course)

    @property
    def has_sections(self):
        return self.fields["section"].has_sections

    def value(self, name):
        """A cleaned value, or its default when the form is invalid (the page then shows every student)."""
        data = self.cleaned_data if self.is_valid() else {}
        defaults = {"section": "", "page": 1, "sort": self.default_sort}
        return data.get(name) or defaults[name]


class GridForm(CourseViewForm):
    """``sort``: ``name``/``-name`` or ``a<pk>``/``-a<pk>``, ``pk`` one of the grid's activities."""

    def __init__(self, data, *, course, activities, **kwargs):
        super().__init__(data, course=course, **kwargs)
        self.activities = {a.pk: a for a in activities}

    def clean_sort(self):
        sort = self.cleaned_data.get("sort") or ""
        if sort in ("", "name", "-name"):
            return sort
        match = ACTIVITY_SORT.fullmatch(sort)
        if not match or int(match.group(1)) not in self.activities:
            raise ValidationError(
                _("Sort by name or by one of this course's activities."), code="invalid_sort"
            )
        return sort

    def sort_activity(self):
        """The activity the grid is sorted by, or None (by name)."""
        sort = self.value("sort")
        return None if sort.lstrip("-") == "name" else self.activities[int(sort.lstrip("-")[1:])]


class ActivitiesForm(CourseViewForm):
    """``sort``: an ``activities.SORTS`` key, ``-`` for descending (``order``: the course's order)."""

    default_sort = "order"

    def clean_sort(self):
        sort = self.cleaned_data.get("sort") or ""
        if sort and sort.removeprefix("-") not in activities.SORTS:
            raise ValidationError(
                _("Sort by one of: %(keys)s."), code="invalid_sort", params={"keys": ", ".join(activities.SORTS)}
            )
        return sort
