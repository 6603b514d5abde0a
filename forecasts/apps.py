from django.apps import AppConfig


class ForecastsConfig(AppConfig):
    name = "forecasts"

    def ready(self):
        from groups.panels import PANELS

        from .oscp import handlers
        from .selectors import groups_last_forecast_annotate

        handlers.register()
        PANELS.last_forecast_annotate = groups_last_forecast_annotate
