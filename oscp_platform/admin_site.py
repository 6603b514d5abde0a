"""The admin site support staff live in: the dashboard as its front page, the domain sections
first in working order, library internals in a *System* section at the end, and no "View site"
link (the platform has no public site; the dashboard is home)."""

from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from .dashboard import dashboard_sections

# (app label, section title, model object names in order). Models an app registers that are not
# named here follow its named ones.
DOMAIN_SECTIONS = [
    ("connections", "Partners and messages", ["CapacityProvider", "CapacityOptimizer", "Message", "MessageSegment"]),
    ("groups", "Capacity groups", ["CapacityGroup", "Asset"]),
    (
        "forecasts",
        "Forecasts and envelopes",
        [
            "GroupOperation",
            "Forecast",
            "Envelope",
            "GroupModeChange",
            "AdjustmentRequest",
            "ComplianceError",
            "Instruction",
            "EnvelopeSubscription",
        ],
    ),
    ("measurements", "Measurements", ["ReportCursor", "Reading"]),
    ("roaming", "Roaming (OCPI)", ["RoamingPartner", "Token"]),
]
# Library and account internals, with the names staff know them by.
SYSTEM_MODELS = [
    ("auth", "User", "Staff users"),
    ("auth", "Group", "Staff permission groups"),
    ("authtoken", "TokenProxy", "Management API keys"),
    ("django_celery_beat", "PeriodicTask", "Periodic tasks"),
    ("django_celery_beat", "IntervalSchedule", "Periodic task intervals"),
    ("django_celery_beat", "CrontabSchedule", "Periodic task crontabs"),
    ("oauth2_provider", "Application", "OAuth applications"),
    ("oauth2_provider", "AccessToken", "OAuth access tokens"),
]


class ConsoleAdminSite(admin.AdminSite):
    site_header = "oscp-platform console"
    site_title = "oscp-platform"
    index_title = "Is everything all right?"
    site_url = None
    index_template = "admin/console_index.html"

    def get_app_list(self, request, app_label=None):
        app_dict = self._build_app_dict(request, app_label)
        if app_label is not None:
            return list(app_dict.values())
        sections, placed = [], set()
        for label, title, order in DOMAIN_SECTIONS:
            app = app_dict.get(label)
            if app is None:
                continue
            rank = {name: i for i, name in enumerate(order)}
            app["models"].sort(key=lambda m: (rank.get(m["object_name"], len(rank)), m["name"]))
            sections.append({**app, "name": title})
            placed.add(label)
        system = []
        for label, object_name, name in SYSTEM_MODELS:
            for model in app_dict.get(label, {}).get("models", []):
                if model["object_name"] == object_name:
                    system.append({**model, "name": name})
        named = {(label, object_name) for label, object_name, _ in SYSTEM_MODELS}
        for label, app in sorted(app_dict.items()):
            if label in placed:
                continue
            system += [m for m in app["models"] if (label, m["object_name"]) not in named]
        if system:
            sections.append(
                {
                    "name": "System",
                    "app_label": "system",
                    "app_url": reverse("admin:index", current_app=self.name) + "#system",
                    "has_module_perms": True,
                    "models": system,
                }
            )
        return sections

    def index(self, request, extra_context=None):
        context = {"dashboard": dashboard_sections(request, now=timezone.now()), **(extra_context or {})}
        return super().index(request, context)
