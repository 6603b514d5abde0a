"""Roaming partners in the admin: state and actions first (issue token A, register with the
partner, rotate, unregister); the token we call the partner with is write-only; roles,
endpoints, tokens (last 4 characters only) and hub clients are read-only."""

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from oscp_platform.admin import HTTPS_URL_FORM_FIELDS, OwnerDefaultMixin, ReadOnlyAdmin, https_url_form_field
from oscp_platform.crypto import mask

from .models import CredentialsToken, HubClient, RoamingPartner, RoamingPartnerRole, Token
from .services import RoamingError, partner_register, partner_rotate, partner_unregister, token_a_issue


class RoamingPartnerForm(forms.ModelForm):
    new_partner_token = forms.CharField(
        required=False,
        label="Partner's token A",
        help_text="The token the partner gave us to register with it. Write-only: blank keeps the stored one.",
        widget=forms.PasswordInput(render_value=False),
    )

    class Meta:
        model = RoamingPartner
        fields = ["owner", "name", "versions_url", "enabled"]
        formfield_callback = https_url_form_field

    def save(self, commit=True):
        partner = super().save(commit=False)
        if self.cleaned_data.get("new_partner_token"):
            partner.partner_token = self.cleaned_data["new_partner_token"]
        if commit:
            partner.save()
        return partner


class RoleInline(admin.TabularInline):
    model = RoamingPartnerRole
    extra = 0
    can_delete = False
    readonly_fields = ["role", "country_code", "party_id", "business_details"]

    def has_add_permission(self, request, obj=None):
        return False


class TokenInline(admin.TabularInline):
    model = CredentialsToken
    extra = 0
    can_delete = False
    fields = readonly_fields = ["kind", "shown", "created", "confirmed_at", "retired_at"]
    verbose_name_plural = "Tokens the partner presents to us"

    @admin.display(description="token")
    def shown(self, obj):
        return f"••••{obj.last4}"

    def has_add_permission(self, request, obj=None):
        return False


class HubClientInline(admin.TabularInline):
    model = HubClient
    extra = 0
    can_delete = False
    readonly_fields = ["country_code", "party_id", "role", "status", "last_updated"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(RoamingPartner)
class RoamingPartnerAdmin(OwnerDefaultMixin, SimpleHistoryAdmin):
    form = RoamingPartnerForm
    formfield_overrides = HTTPS_URL_FORM_FIELDS
    list_display = ["name", "state", "parties", "version", "enabled", "plain_token_seen_at", "state_changed_at"]
    list_filter = ["state", "enabled"]
    search_fields = ["name", "roles__party_id"]
    readonly_fields = ["state", "state_reason", "state_changed_at", "version", "endpoints_shown", "token_shown"]
    readonly_fields += ["plain_token_seen_at"]
    inlines = [RoleInline, TokenInline, HubClientInline]
    actions = ["issue_token_a", "register_with_partner", "rotate_credentials", "unregister"]
    fieldsets = [
        ("State", {"fields": ["state", "state_reason", "state_changed_at", "plain_token_seen_at"]}),
        ("Partner", {"fields": ["owner", "name", "enabled", "versions_url", "new_partner_token", "token_shown"]}),
        ("Negotiated", {"fields": ["version", "endpoints_shown"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("roles")

    @admin.display(description="parties")
    def parties(self, obj):
        return ", ".join(str(role) for role in obj.roles.all())

    @admin.display(description="token we call it with")
    def token_shown(self, obj):
        return mask(obj.partner_token) or "—"

    @admin.display(description="endpoints")
    def endpoints_shown(self, obj):
        # The partner wrote these (its version details): every value is escaped.
        rows = format_html_join(
            "", "<li>{} {}: {}</li>", ((e.get("identifier"), e.get("role"), e.get("url")) for e in obj.endpoints or [])
        )
        return format_html("<ul>{}</ul>", rows) if rows else "—"

    @admin.action(description="Issue token A for the partner to register with (shown once)")
    def issue_token_a(self, request, queryset):
        for partner in queryset:
            token = token_a_issue(partner=partner)
            self.message_user(request, f"{partner}: token A {token} (shown once; give it to the partner).")

    def _each(self, request, queryset, service, done: str) -> None:
        for partner in queryset:
            try:
                service(partner=partner)
            except RoamingError as exc:
                self.message_user(request, f"{partner}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{partner}: {done}", messages.SUCCESS)

    @admin.action(description="Register with the partner (its versions URL and token A)")
    def register_with_partner(self, request, queryset):
        self._each(request, queryset, partner_register, "registered")

    @admin.action(description="Rotate credentials (the partner gets a new token)")
    def rotate_credentials(self, request, queryset):
        self._each(request, queryset, partner_rotate, "credentials rotated")

    @admin.action(description="Unregister (the partner's tokens are refused)")
    def unregister(self, request, queryset):
        self._each(request, queryset, partner_unregister, "unregistered")


@admin.register(Token)
class TokenAdmin(ReadOnlyAdmin):
    """The tokens eMSPs pushed to us (read-only: only the eMSP changes them)."""

    list_display = ["uid", "type", "country_code", "party_id", "partner", "valid", "whitelist", "last_updated"]
    list_filter = ["type", "valid", "whitelist", "partner"]
    search_fields = ["uid", "contract_id"]
    list_select_related = ["partner"]
