"""The dashboards' query strings as forms: invalid values are reported (a 400
that says what was wrong), never guessed."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from ..limits import EARLIEST_DATE, LATEST_DATE
from ..subjects import SUBJECT_CHOICES, SubjectChoiceField
from .queries import SORTS


class BoundedDateField(forms.DateField):
    """A date within ``limits.EARLIEST_DATE``..``LATEST_DATE``.

    Year 1 and year 9999 parse as dates, but the day arithmetic after them
    (a day added, a time zone applied) overflows: such dates are refused here.
    """

    widget = forms.DateInput(attrs={"type": "date", "min": EARLIEST_DATE.isoformat(), "max": LATEST_DATE.isoformat()})

    def validate(self, value):
        super().validate(value)
        if value is not None and not EARLIEST_DATE <= value <= LATEST_DATE:
            raise ValidationError(
                _("Enter a date between %(earliest)s and %(latest)s."),
                code="out_of_range",
                params={"earliest": EARLIEST_DATE.isoformat(), "latest": LATEST_DATE.isoformat()},
            )


class OverviewFilterForm(forms.Form):
    """The course overview's (and its CSV export's) search, dates, stuck flag and sort."""

    q = forms.CharField(required=False, max_length=100, label=_("Search by name"))
    start = BoundedDateField(required=False, label=_("Active from"))
    end = BoundedDateField(required=False, label=_("Active until"))
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
