from django.apps import AppConfig


class GroupsConfig(AppConfig):
    name = "groups"

    def ready(self):
        from connections.oscp.messages import group_finder_set
        from oscp_platform.metrics import database_gauge_register

        from .metrics import database_gauges
        from .selectors import group_for_partner

        group_finder_set(group_for_partner)
        database_gauge_register(database_gauges)
