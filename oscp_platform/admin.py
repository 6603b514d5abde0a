"""What the admin of every app shares (``ReadOnlyAdmin``), and management API keys (DRF tokens) in
the admin: masked, the new key shown once at creation.

DRF's own token admin lists every key in full; a staff user with view permission would see the
keys of every other user."""

from django.contrib import admin, messages
from django.db import models
from django.utils.html import format_html
from django_celery_beat.models import ClockedSchedule, SolarSchedule
from oauth2_provider.models import get_grant_model, get_id_token_model, get_refresh_token_model
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

from oscp_platform.crypto import mask

BADGE_TONES = ("ok", "warn", "bad", "info", "muted")


def status_badge(label: str, tone: str) -> str:
    """A coloured status label for lists and pages (tone: ok, warn, bad, info, muted)."""
    return format_html('<span class="badge badge-{}">{}</span>', tone if tone in BADGE_TONES else "muted", label)


def copy_secret(secret: str, element_id: str) -> str:
    """A secret shown once, with a button that copies it (``oscp_platform/console.js``)."""
    return format_html(
        '<span class="copy-secret"><code id="{}">{}</code>'
        '<button type="button" class="copy-button" data-copy-target="{}">Copy</button></span>',
        element_id,
        secret,
        element_id,
    )


#: Admin forms take an address typed without a scheme as ``https://`` (partners are reached over
#: TLS, and it is Django 6's default; Django 5.2 warns on every URL form field that does not say).
HTTPS_URL_FORM_FIELDS = {models.URLField: {"assume_scheme": "https"}}


def https_url_form_field(db_field, **kwargs):
    """The same for a ``ModelForm`` declared on its own (its ``Meta.formfield_callback``)."""
    return db_field.formfield(**HTTPS_URL_FORM_FIELDS.get(type(db_field), {}), **kwargs)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records kept by the platform (message log, forecasts, envelopes, ...): browse, never add or edit."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# Library internals staff never need: one-off and solar schedules (the schedule is declared in
# code), and the OAuth grants, id tokens and refresh tokens of flows the platform does not offer
# (partners use the client credentials grant only).
class OwnerDefaultMixin:
    """Add forms start with the signed-in user as the record's owner (account)."""

    def get_changeform_initial_data(self, request):
        return {"owner": request.user.pk, **super().get_changeform_initial_data(request)}


admin.site.unregister(
    [ClockedSchedule, SolarSchedule, get_grant_model(), get_id_token_model(), get_refresh_token_model()]
)
admin.site.unregister(TokenProxy)


@admin.register(TokenProxy)
class ApiKeyAdmin(TokenAdmin):
    list_display = ["masked_key", "user", "created"]
    fields = ["user"]
    readonly_fields = []
    search_fields = ["user__username"]
    ordering = ["-created"]

    @admin.display(description="key")
    def masked_key(self, token):
        return mask(token.key)

    def get_fields(self, request, obj=None):
        return ["user"] if obj is None else ["masked_key", "user", "created"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["masked_key", "user", "created"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            self.message_user(
                request,
                format_html(
                    "API key for {}: {} — copy it now, it is not shown again.",
                    obj.user,
                    copy_secret(obj.key, "new-api-key"),
                ),
                messages.WARNING,
            )
