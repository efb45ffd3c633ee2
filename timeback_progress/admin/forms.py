"""The result correction form: its field errors come from ``gradebook.corrections.check``,
the rules the API and the operation itself apply, so a bad correction is a
form error before anything is written."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from ..gradebook import corrections
from ..models import ScoreStatus


class ResultCorrectionForm(forms.Form):
    """Correct one result. Only the fields the admin changed are passed on, so an
    untouched XP is never pinned with an override."""

    score = forms.DecimalField(label=_("score"), min_value=0, max_digits=7, decimal_places=2)
    score_status = forms.ChoiceField(label=_("scoreStatus"), choices=ScoreStatus.choices)
    xp = forms.DecimalField(
        label=_("XP"), min_value=0, max_digits=9, decimal_places=2,
        help_text=_("Changing it pins the attempt's XP (an override) until it is corrected again."),
    )
    total_questions = forms.IntegerField(label=_("total questions"), min_value=0)
    correct_questions = forms.DecimalField(label=_("correct questions"), min_value=0, max_digits=9, decimal_places=2)
    mastered_units = forms.IntegerField(
        label=_("mastered units"), min_value=0, help_text=_("Changing it pins the attempt's mastered units (an override).")
    )
    reason = forms.CharField(
        label=_("reason"),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=2000,
        help_text=_("Required. Kept in the audit trail with who corrected what and when."),
    )

    def __init__(self, *args, result, **kwargs):
        self.result = result
        kwargs.setdefault("initial", corrections.current_values(result))
        super().__init__(*args, **kwargs)

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        changes = self.changes()
        if not changes:
            raise ValidationError(_("Nothing changed: edit at least one value to correct the result."))
        try:
            corrections.check(changes, self.result.attempt)
        except ValidationError as error:
            self.add_service_error(error)
        return data

    def changes(self):
        """The ``corrections.correct_result`` keywords for the values that changed."""
        values = {name: self.cleaned_data[name] for name in corrections.CORRECTABLE if name in self.cleaned_data}
        return corrections.changed_values(values, self.result)

    def add_service_error(self, error):
        """Put a ``ValidationError`` from ``gradebook.corrections`` on the matching fields."""
        if hasattr(error, "error_dict"):
            for field, errors in error.error_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        else:
            self.add_error(None, error)
