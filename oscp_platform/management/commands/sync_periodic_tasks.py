from django.core.management.base import BaseCommand

from oscp_platform.schedule import periodic_tasks_sync


class Command(BaseCommand):
    help = "Write the periodic jobs declared in settings.CELERY_BEAT_SCHEDULE into django-celery-beat."

    def handle(self, *args, **options):
        names = periodic_tasks_sync()
        self.stdout.write(f"Periodic tasks in sync: {', '.join(names) or 'none'}")
