"""The dashboards' query strings as forms: invalid values are reported (a 400
that says what was wrong), never guessed."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from ..limits import EARLIEST_DATE, LATEST_DATE
from ..subjects import SUBJECT_CHOICES, SubjectChoiceField
from . import queries
from .queries import SORTS
from .sections import SectionField


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
    """The course overview's (and its CSV export's) search, time window, section, flags and sort.

    ``start``/``end`` make a time window (local days of the chart time zone):
    the figures become those of the attempts completed in it; they select no
    students. The section field lists the course's roster classes and is
    hidden when it has none.
    """

    SHOW_CHOICES = [
        ("all", _("Everyone")),
        ("struggling", _("Struggling")),
        ("inactive", _("Inactive")),
        ("either", _("Struggling or inactive")),
    ]

    q = forms.CharField(required=False, max_length=100, label=_("Search by name"))
    start = BoundedDateField(required=False, label=_("From"))
    end = BoundedDateField(required=False, label=_("Until"))
    section = SectionField()
    show = forms.ChoiceField(required=False, choices=SHOW_CHOICES, label=_("Show"))
    sort = forms.ChoiceField(
        required=False,
        choices=[(p + k, p + k) for k in SORTS for p in ("", "-")],
        widget=forms.HiddenInput,
    )

    def __init__(self, *args, course=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["section"].set_course(course)

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise forms.ValidationError(_("The start date must not be after the end date."))
        # The old "stuck only" box (saved links): either flag.
        if not data.get("show") and self.data.get("stuck"):
            data["show"] = "either"
        return data

    def _data(self):
        return self.cleaned_data if self.is_valid() else {}

    def row_filters(self):
        """``queries.filter_rows`` keywords from valid data (nothing filtered when invalid)."""
        data = self._data()
        return {"search": data.get("q") or "", "show": data.get("show") or None}

    def window(self):
        """``queries.class_rows``' window (None: all time) from valid data."""
        data = self._data()
        return queries.window_for(data.get("start"), data.get("end"))

    def section_id(self):
        """The section's sourcedId ("": every student)."""
        return self._data().get("section") or ""

    def filtered(self):
        """Whether any filter narrows the students (the window selects none)."""
        return bool(self.row_filters()["search"] or self.row_filters()["show"] not in (None, "all") or self.section_id())

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
