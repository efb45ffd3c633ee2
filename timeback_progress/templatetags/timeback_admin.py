"""``{% timeback_sync_health %}``: the outbox at a glance on admin pages."""

from django import template
from django.template.loader import render_to_string

from ..outbox.health import sync_health

register = template.Library()

_SHOWN = "timeback_progress.sync_health_shown"


@register.simple_tag(takes_context=True)
def timeback_sync_health(context):
    """Counts by status and the oldest unsent row (two queries), once per page.

    Only users who may view deliveries see it. The admin index and the app
    index both include it; the render-context flag keeps it to one box when
    one template extends the other.
    """
    request = context.get("request")
    if request is None or context.render_context.get(_SHOWN):
        return ""
    if not request.user.has_perm("timeback_progress.view_delivery"):
        return ""
    context.render_context[_SHOWN] = True
    return render_to_string(
        "admin/timeback_progress/sync_health.html", {"health": sync_health(), "request": request}
    )
