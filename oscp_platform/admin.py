"""What the admin of every app shares (``ReadOnlyAdmin``), and management API keys (DRF tokens) in
the admin: masked, the new key shown once at creation.

DRF's own token admin lists every key in full; a staff user with view permission would see the
keys of every other user."""

from django.contrib import admin, messages
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

from oscp_platform.crypto import mask


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records kept by the platform (message log, forecasts, envelopes, ...): browse, never add or edit."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


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
                f"API key for {obj.user}: {obj.key} — copy it now, it is not shown again.",
                messages.WARNING,
            )
