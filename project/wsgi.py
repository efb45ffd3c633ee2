import os

from django.core.wsgi import get_wsgi_application

from timeback_progress.charsets import CharsetGuard

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
# CharsetGuard: a request charset Django cannot decode text with is a 415, not a crash before any middleware.
application = CharsetGuard(get_wsgi_application())
