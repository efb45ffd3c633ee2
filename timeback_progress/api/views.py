"""API views: thin adapters from HTTP to ``gradebook`` (writes) and the
precomputed aggregates (reads). No XP or progress arithmetic happens here."""


from django.utils.translation import gettext, gettext_noop
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from ..gradebook import attempts
from ..gradebook.locking import db_for_write, lock_attempt, lock_students
from .. import xp as xp_rules
from ..conf import app_settings
from ..dashboards.queries import class_rows, filter_rows, sort_rows
from ..models import Activity, Attempt, Course, Student
from ..outbox import held
from . import idempotency, permissions, serializers
from .fields import check_time_totals
from .parsers import StrictJSONParser
from .responses import BATCH_REFUSAL, ERRORS, write_schema
from .schema import ApiSchema, ChallengeMixin
from .throttling import TimebackReadThrottle, TimebackWriteThrottle

MAX_PK = 2**63 - 1


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


# attempts.AttemptError.code -> the HTTP error the API answers with.
DOMAIN_ERRORS = {
    "inactive": exceptions.NotFound,
    "completed": Conflict,
    "conflict": Conflict,
    "invalid": exceptions.ValidationError,
}


def call_service(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except attempts.AttemptError as exc:
        raise DOMAIN_ERRORS.get(exc.code, exceptions.ValidationError)(str(exc), code=exc.code) from None


class BaseView(ChallengeMixin, APIView):
    schema = ApiSchema()
    permission_classes = [permissions.IsActiveUser]
    parser_classes = [StrictJSONParser]


class WriteView(BaseView):
    throttle_classes = [TimebackWriteThrottle]

    def validated(self, serializer_class):
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer


class ReadView(BaseView):
    throttle_classes = [TimebackReadThrottle]


RECORDING_IS_FOR_SERVICES = gettext_noop(
    "Recording completed attempts is for service accounts (the timeback_progress.add_attempt "
    "permission); start and complete the attempt instead."
)


def writable_student(user, sourced_id, *, record=False):
    student = Student.objects.filter(sourced_id=sourced_id, is_active=True).first()
    allowed = permissions.may_record_for if record else permissions.may_write_for
    if student is None or not allowed(user, student):
        if student is not None and record and permissions.may_write_for(user, student):
            raise exceptions.PermissionDenied(gettext(RECORDING_IS_FOR_SERVICES))
        raise exceptions.NotFound(gettext("No active student %(student)r you may act for.") % {"student": sourced_id})
    return student


def check_enrolled(user, student, activity):
    if not permissions.may_act_in(user, student, activity.course_id):
        raise exceptions.PermissionDenied(gettext("%(student)s is not actively enrolled in %(course)s.") % {
            "student": student.sourced_id, "course": activity.course.sourced_id})


def refuse_without_email(student):
    """A 400 before anything is written: Timeback refuses events for a student without an email.

    Only starting is refused: the student has done nothing yet, and whoever runs
    the roster can add the email first. A recorded attempt is work already done,
    so it is accepted and its events are held until an email is added (``outbox.held``).
    """
    if not held.has_email(student.email):
        raise exceptions.ValidationError({"studentSourcedId": [gettext(
            "Student %(student)s has no email, and Timeback refuses a student's events without one. "
            "Add the student's email (in the roster or the admin), then start the attempt. Nothing was written."
        ) % {"student": student.sourced_id}]}, code="no_email")


def active_activity(activity_id):
    activity = Activity.objects.select_related("course").filter(activity_id=activity_id, is_active=True).first()
    if activity is None:
        raise exceptions.NotFound(gettext("No active activity %(activity)r.") % {"activity": activity_id})
    return activity


def get_attempt(pk, allowed, *, lock=False):
    """The attempt ``pk`` if ``allowed(attempt)``, else 404 (others' attempts do not exist).

    ``lock`` takes the row locks the operation needs (``locking.lock_attempt``), in this one query.
    """
    if pk > MAX_PK:
        attempt = None
    elif lock:
        attempt = lock_attempt(pk, using=db_for_write())
    else:
        attempt = Attempt.objects.select_related("student", "activity__course").filter(pk=pk).first()
    if attempt is None or not allowed(attempt):
        raise exceptions.NotFound(gettext("No such attempt."))
    return attempt


class StartAttemptView(WriteView):
    @write_schema(serializers.StartAttemptSerializer, serializers.AttemptSerializer, "Start an attempt", 201)
    def post(self, request):
        data = self.validated(serializers.StartAttemptSerializer).validated_data

        def perform():
            student = writable_student(request.user, data["studentSourcedId"])
            activity = active_activity(data["activityId"])
            check_enrolled(request.user, student, activity)
            refuse_without_email(student)
            attempt = call_service(attempts.start_attempt, student, activity)
            return status.HTTP_201_CREATED, serializers.AttemptSerializer(attempt).data

        return idempotency.run(request, perform)


class AttemptWriteView(WriteView):
    def attempt(self, pk, *, lock=False):
        allowed = lambda a: permissions.may_write_for(self.request.user, a.student)  # noqa: E731
        return get_attempt(pk, allowed, lock=lock)


class AttemptTimeView(AttemptWriteView):
    @write_schema(serializers.TimeSerializer, serializers.AttemptSerializer, "Add time to an open attempt")
    def post(self, request, pk):
        data = self.validated(serializers.TimeSerializer).validated_data

        def perform():
            attempt = self.attempt(pk, lock=True)  # permissions and the service's row lock in one query
            check_time_totals(attempt, data["activeSeconds"], data["inactiveSeconds"])
            attempt = call_service(
                attempts.add_time,
                attempt,
                active_seconds=data["activeSeconds"],
                inactive_seconds=data["inactiveSeconds"],
                locked=True,
            )
            return status.HTTP_200_OK, serializers.AttemptSerializer(attempt).data

        return idempotency.run(request, perform)


class AttemptCompleteView(AttemptWriteView):
    @write_schema(serializers.CompleteSerializer, serializers.AttemptSerializer, "Complete an attempt")
    def post(self, request, pk):
        kwargs = self.validated(serializers.CompleteSerializer).service_kwargs()

        def perform():
            attempt = self.attempt(pk, lock=True)
            if attempt.completed_at is None:  # a completed one is the service's 409
                check_time_totals(attempt, kwargs["active_seconds"], kwargs["inactive_seconds"])
            attempt = call_service(attempts.complete_attempt, attempt, locked=True, **kwargs)
            return status.HTTP_200_OK, serializers.AttemptSerializer(attempt).data

        # A retry is refused as "already completed" under the row lock before
        # anything is written, and then replayed: no lookup before every completion.
        return idempotency.run(request, perform, lookup_first=False)


class RecordAttemptView(WriteView):
    @write_schema(serializers.RecordSerializer, serializers.AttemptSerializer, "Record a completed attempt", 201)
    def post(self, request):
        data = self.validated(serializers.RecordSerializer).validated_data

        def perform():
            student = writable_student(request.user, data["studentSourcedId"], record=True)
            activity = active_activity(data["activityId"])
            check_enrolled(request.user, student, activity)
            attempt = call_service(attempts.record_attempt, student, activity, **serializers.record_kwargs(data))
            return status.HTTP_201_CREATED, serializers.AttemptSerializer(attempt).data

        return idempotency.run(request, perform)


class RecordBatchView(WriteView):
    """All or nothing: one bad item (shape, unknown id, domain rule) writes nothing.

    Recording is not naturally idempotent (each call makes a new attempt), so a
    partial success would leave the client guessing which items to resend;
    with one transaction and one Idempotency-Key a batch happens exactly once.
    """

    @write_schema(
        serializers.RecordBatchSerializer, serializers.RecordBatchResponseSerializer, "Record completed attempts", 201,
        description="All or nothing: one bad item writes nothing. Item errors are keyed by the item's index; "
        "the status is the one the first refused item gets from attempt-record alone.",
        errors={
            403: OpenApiResponse(BATCH_REFUSAL, description="An item not allowed (not enrolled; not a service account)."),
            404: OpenApiResponse(BATCH_REFUSAL, description="An item names an unknown, inactive or foreign student or activity."),
        },
    )
    def post(self, request):
        items = self.validated(serializers.RecordBatchSerializer).validated_data["items"]

        def perform():
            pairs = self.resolve(items)
            # Every student's lock up front, in one fixed order: two batches naming the
            # same students in opposite orders queue instead of deadlocking.
            lock_students([student.pk for _, student, _ in pairs], using=db_for_write())
            results = []
            for index, (item, student, activity) in enumerate(pairs):
                try:
                    attempt = call_service(attempts.record_attempt, student, activity, **serializers.record_kwargs(item))
                except exceptions.APIException as exc:
                    exc.detail = {"items": {str(index): exc.detail}}
                    raise
                results.append(serializers.AttemptSerializer(attempt).data)
            return status.HTTP_201_CREATED, {"count": len(results), "results": results}

        return idempotency.run(request, perform)

    def resolve(self, items):
        """Look every student and activity up in two queries; refused items are item errors.

        Errors are keyed by item index, the shape DRF uses for the items' field
        errors. The batch answers with the status the first refused item would
        get from ``attempt-record`` alone (404 an unknown or foreign id, 403 not
        enrolled or not a service account's call), so a client handles both the same way.
        """
        user = self.request.user
        students = Student.objects.filter(is_active=True, sourced_id__in={i["studentSourcedId"] for i in items})
        students = {s.sourced_id: s for s in students}
        activities = Activity.objects.select_related("course").filter(
            is_active=True, activity_id__in={i["activityId"] for i in items}
        )
        activities = {a.activity_id: a for a in activities}
        enrolled = set() if permissions.is_service(user) else permissions.enrolled_pairs(
            (s.pk, a.course_id) for s in students.values() for a in activities.values()
        )
        errors, pairs, first = {}, [], None
        for index, item in enumerate(items):
            student = students.get(item["studentSourcedId"])
            activity = activities.get(item["activityId"])
            error, refusal = {}, None
            if student is None or not permissions.may_write_for(user, student):
                error["studentSourcedId"] = [gettext("No active student you may act for.")]
                refusal = exceptions.NotFound
            elif not permissions.may_record_for(user, student):
                error["studentSourcedId"] = [gettext(RECORDING_IS_FOR_SERVICES)]
                refusal = exceptions.PermissionDenied
            elif activity is not None and not permissions.is_service(user) and (student.pk, activity.course_id) not in enrolled:
                error["activityId"] = [gettext("The student is not actively enrolled in this activity's course.")]
                refusal = exceptions.PermissionDenied
            if activity is None:
                error["activityId"] = [gettext("No active activity.")]
                refusal = refusal or exceptions.NotFound
            if error:
                errors[str(index)] = error
                first = first or refusal
            pairs.append((item, student, activity))
        if errors:
            raise first({"items": errors})
        return pairs


class AttemptDetailView(ReadView):
    @extend_schema(summary="Read an attempt", responses={200: serializers.AttemptSerializer, **ERRORS})
    def get(self, request, pk):
        attempt = get_attempt(pk, lambda a: permissions.may_read_attempt(request.user, a))
        return Response(serializers.AttemptSerializer(attempt).data)


FIGURES = (
    "xp_total", "mastered_units", "attempts_count", "completed_count", "total_questions",
    "correct_questions", "active_seconds", "inactive_seconds",
)


def totals(rows):
    """Sum the per-course aggregates; accuracy over all questions answered."""
    sums = {name: sum((getattr(row, name) for row in rows), 0) for name in FIGURES}
    sums["accuracy"] = xp_rules.percent_correct(sums["correct_questions"], sums["total_questions"])
    return sums


class StudentProgressView(ReadView):
    @extend_schema(
        summary="A student's progress per course, with totals",
        responses={200: serializers.StudentProgressResponseSerializer, **ERRORS},
    )
    def get(self, request, sourced_id):
        student = Student.objects.filter(sourced_id=sourced_id).first() if "\x00" not in sourced_id else None
        rows = permissions.progress_for(request.user, student) if student is not None else None
        if rows is None:
            raise exceptions.NotFound(gettext("No student %(student)r you may see.") % {"student": sourced_id})
        rows = list(rows)
        body = {
            "studentSourcedId": student.sourced_id,
            "givenName": student.given_name,
            "familyName": student.family_name,
            "courses": rows,
            "totals": totals(rows),
        }
        return Response(serializers.StudentProgressResponseSerializer(body).data)


class CourseStudentsPagination(PageNumberPagination):
    page_size_query_param = "pageSize"
    max_page_size = 500

    def get_page_size(self, request):
        self.page_size = app_settings.API_PAGE_SIZE
        return super().get_page_size(request)


class CourseStudentsView(ChallengeMixin, generics.ListAPIView):
    """Students actively enrolled in a course with their figures there."""

    schema = ApiSchema()
    permission_classes = [permissions.IsActiveUser]
    throttle_classes = [TimebackReadThrottle]
    serializer_class = serializers.CourseStudentSerializer
    pagination_class = CourseStudentsPagination
    filter_backends = []

    @extend_schema(
        summary="A course's students with their figures (paginated, filterable)",
        parameters=[serializers.CourseStudentsFilterSerializer],
        responses={200: serializers.CourseStudentSerializer(many=True), **ERRORS},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_course(self):
        sourced_id = self.kwargs["sourced_id"]
        course = Course.objects.filter(sourced_id=sourced_id).first() if "\x00" not in sourced_id else None
        if course is None or not permissions.may_read_course(self.request.user, course):
            raise exceptions.NotFound(gettext("No course %(course)r you may see.") % {"course": sourced_id})
        return course

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "course": getattr(self, "course", None)}

    def get_queryset(self):
        course = self.course = self.get_course()
        params = serializers.CourseStudentsFilterSerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        query = params.validated_data
        # The dashboards' rows, search and order: the same figures and flags everywhere.
        students = filter_rows(
            class_rows(course), search=query.get("search", ""), stuck=query.get("stuck"), min_xp=query.get("minXp")
        )
        return sort_rows(students, serializers.ORDERINGS[query["ordering"]])
