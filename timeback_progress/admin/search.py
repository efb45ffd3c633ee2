"""Admin searches that use indexes: people and activities found first, then their rows by id.

Django's search is ``icontains`` on every search field, joined and OR-ed: on
the Attempts list that is a scan of a million attempts joined to students and
activities on every search (1.1-1.5 s). PostgreSQL cannot use an index for an
OR across joined tables, nor for ``UPPER(x) LIKE '%term%'``. So the term is
first matched against the small tables (students: sourcedId exactly, email
ignoring case, every word in the name; activities: id exactly, name), capped
at ``MATCH_LIMIT`` each, and the large table is then filtered by those ids
(and its own indexed identifiers), an OR of index scans.

A term matching more than ``MATCH_LIMIT`` students (a common family name)
shows the rows of the first ``MATCH_LIMIT`` of them: search by sourcedId or
email to find one person. No extension is needed (a ``pg_trgm`` index would
serve ``icontains`` on large tables, but is not available everywhere).
"""

from django.db.models import Q

from ..limits import parse_id
from ..models import Activity, Course, Student

MATCH_LIMIT = 1000


def _words(term, *fields):
    """Every word of ``term`` in one of ``fields`` (``icontains``), as Django's own search does."""
    q = Q()
    for word in term.split():
        q &= Q(*[Q(**{f"{field}__icontains": word}) for field in fields], _connector=Q.OR)
    return q


def student_ids(term):
    """Students ``term`` names: sourcedId exactly, email ignoring case, or every word in their name."""
    q = Q(sourced_id=term) | Q(email__iexact=term) | _words(term, "given_name", "family_name")
    return list(Student.objects.filter(q).order_by().values_list("pk", flat=True)[:MATCH_LIMIT])


def activity_ids(term):
    """Activities ``term`` names: id or line item exactly, or every word in the name."""
    q = Q(activity_id=term) | Q(line_item_sourced_id=term) | _words(term, "name")
    return list(Activity.objects.filter(q).order_by().values_list("pk", flat=True)[:MATCH_LIMIT])


def course_ids(term):
    q = Q(sourced_id=term) | _words(term, "title")
    return list(Course.objects.filter(q).order_by().values_list("pk", flat=True)[:MATCH_LIMIT])


def attempts(term):
    """An attempt's student or activity (see the module), or its id."""
    q = Q(student_id__in=student_ids(term)) | Q(activity_id__in=activity_ids(term))
    return _or_pk(q, term)


def results(term):
    """A result's sourcedId or line item exactly, its student, or its id."""
    q = Q(sourced_id=term) | Q(line_item_sourced_id=term) | Q(student_id__in=student_ids(term))
    return _or_pk(q, term)


def progress(term):
    """A progress row's student or course."""
    return Q(student_id__in=student_ids(term)) | Q(course_id__in=course_ids(term))


def enrollments(term):
    """An enrolment's sourcedId or user exactly, its student or its course (100,000 rows at district scale)."""
    return (Q(sourced_id=term) | Q(user__username=term) | Q(student_id__in=student_ids(term))
            | Q(course_id__in=course_ids(term)))


def deliveries(term):
    """An outbox row's key exactly (an event id or a sourcedId), or its id."""
    return _or_pk(Q(key=term), term)


def _or_pk(q, term):
    pk = parse_id(term)
    return q | Q(pk=pk) if pk is not None else q
