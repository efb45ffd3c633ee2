from django.conf import settings
from django.db import models


class DemoRecord(models.Model):
    """One row the demo loader made: ``timeback_demo --reset`` deletes these and nothing else.

    A mark, not a name: a host user called ``admin`` or a rostered course called
    ``math-grade-5`` is never taken for the demo's. Exactly one field is set; a
    marked row deleted elsewhere takes its mark with it (CASCADE), so a mark
    never points at a row that is not the demo's.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, null=True, on_delete=models.CASCADE, related_name="+")
    course = models.OneToOneField("timeback_progress.Course", null=True, on_delete=models.CASCADE, related_name="+")
    student = models.OneToOneField("timeback_progress.Student", null=True, on_delete=models.CASCADE, related_name="+")

    def __str__(self):
        return str(self.user or self.course or self.student)
