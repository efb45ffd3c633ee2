"""The demo's playable activity: a short fractions quiz that reports through the browser kit.

The page is the learning app's side of the loop (play -> XP -> dashboards ->
Timeback): ``{% timeback_activity %}`` renders the kit's configuration for the
demo's "Fractions Quiz" activity, ``static/demo/fractions_quiz.js`` plays the
quiz and calls ``startActivity()`` / ``endActivity()``. The quiz scores itself
in the page, as a demo may; the XP is the server's, by its rules.
"""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from django.views.generic import TemplateView

from timeback_progress import permissions
from timeback_progress.models import Activity

QUIZ_ACTIVITY = "fractions-quiz"  # made by the demo loader (loader.activity_specs)

# (question, choices, index of the right choice)
QUESTIONS = [
    (_("Which fraction is equal to 1/2?"), ["2/4", "2/3", "3/5"], 0),
    (_("What is 1/4 + 1/4?"), ["2/8", "1/2", "1/8"], 1),
    (_("Which is larger?"), ["2/3", "3/4", "5/8"], 1),
    (_("What is 2/5 of 10?"), ["5", "2", "4"], 2),
    (_("Simplify 6/8."), ["3/4", "2/3", "6/4"], 0),
]

# What the page's script shows, translated here ({n}, {active}, {queued}: filled in by the script).
TEXTS = {
    "running": _("Playing · active time {active}"),
    "paused": _("Paused · active time {active}"),
    "queued": _("Offline: {queued} report(s) kept, sent when the network is back"),
    "saving": _("Saving your result…"),
    "unanswered": _("Answer every question first ({n} left)."),
    "pause": _("Pause"),
    "resume": _("Resume"),
    "error": _("Your result could not be saved ({status})."),
}


class FractionsQuizView(LoginRequiredMixin, TemplateView):
    template_name = "demo/fractions_quiz.html"

    def get_context_data(self, **kwargs):
        activity = Activity.objects.select_related("course").filter(activity_id=QUIZ_ACTIVITY, is_active=True).first()
        if activity is None:
            raise Http404(_("The demo quiz is not loaded: run `manage.py timeback_demo`."))
        questions = [
            {"number": n, "text": text, "choices": choices, "answer": answer}
            for n, (text, choices, answer) in enumerate(QUESTIONS, start=1)
        ]
        return super().get_context_data(
            activity=activity, questions=questions, student=permissions.student_for(self.request.user),
            texts=TEXTS, **kwargs
        )
