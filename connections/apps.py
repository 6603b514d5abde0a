from django.apps import AppConfig


class ConnectionsConfig(AppConfig):
    name = "connections"

    def ready(self):
        from oscp_platform.health import readiness_check_register
        from oscp_platform.metrics import database_gauge_register

        from .health import outbox_check
        from .metrics import database_gauges
        from .oscp import handlers

        handlers.register()
        readiness_check_register("outbox", outbox_check)
        database_gauge_register(database_gauges)
