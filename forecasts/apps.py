from django.apps import AppConfig


class ForecastsConfig(AppConfig):
    name = "forecasts"

    def ready(self):
        from .oscp import handlers

        handlers.register()
