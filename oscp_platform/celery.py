"""The Celery app. Periodic work is declared in ``settings.CELERY_BEAT_SCHEDULE`` and loaded into
django-celery-beat's tables, so support staff see every job in the admin."""

import gc
import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oscp_platform.settings.local")

app = Celery("oscp_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _loaded_frozen(**_):
    """In each worker process, once Django and every task module are loaded: what is loaded by
    now lives as long as the process, so the cyclic garbage collector no longer walks it on every
    full collection (a report round of 1,000 groups builds enough objects to set one off; about a
    tenth of the round went to walking the rest). As the web workers do (``wsgi.py``)."""
    gc.collect()
    gc.freeze()
