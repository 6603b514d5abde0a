"""The Celery app. Periodic work is declared in ``settings.CELERY_BEAT_SCHEDULE`` and loaded into
django-celery-beat's tables, so support staff see every job in the admin."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oscp_platform.settings.local")

app = Celery("oscp_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
