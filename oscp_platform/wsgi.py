import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oscp_platform.settings.production")

application = get_wsgi_application()
get_resolver().url_patterns  # noqa: B018 - import every view now rather than on the first request
# What is loaded by now lives as long as the worker: keep the cyclic garbage collector from walking
# it again on every full collection, which a request of 10,000 readings triggers.
gc.freeze()
