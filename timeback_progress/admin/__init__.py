"""Django admin for the mirror, corrections and sync health.

Gradebook rows (attempts, results, progress) are read-only here: every change
goes through ``gradebook`` (a correction, a recalculation) so the rules, the
aggregates, the audit trail and the outbox never disagree. Pages read the
precomputed ``StudentProgress``/``DailyProgress`` rows, so their query count
does not grow with the number of students or attempts.

Django's autodiscovery imports this package; importing the modules below is
what registers their model admins.
"""

from . import gradebook, outbox, roster  # noqa: F401  (registration happens on import)
