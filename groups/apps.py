from django.apps import AppConfig


class GroupsConfig(AppConfig):
    name = "groups"

    def ready(self):
        from connections.oscp.messages import group_finder_set

        from .selectors import group_for_partner

        group_finder_set(group_for_partner)
