"""The dashboards' query strings as forms: invalid values are reported (a 400
that says what was wrong), never guessed."""

from django import forms
from django.utils.translation import gettext_lazy as _

from ..subjects import SUBJECT_CHOICES, SubjectChoiceField
from .queries import SORTS


class OverviewFilterForm(forms.Form):
    """The course overview's (and its CSV export's) search, dates, stuck flag and sort."""

    q = forms.CharField(required=False, max_length=100, label=_("Search by name"))
    start = forms.DateField(required=False, label=_("Active from"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, label=_("Active until"), widget=forms.DateInput(attrs={"type": "date"}))
    stuck = forms.BooleanField(required=False, label=_("Stuck only"))
    sort = forms.ChoiceField(
        required=False,
        choices=[(p + k, p + k) for k in SORTS for p in ("", "-")],
        widget=forms.HiddenInput,
    )

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise forms.ValidationError(_("The start date must not be after the end date."))
        return data

    def row_filters(self):
        """``queries.filter_rows`` keywords from valid data (nothing filtered when invalid).

        An unticked "stuck only" box shows everyone, not only students on track.
        """
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "search": data.get("q") or "",
            "start": data.get("start"),
            "end": data.get("end"),
            "stuck": True if data.get("stuck") else None,
        }

    def sort_key(self):
        """The ``queries.SORTS`` key asked for (``-`` for descending); by name by default or when invalid."""
        return (self.cleaned_data.get("sort") if self.is_valid() else None) or "name"


class CourseFilterForm(forms.Form):
    """The course list's title search and subject."""

    q = forms.CharField(required=False, max_length=100, label=_("Search courses"))
    # A SUBJECT_MAP name filters by its Timeback subject; anything else is a 400 naming the accepted ones.
    subject = SubjectChoiceField(
        required=False, choices=[("", _("All subjects")), *SUBJECT_CHOICES], label=_("Subject")
    )
