from django.apps import AppConfig


class MeasurementsConfig(AppConfig):
    name = "measurements"

    def ready(self):
        from groups.panels import PANELS

        from .oscp import handlers
        from .selectors import group_power_series

        handlers.register()
        PANELS.power_series = group_power_series
