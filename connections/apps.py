from django.apps import AppConfig


class ConnectionsConfig(AppConfig):
    name = "connections"

    def ready(self):
        from .oscp import handlers

        handlers.register()
