"""``{% chart_text chart "tbp-class-chart" title %}``: a chart's text alternative (see dashboards.chart_text).

Renders ``timeback_progress/_chart_table.html``: a summary sentence with id
``<chart id>-summary`` (point the canvas at it with ``aria-describedby``)
and the numbers in a table behind a ``<details>``.
"""

from django import template
from django.utils.translation import gettext

from ..dashboards import chart_text

register = template.Library()


@register.inclusion_tag("timeback_progress/_chart_table.html", name="chart_text")
def chart_text_tag(chart, chart_id, title=None):
    title = title or gettext("XP per day")
    headings, rows = chart_text.table(chart or {})
    return {
        "chart_id": chart_id,
        "title": title,
        "summary": chart_text.summary(chart or {}, title),
        "headings": headings,
        "rows": rows,
    }

