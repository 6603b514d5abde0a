# The admin's module, not its class: a config class imported here would become this app's own.
from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class ConsoleAdminConfig(admin_apps.AdminConfig):
    """Django's admin with the console site (``oscp_platform.admin_site``) as ``admin.site``."""

    default = False
    default_site = "oscp_platform.admin_site.ConsoleAdminSite"


class PlatformConfig(AppConfig):
    name = "oscp_platform"
    default = True

    def ready(self):
        from . import db

        db.install()
