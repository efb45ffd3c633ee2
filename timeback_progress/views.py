"""Teacher dashboards (server-rendered)."""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.views.generic import ListView

from .models import Course


class CourseListView(LoginRequiredMixin, ListView):
    """The courses the signed-in user may see: staff all, teachers theirs."""

    template_name = "timeback_progress/course_list.html"
    context_object_name = "courses"

    def get_queryset(self):
        courses = Course.objects.filter(is_active=True)
        user = self.request.user
        if user.is_staff:
            return courses
        return courses.filter(enrollments__user=user, enrollments__role="teacher", enrollments__is_active=True).distinct()
