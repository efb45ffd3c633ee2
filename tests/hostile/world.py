"""The roster the sweep runs against, the roles' credentials, and real values
for every route's placeholders (so a hostile value is the only thing wrong)."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.test import Client, RequestFactory
from django.utils import timezone
from rest_framework import serializers
from rest_framework.authtoken.models import Token

from timeback_progress.gradebook import attempts, corrections
from timeback_progress.models import Attempt, Result, Student, SyncState
from tests.plugins.factories import complete

from . import discovery


class World:
    ROLES = ("anonymous", "student", "teacher", "staff", "superuser")

    def __init__(self, api_world):
        w = api_world
        self.api = w
        self.superuser = get_user_model().objects.create_superuser("root", "root@example.com", None)
        self.users = {"student": w.ann.user, "teacher": w.teacher, "staff": w.staff, "superuser": self.superuser}
        self.completed = complete(w.ann, w.quiz, total=10, correct=8)
        result = Result.objects.get(attempt=self.completed)
        corrections.correct_result(result, user=self.superuser, reason="seed", score=5)
        SyncState.objects.get_or_create(name="roster")
        self.open = attempts.start_attempt(w.ann, w.quiz)
        self.known_ids = {"studentSourcedId": w.ann.sourced_id, "activityId": w.quiz.activity_id}
        self._cookies, self._tokens = {}, {}
        for role, user in self.users.items():
            client = Client()
            client.force_login(user)
            self._cookies[role] = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
            self._tokens[role] = Token.objects.get_or_create(user=user)[0].key

    # -- who is asking ------------------------------------------------------------------

    def credentials(self, role, path):
        if role == "anonymous":
            return {}
        if path.startswith("/api/"):
            return {"HTTP_AUTHORIZATION": f"Token {self._tokens[role]}"}
        return {"HTTP_COOKIE": self._cookies[role]}

    def full_roles(self, path):
        """The roles a page is for: they get every parameter with every value."""
        if path.startswith("/api/"):
            return ("student", "teacher", "staff", "superuser")
        if path.startswith("/progress/"):
            return ("teacher", "staff")
        if path.startswith("/admin/"):
            return ("superuser",)
        return ("anonymous", "student")

    # -- real values for a route's placeholders -------------------------------------------

    def path_values(self, route):
        """``{placeholder: value}`` naming objects that exist, or None to skip the route."""
        w = self.api
        found = {}
        for name, kind in route.parts:
            if name == "course_pk":
                found[name] = str(w.math.pk)
            elif name == "student_pk":
                found[name] = str(w.ann.pk)
            elif name == "pk":
                found[name] = str(self.open_attempt().pk if route.name in ("attempt-time", "attempt-complete")
                                  else self.completed.pk)
            elif name == "sourced_id":
                found[name] = w.math.sourced_id if "course" in route.name else w.ann.sourced_id
            elif name == "app_label":
                if discovery.APP not in kind:
                    return None
                found[name] = discovery.APP
            elif name == "url":
                found[name] = "nowhere/"
            elif name == "content_type_id":
                found[name] = str(ContentType.objects.get_for_model(Student).pk)
            elif name == "object_id":
                admin = route.model_admin
                model = admin.model if admin is not None else Student
                pk = Result.objects.get(attempt=self.completed).pk if model is Result else None
                pk = pk or model._default_manager.values_list("pk", flat=True).first() or 1
                found[name] = str(w.ann.pk if admin is None else pk)
            else:
                found[name] = "1"
        return found

    def open_attempt(self):
        if Attempt.objects.filter(pk=self.open.pk, completed_at__isnull=True).exists():
            return self.open
        self.open = attempts.start_attempt(self.api.ann, self.api.quiz)
        return self.open

    def after_write(self):
        """After an accepted write: a new open attempt if that one was completed."""
        self.open_attempt()

    def base_query(self, route):
        """Parameters a route needs before it reads the others (the admin's autocomplete)."""
        if route.name == "autocomplete":
            return {"app_label": discovery.APP, "model_name": "enrollment", "field_name": "course"}
        return {}

    def valid_body(self, serializer):
        """A body ``serializer`` accepts, so one hostile field at a time reaches its validator."""
        return {name: self.valid_value(name, field) for name, field in serializer.fields.items() if not field.read_only}

    def valid_value(self, name, field):
        if isinstance(field, serializers.ListSerializer):
            return [self.valid_body(field.child)]
        if isinstance(field, serializers.BaseSerializer):
            return self.valid_body(field)
        if isinstance(field, serializers.ChoiceField):
            return next(iter(field.choices))
        if isinstance(field, serializers.DateTimeField):
            return timezone.now().isoformat()
        if isinstance(field, serializers.BooleanField):
            return True
        if isinstance(field, (serializers.IntegerField, serializers.DecimalField, serializers.FloatField)):
            return 10 if "total" in name.lower() else 1
        return self.known_ids.get(name, "a reason")

    def actions(self, model_admin):
        request = RequestFactory().get("/")
        request.user = self.superuser
        return list(model_admin.get_actions(request))
