"""Teacher dashboards: the class queries (shared with the API), the stuck rule,
display helpers, filter forms and thin views.

The URLconf hosts include stays at ``timeback_progress.urls``; the templates
stay under ``templates/timeback_progress/`` so host overrides keep working.
"""
