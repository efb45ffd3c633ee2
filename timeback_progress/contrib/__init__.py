"""Opt-in developer tools, each a small Django app of its own.

Nothing here runs, and no management command exists, unless the host lists
the app in ``INSTALLED_APPS`` (the example project lists
``timeback_progress.contrib.sandbox``), as ``rest_framework.authtoken`` does.
"""
