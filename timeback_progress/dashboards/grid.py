"""The student x activity grid: each student's state at each activity of a course.

Every cell comes from the student's ``ActivityProgress`` row (kept by the
gradebook with each attempt), never from the attempts, so a page costs the
same few queries with 10 attempts or 100,000:

1. the course's activities (``activities.course_activities``),
2. the count of students (the paginator),
3. one page of students, sorted (by name or by one activity's result),
4. the progress rows of that page's students (one ``IN`` over <= page-size ids).

A cell's state, from the row:

=============  ===========================================================
not started    no row, or no attempt started
in progress    attempts started, none completed
done           completed, and no attempt had questions (a video, a reading):
               shown with its time, never as 0%
completed      completed with questions, units not (all) mastered: best accuracy
mastered       ``mastered_units >= masterable_units > 0``: best accuracy
=============  ===========================================================

``state`` says it in Python for the cells, ``rank`` says it in SQL for the
sort by an activity; ``tests/test_dashboards_grid.py`` holds one against the other.
"""

from django.db.models import Case, F, FilteredRelation, IntegerField, Q, Value, When
from django.utils.html import format_html
from django.utils.translation import pgettext_lazy

from ..models import ActivityProgress
from .display import duration, number
from .queries import TIE_BREAK, enrolled_students

NOT_STARTED, IN_PROGRESS, DONE, COMPLETED, MASTERED = "not_started", "in_progress", "done", "completed", "mastered"

# Order of the states when sorting by an activity (higher is further along).
RANKS = {NOT_STARTED: 0, IN_PROGRESS: 1, DONE: 2, COMPLETED: 3, MASTERED: 4}

# What a reader sees without colour: a symbol and a word (legend, title, CSV).
# A context of their own: one cell's state, not the admin's column headers of the same words.
LABELS = {
    NOT_STARTED: pgettext_lazy("grid cell state", "Not started"),
    IN_PROGRESS: pgettext_lazy("grid cell state", "In progress"),
    DONE: pgettext_lazy("grid cell state", "Done"),
    COMPLETED: pgettext_lazy("grid cell state", "Completed"),
    MASTERED: pgettext_lazy("grid cell state", "Mastered"),
}
SYMBOLS = {NOT_STARTED: "·", IN_PROGRESS: "◐", DONE: "✓", COMPLETED: "●", MASTERED: "★"}


def state(attempts_count, completed_count, total_questions, mastered_units, masterable_units):
    """The cell's state from one progress row's figures (all 0 without a row)."""
    if completed_count:
        if masterable_units and mastered_units >= masterable_units:
            return MASTERED
        return COMPLETED if total_questions else DONE
    return IN_PROGRESS if attempts_count else NOT_STARTED


def rank(masterable_units, prefix="ap"):
    """``state`` as an SQL rank (``RANKS``) over the FilteredRelation ``prefix`` of one activity.

    A student without a row has NULLs there: no ``When`` matches, rank 0.
    """
    completed = Q(**{f"{prefix}__completed_count__gt": 0})
    whens = []
    if masterable_units:
        whens.append(When(completed & Q(**{f"{prefix}__mastered_units__gte": masterable_units}), then=Value(RANKS[MASTERED])))
    whens += [
        When(completed & Q(**{f"{prefix}__total_questions": 0}), then=Value(RANKS[DONE])),
        When(completed, then=Value(RANKS[COMPLETED])),
        When(Q(**{f"{prefix}__attempts_count__gt": 0}), then=Value(RANKS[IN_PROGRESS])),
    ]
    return Case(*whens, default=Value(RANKS[NOT_STARTED]), output_field=IntegerField())


def student_rows(course, section="", sort="name", activity=None):
    """The students of ``course`` (and ``section``), ordered.

    ``sort``: ``name``/``-name``, or ``a<pk>``/``-a<pk>`` with ``activity`` the
    activity of that pk: by its state (``RANKS``), then best accuracy, then
    time, missing values last in both directions; ties by name.
    """
    rows = enrolled_students(course, section).only("pk", "sourced_id", "given_name", "family_name")
    descending = sort.startswith("-")
    if sort.lstrip("-") == "name":
        keys = ["family_name", "given_name"]
    else:
        rows = rows.annotate(
            ap=FilteredRelation("activity_progress", condition=Q(activity_progress__activity=activity))
        ).annotate(
            cell_rank=rank(activity.masterable_units), cell_best=F("ap__best_accuracy"), cell_time=F("ap__active_seconds")
        )
        keys = ["cell_rank", "cell_best", "cell_time"]
    order = [F(k).desc(nulls_last=True) if descending else F(k).asc(nulls_last=True) for k in keys]
    return rows.order_by(*order, *TIE_BREAK)


class Cell:
    """One cell as shown: its state, value ('92.0%', '7 min' or ''), symbol and words.

    ``text`` is its title on the page and its value in the CSV. ``html`` is
    the page's ``<td>`` around a link: built here once per distinct cell of a
    request (``Cells``), because the template engine took most of a
    1,500-cell page's time rendering them one variable at a time.
    """

    __slots__ = ("state", "value", "symbol", "label", "text", "_open", "_close")

    def __init__(self, state, value, label):
        self.state, self.value, self.symbol, self.label = state, value, SYMBOLS[state], label
        self.text = f"{label} {value}" if value else label
        self._open = format_html('<td class="tbp-cell tbp-cell--{}" title="{}"><a href="', state, self.text)
        self._close = format_html(
            '"><span aria-hidden="true">{}</span> <span class="tbp-sr-only">{} </span>{}</a></td>', self.symbol, label, value
        )

    def html(self, escaped_url):
        """The cell's ``<td>`` linking to ``escaped_url`` (already HTML-escaped)."""
        return self._open + escaped_url + self._close


class Cells:
    """Makes the cells of one request: labels translated once, each distinct (state, value) built once."""

    def __init__(self):
        self.labels = {key: str(label) for key, label in LABELS.items()}
        self.made = {}

    def __call__(self, row, masterable_units):
        """The ``Cell`` of a ``PROGRESS_FIELDS`` tuple (None: not started)."""
        if row is None:
            found, raw = NOT_STARTED, None
        else:
            _s, _a, attempts, completed, questions, mastered, best, active = row
            found = state(attempts, completed, questions, mastered, masterable_units)
            if found == DONE or (found == MASTERED and not questions):  # no questions: the time spent
                raw = ("time", active)
            elif found in (COMPLETED, MASTERED):
                raw = ("best", best)
            else:
                raw = None
        made = self.made.get((found, raw))
        if made is None:  # formatted once per distinct value
            value = "" if raw is None else duration(raw[1]) if raw[0] == "time" else number(raw[1], suffix="%")
            made = self.made[found, raw] = Cell(found, value, self.labels[found])
        return made


PROGRESS_FIELDS = (
    "student_id", "activity_id", "attempts_count", "completed_count", "total_questions",
    "mastered_units", "best_accuracy", "active_seconds",
)


def progress_rows(course, student_ids):
    """``{(student_id, activity_id): PROGRESS_FIELDS tuple}`` for these students in ``course`` (one query)."""
    rows = ActivityProgress.objects.filter(course=course, student_id__in=student_ids).values_list(*PROGRESS_FIELDS)
    return {(row[0], row[1]): row for row in rows}


def cells_for(students, activities, progress, cell=None):
    """Each student's cells, in the activities' order: ``[(student, [Cell, ...]), ...]``."""
    cell = cell or Cells()
    return [
        (student, [cell(progress.get((student.pk, a.pk)), a.masterable_units) for a in activities])
        for student in students
    ]


def chunked_cells(course, students, activities, chunk=500):
    """``cells_for`` over any number of students, one progress query per ``chunk`` students (the CSV)."""
    batch, cell = [], Cells()
    for student in students:
        batch.append(student)
        if len(batch) == chunk:
            yield from cells_for(batch, activities, progress_rows(course, [s.pk for s in batch]), cell)
            batch = []
    if batch:
        yield from cells_for(batch, activities, progress_rows(course, [s.pk for s in batch]), cell)
