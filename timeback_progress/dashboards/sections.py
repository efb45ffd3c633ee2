"""Sections: the OneRoster classes of a course, a filter shared by every dashboard view.

The roster import keeps one ``RosterClass`` per class and names it on each
enrolment (``Enrollment.class_sourced_id``). A course whose roster has no
classes (made by hand, by host code or by the API) simply has no section
filter: ``choices`` is empty and the field is not shown.
"""

from django import forms
from django.utils.translation import gettext_lazy as _

from ..models import RosterClass


def sections_for(course):
    """The active roster classes of ``course``, by title."""
    return RosterClass.objects.filter(course=course, is_active=True).order_by("title", "sourced_id")


def choices(course):
    """``(sourcedId, title)`` pairs for a select (one query)."""
    return [(sourced_id, title or sourced_id) for sourced_id, title in sections_for(course).values_list("sourced_id", "title")]


class SectionField(forms.ChoiceField):
    """A section of the course given to the form (``""``: every student); anything else is a 400."""

    def __init__(self, *, course=None, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", _("Section"))
        super().__init__(**kwargs)
        self.set_course(course)

    def set_course(self, course):
        found = choices(course) if course is not None else []
        self.choices = [("", _("All sections")), *found]
        self.has_sections = bool(found)
