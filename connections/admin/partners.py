"""Partner admin: Capacity Providers and Optimizers.

Secrets (the OAuth client secret, the token we present to the partner, static headers) are
write-only here: the form shows them masked, blank keeps the stored value, a checkbox clears it.
Every save goes through ``connections.services``; a new partner's token, a rotated token and
issued OAuth client credentials are shown once, in a message."""

import json

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from oscp_platform.admin import HTTPS_URL_FORM_FIELDS, OwnerDefaultMixin, copy_secret
from oscp_platform.crypto import mask

from ..choices import PartnerRole
from ..models import SECRET_FIELDS, CapacityOptimizer, CapacityProvider, InboundOAuthClient, Partner
from ..oauth import partner_oauth_client_issue, partner_oauth_client_revoke
from ..presets import PRESET_FIELDS, preset_differences, preset_overrides_keep
from ..services import (
    OAUTH_CLIENT_SECRET,
    PARTNER_CONFIG_FIELDS,
    partner_create,
    partner_delete,
    partner_token_rotate,
    partner_update,
)
from ..validators import http_url, validate_path_overrides, validate_static_headers
from .badges import state_badge
from .outbound import PartnerOutboundAdminMixin

# Write-only secrets: form field -> (model field, label).
SECRETS = {
    "new_oauth_client_secret": ("oauth_client_secret", "OAuth client secret"),
    "new_partner_token": ("partner_token", "Token we present to the partner"),
    "new_static_headers": ("static_headers", "Static headers"),
}


def _static_headers(partner: Partner) -> dict[str, str]:
    try:
        return json.loads(partner.static_headers) if partner.static_headers else {}
    except ValueError:
        return {}


class PartnerAdminForm(forms.ModelForm):
    base_url = forms.CharField(
        label="Base URL", max_length=512, validators=[http_url], help_text=Partner._meta.get_field("base_url").help_text
    )
    new_oauth_client_secret = forms.CharField(
        label="OAuth client secret", required=False, strip=True, widget=forms.PasswordInput(render_value=False)
    )
    clear_oauth_client_secret = forms.BooleanField(label="Remove the OAuth client secret", required=False)
    new_partner_token = forms.CharField(
        label="Token we present to the partner",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
    )
    clear_partner_token = forms.BooleanField(label="Remove the token we present", required=False)
    new_static_headers = forms.CharField(
        label="Static headers",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60, "autocomplete": "off"}),
        help_text='JSON object sent as extra headers on every call, e.g. {"apikey": "..."}.',
    )
    clear_static_headers = forms.BooleanField(label="Remove the static headers", required=False)

    class Meta:
        model = Partner
        # Secrets are write-only form fields of their own (SECRETS above).
        fields = ["owner", *(f for f in PARTNER_CONFIG_FIELDS if f not in SECRET_FIELDS)]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        partner = self.instance
        for form_field, (model_field, _label) in SECRETS.items():
            current = getattr(partner, model_field, "") if partner.pk else ""
            if model_field == "static_headers" and current:
                shown = ", ".join(f"{name}: {mask(value)}" for name, value in _static_headers(partner).items())
            else:
                shown = mask(current)
            base = self.fields[form_field].help_text
            state = f"Currently set ({shown}). Leave blank to keep it." if current else "Not set."
            self.fields[form_field].help_text = f"{base} {state}".strip()

    def clean_service_props(self):
        props = self.cleaned_data.get("service_props") or {}
        if not isinstance(props, dict):
            raise forms.ValidationError("Enter a JSON object.")
        if OAUTH_CLIENT_SECRET in props:
            raise forms.ValidationError("Put the client secret in the OAuth client secret field (it is write-only).")
        return props

    def clean_path_overrides(self):
        overrides = self.cleaned_data.get("path_overrides") or {}
        validate_path_overrides(overrides)
        return {k: v.strip("/") for k, v in overrides.items()}

    def clean_new_static_headers(self):
        text = self.cleaned_data.get("new_static_headers", "").strip()
        if not text:
            return None
        try:
            headers = json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError("Enter a JSON object of header names and values.") from exc
        validate_static_headers(headers)
        return headers

    def service_values(self) -> dict:
        """The configuration to hand to the services: the model fields plus any secret change."""
        values = {f: self.cleaned_data[f] for f in self.Meta.fields if f in PARTNER_CONFIG_FIELDS}
        for form_field, (model_field, _label) in SECRETS.items():
            new = self.cleaned_data.get(form_field)
            if new:
                values[model_field] = new
            elif self.cleaned_data.get(f"clear_{model_field}"):
                values[model_field] = {} if model_field == "static_headers" else ""
        return values


# Buttons on a partner's page: (url part, label, the admin action it runs on this one partner).
OBJECT_ACTIONS = [
    ("register", "Register with partner", "register_with_partner"),
    ("handshake", "Start handshake", "start_handshake"),
    ("rotate-token", "Rotate token", "rotate_token"),
    ("issue-oauth", "Issue OAuth client", "issue_oauth_client"),
]


class PartnerAdmin(OwnerDefaultMixin, PartnerOutboundAdminMixin, SimpleHistoryAdmin):
    role: str = ""
    groups_relation: str = ""
    form = PartnerAdminForm
    formfield_overrides = HTTPS_URL_FORM_FIELDS
    change_form_template = "admin/connections/partner_change_form.html"
    list_display = [
        "name",
        "state_shown",
        "enabled",
        "registration_status",
        "last_heartbeat_received_at",
        "last_heartbeat_sent_at",
        "groups_count",
        "profile",
        "owner",
    ]
    list_filter = ["enabled", "profile", "registration_status", "connection_state", "measurement_message"]
    search_fields = ["name", "base_url", "owner__username", "owner__email"]
    list_select_related = ["owner"]
    readonly_fields = [
        "flexibility_provider_id",
        "live_tokens",
        "oauth_client",
        "settings",
        "state_shown",
        "connection_state_reason",
        "connection_state_changed_at",
        "handshake_completed_at",
        "last_heartbeat_received_at",
        "last_heartbeat_sent_at",
        "last_forecast_received_at",
        "offline_mode_at",
        "outbox",
        "created",
        "modified",
    ]
    profile_readonly = ["preset_overrides"]
    actions = [
        "rotate_token",
        "issue_oauth_client",
        "revoke_oauth_client",
        "register_with_partner",
        "start_handshake",
    ]
    history_list_display = ["connection_state", "registration_status", "enabled"]

    def get_fieldsets(self, request, obj=None):
        fieldsets = []
        if obj is not None:
            state = [
                "state_shown",
                "connection_state_reason",
                "connection_state_changed_at",
                "last_heartbeat_received_at",
                "last_heartbeat_sent_at",
                "offline_mode_at",
                "handshake_completed_at",
                "last_forecast_received_at",
                "outbox",
                "live_tokens",
            ]
            fieldsets.append(("Connection state", {"fields": state}))
        fieldsets += [
            ("Partner", {"fields": ["owner", "name", "base_url", "oscp_version", "enabled", "registration_status"]}),
            (
                "Credentials",
                {
                    "fields": [
                        "service_props",
                        "new_oauth_client_secret",
                        "clear_oauth_client_secret",
                        "new_partner_token",
                        "clear_partner_token",
                        *(["oauth_client"] if obj is not None else []),
                    ]
                },
            ),
            (
                "Connection profile",
                {
                    "classes": ["collapse"],
                    "description": "Picking a profile fills every setting below that you leave as its "
                    "current preset has it; a setting you change overrides the preset for this partner.",
                    "fields": [
                        "profile",
                        "preset_overrides",
                        "new_static_headers",
                        "clear_static_headers",
                        *PRESET_FIELDS,
                        "combined_asset_id",
                        "required_measurement_styles",
                    ],
                },
            ),
        ]
        if obj is not None:
            record = ["flexibility_provider_id", "settings", "created", "modified"]
            fieldsets.append(("Record", {"classes": ["collapse"], "fields": record}))
        return fieldsets

    @admin.display(description="connection state", ordering="connection_state")
    def state_shown(self, partner):
        return state_badge(partner.connection_state)

    def get_urls(self):
        act = self.admin_site.admin_view(self.object_action_view)
        return [path("<int:pk>/do/<slug:action>/", act, name=self._do_url_name()), *super().get_urls()]

    def _do_url_name(self) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_do"

    def object_action_view(self, request, pk: int, action: str):
        """A button on the partner's page: the admin action of the same name, on this partner."""
        names = {slug: name for slug, _label, name in OBJECT_ACTIONS}
        partner = get_object_or_404(self.get_queryset(request), pk=pk)
        if request.method == "POST" and action in names and self.has_change_permission(request, partner):
            getattr(self, names[action])(request, self.get_queryset(request).filter(pk=pk))
        return redirect(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", pk)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        buttons = []
        if object_id and self.has_change_permission(request):
            buttons = [
                (reverse(f"admin:{self._do_url_name()}", args=[object_id, slug]), label)
                for slug, label, _name in OBJECT_ACTIONS
            ]
        extra_context = {**(extra_context or {}), "object_actions": buttons}
        return super().change_view(request, object_id, form_url, extra_context)

    def get_readonly_fields(self, request, obj=None):
        # Moving a partner to another account would leave its groups behind.
        fields = [*self.readonly_fields, *self.profile_readonly]
        return [*fields, "owner"] if obj is not None else fields

    @admin.display(description="differs from the preset")
    def preset_overrides(self, partner):
        if partner is None or partner.pk is None:
            return "-"
        return ", ".join(preset_differences(partner)) or "nothing (all settings as the preset has them)"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(groups_total=Count(self.groups_relation, distinct=True))

    @admin.display(description="groups", ordering="groups_total")
    def groups_count(self, partner):
        return partner.groups_total

    @admin.display(description="OAuth client (partner calls us)")
    def oauth_client(self, partner):
        link = InboundOAuthClient.objects.select_related("application").filter(partner=partner).first()
        token_url = settings.OSCP_OAUTH_TOKEN_URL
        if link is None:
            return format_html(
                "None issued. Token URL: <code>{}</code> (action “Issue OAuth client credentials”).", token_url
            )
        return format_html(
            "Client id <code>{}</code>, issued {} UTC. Token URL: <code>{}</code> "
            "(client credentials grant; access tokens last {} s).",
            link.application.client_id,
            link.created.strftime("%Y-%m-%d %H:%M"),
            token_url,
            settings.OSCP_OAUTH_ACCESS_TOKEN_SECONDS,
        )

    @admin.display(description="live tokens (last 4)")
    def live_tokens(self, partner):
        tokens = partner.inbound_tokens.filter(retired_at__isnull=True)
        return format_html_join(", ", "{} ({})", ((str(t), t.get_kind_display()) for t in tokens)) or "none"

    def save_model(self, request, obj, form, change):
        values = form.service_values()
        # The form submits every setting: keep as explicit only the overrides and what was changed,
        # the rest follows the (perhaps newly picked) profile.
        original = Partner.objects.get(pk=obj.pk) if change else Partner()
        submitted = {field: values.pop(field) for field in PRESET_FIELDS if field in values}
        values.update(preset_overrides_keep(partner=original, profile=values["profile"], values=submitted))
        if change:
            partner_update(partner=obj, actor=request.user, refill=True, **values)
            return
        owner = values.pop("owner", None) or form.cleaned_data["owner"]
        partner, token = partner_create(owner=owner, role=self.role, actor=request.user, **values)
        for field in Partner._meta.concrete_fields:
            setattr(obj, field.attname, getattr(partner, field.attname))
        obj._state.adding = False
        self._token_message(request, partner, token, "created")

    def delete_model(self, request, obj):
        partner_delete(partner=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for partner in queryset:
            partner_delete(partner=partner, actor=request.user)

    @admin.action(description="Rotate the token the partner presents to us (shown once)")
    def rotate_token(self, request, queryset):
        for partner in queryset:
            token = partner_token_rotate(partner=partner)
            self._token_message(request, partner, token, "rotated; the old token no longer works")

    @admin.action(
        description="Issue OAuth client credentials (shown once; replaces and revokes any old ones)",
        permissions=["change"],
    )
    def issue_oauth_client(self, request, queryset):
        for partner in queryset:
            issued = partner_oauth_client_issue(partner=partner, actor=request.user)
            self.message_user(
                request,
                format_html(
                    "OAuth client credentials for {}: token URL {}, client id {}, client secret {} — copy "
                    "them now and give them to the partner; the secret is shown only this once. Any earlier "
                    "credentials and their access tokens no longer work.",
                    partner.name,
                    copy_secret(issued.token_url, f"oauth-token-url-{partner.pk}"),
                    copy_secret(issued.client_id, f"oauth-client-id-{partner.pk}"),
                    copy_secret(issued.client_secret, f"oauth-client-secret-{partner.pk}"),
                ),
                messages.WARNING,
            )

    @admin.action(
        description="Revoke OAuth client credentials (their access tokens stop working)", permissions=["change"]
    )
    def revoke_oauth_client(self, request, queryset):
        for partner in queryset:
            if partner_oauth_client_revoke(partner=partner, actor=request.user):
                self.message_user(request, f"OAuth client credentials of {partner.name} revoked.")
            else:
                self.message_user(request, f"{partner.name} had no OAuth client credentials.", messages.INFO)

    def _token_message(self, request, partner, token, what):
        self.message_user(
            request,
            format_html(
                "Token for {} {}: {} — copy it now and give it to the partner; it is shown only this once.",
                partner.name,
                what,
                copy_secret(token, f"partner-token-{partner.pk}"),
            ),
            messages.WARNING,
        )

    def revert_disabled(self, request, obj=None):
        # History holds no secrets: reverting would write a record without them.
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method == "POST":
            raise PermissionDenied("Reverting a partner from history is disabled.")
        return super().history_form_view(request, object_id, version_id, extra_context)


@admin.register(CapacityProvider)
class CapacityProviderAdmin(PartnerAdmin):
    role = PartnerRole.CAPACITY_PROVIDER
    groups_relation = "provider_groups"


@admin.register(CapacityOptimizer)
class CapacityOptimizerAdmin(PartnerAdmin):
    role = PartnerRole.CAPACITY_OPTIMIZER
    groups_relation = "optimizer_groups"
