"""The result correction form. Validation here mirrors ``services.correct_result`` so a
bad correction is a form error before anything is written."""

from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from ..models import ScoreStatus

# Form field name -> ``services.correct_result`` keyword.
CORRECTION_FIELDS = ("score", "score_status", "xp", "total_questions", "correct_questions", "mastered_units")


class ResultCorrectionForm(forms.Form):
    """Correct one result. Only the fields the admin changed are passed on, so an
    untouched XP is never pinned with an override."""

    score = forms.DecimalField(min_value=0, max_digits=7, decimal_places=2)
    score_status = forms.ChoiceField(label=_("scoreStatus"), choices=ScoreStatus.choices)
    xp = forms.DecimalField(
        label=_("XP"), min_value=0, max_digits=9, decimal_places=2,
        help_text=_("Changing it pins the attempt's XP (an override) until it is corrected again."),
    )
    total_questions = forms.IntegerField(min_value=0)
    correct_questions = forms.DecimalField(min_value=0, max_digits=9, decimal_places=2)
    mastered_units = forms.IntegerField(
        min_value=0, help_text=_("Changing it pins the attempt's mastered units (an override).")
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=2000,
        help_text=_("Required. Kept in the audit trail with who corrected what and when."),
    )

    def __init__(self, *args, result, **kwargs):
        self.result = result
        kwargs.setdefault("initial", initial_for(result))
        super().__init__(*args, **kwargs)

    def clean(self):
        data = super().clean()
        total, correct = data.get("total_questions"), data.get("correct_questions")
        if total is not None and correct is not None and correct > total:
            self.add_error("correct_questions", _("Correct answers cannot exceed the total."))
        units = data.get("mastered_units")
        masterable = self.result.attempt.activity.masterable_units
        if units is not None and units > masterable:
            self.add_error(
                "mastered_units",
                _("The activity has only %(n)s masterable units.") % {"n": masterable},
            )
        if not self.errors and not self.changes():
            raise ValidationError(_("Nothing changed: edit at least one value to correct the result."))
        return data

    def changes(self):
        """The ``services.correct_result`` keywords for the values that changed."""
        changes = {}
        for name in CORRECTION_FIELDS:
            if name in self.cleaned_data and self.cleaned_data[name] != self.initial.get(name):
                changes[name] = self.cleaned_data[name]
        return changes

    def add_service_error(self, error):
        """Put a ``ValidationError`` from services on the matching fields."""
        if hasattr(error, "error_dict"):
            for field, errors in error.error_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        else:
            self.add_error(None, error)


def initial_for(result):
    attempt = result.attempt
    return {
        "score": result.score,
        "score_status": result.score_status,
        "xp": attempt.xp_earned,
        "total_questions": attempt.total_questions or 0,
        "correct_questions": attempt.correct_questions or Decimal(0),
        "mastered_units": attempt.mastered_units,
    }

