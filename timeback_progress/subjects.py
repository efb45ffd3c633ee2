"""Timeback's subject list, and the one place an app's own subject names are mapped onto it.

Timeback refuses an event whose ``object.subject`` is not one of ``SUBJECTS``,
and a refused event surfaces only at delivery, long after the course or
activity was saved. So every way a subject gets in (model validation and
save, forms and the admin, the dashboards' filter, the roster import) goes
through ``to_timeback``, which maps the name or refuses it there and then, and
only Timeback subjects are ever stored.
"""

from django import forms
from django.core.exceptions import ValidationError
from django.db import models

from .conf import SETTINGS_NAME, app_settings

# Caliper TimebackProfile subjects (timeback-caliper 0.4.0), in Timeback's order.
SUBJECTS = ("Reading", "Language", "Vocabulary", "Social Studies", "Writing", "Science", "FastMath", "Math", "None", "Other")
SUBJECT_CHOICES = [(s, s) for s in SUBJECTS]
_EXACT = frozenset(SUBJECTS)
_BY_LOWER = {s.lower(): s for s in SUBJECTS}
SETTING = f"{SETTINGS_NAME}['SUBJECT_MAP']"
_MISSING = object()


def to_timeback(name):
    """The Timeback subject ``name`` stands for, else ValidationError (code ``invalid_subject``).

    A Timeback subject is taken as is (ignoring case and surrounding spaces),
    so SUBJECT_MAP cannot redefine one; any other name must be a SUBJECT_MAP
    key (matched exactly, then ignoring case) whose value is a Timeback subject.
    """
    if isinstance(name, str):
        if name in _EXACT:
            return name
        key = name.strip()
        if key.lower() in _BY_LOWER:
            return _BY_LOWER[key.lower()]
        mapping = app_settings.SUBJECT_MAP if isinstance(app_settings.SUBJECT_MAP, dict) else {}
        if key in mapping:
            target = mapping[key]
        else:
            folded = {k.strip().lower(): v for k, v in mapping.items() if isinstance(k, str)}
            target = folded.get(key.lower(), _MISSING)
        if target is not _MISSING:
            if isinstance(target, str) and target in _EXACT:
                return target
            raise ValidationError(
                '%(setting)s maps "%(value)s" to "%(target)s", which is not a Timeback subject (%(subjects)s).',
                code="invalid_subject",
                params={"setting": SETTING, "value": name, "target": target, "subjects": ", ".join(SUBJECTS)},
            )
    raise ValidationError(
        '"%(value)s" is not a Timeback subject. Use one of %(subjects)s, or map it onto one in %(setting)s.',
        code="invalid_subject",
        params={"value": name, "subjects": ", ".join(SUBJECTS), "setting": SETTING},
    )


def check_subject(instance, update_fields=None):
    """Map ``instance.subject`` before ``save()`` starts writing: refused there, the caller's transaction stays usable."""
    if update_fields is None or "subject" in update_fields:
        instance.subject = to_timeback(instance.subject)


class SubjectChoiceField(forms.TypedChoiceField):
    """A select of Timeback subjects that also accepts a SUBJECT_MAP name (for forms filled in by code)."""

    def to_python(self, value):
        value = super().to_python(value)
        return value if value in self.empty_values else to_timeback(value)


class SubjectField(models.CharField):
    """A CharField that only ever holds a Timeback subject.

    Validation (``full_clean``), ModelForms, lookups and ``QuerySet.update``
    map a SUBJECT_MAP name onto its Timeback subject; ``save()`` and
    ``bulk_create`` do too and raise ValidationError for anything unmappable,
    so code that skips validation cannot store a subject Timeback would refuse
    (models call ``check_subject`` in ``save()`` too, to refuse before the
    write starts). Deconstructs as a plain CharField: the column is one, and
    migrations stay free of this module.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 32)
        kwargs.setdefault("choices", SUBJECT_CHOICES)
        kwargs.setdefault("default", "Other")
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.CharField", args, kwargs

    def to_python(self, value):
        value = super().to_python(value)
        return value if value in self.empty_values else to_timeback(value)

    def pre_save(self, model_instance, add):
        value = to_timeback(getattr(model_instance, self.attname))
        setattr(model_instance, self.attname, value)
        return value

    def formfield(self, **kwargs):
        return super().formfield(**{"choices_form_class": SubjectChoiceField, **kwargs})
