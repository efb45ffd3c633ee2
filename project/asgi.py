import os

from django.core.asgi import get_asgi_application

from timeback_progress.charsets import AsgiCharsetGuard

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
# AsgiCharsetGuard: a request charset Django cannot decode text with is a 415, not a crash before any middleware.
application = AsgiCharsetGuard(get_asgi_application())
