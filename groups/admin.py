"""Admin for capacity groups (with their assets inline) and assets. Saves go through
``groups.services`` so the admin, the API and tasks share one code path."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.utils import timezone
from simple_history.admin import SimpleHistoryAdmin

from connections.choices import PartnerRole
from oscp_platform.admin import OwnerDefaultMixin, status_badge

from .api.serializers import EnergySettingsSerializer, InstantaneousSettingsSerializer
from .choices import GroupMode
from .models import Asset, CapacityGroup
from .panels import PANELS
from .selectors import groups_forecast_stale_ids
from .services import (
    ASSET_CONFIG_FIELDS,
    GROUP_CONFIG_FIELDS,
    asset_create,
    asset_delete,
    asset_update,
    group_config_validate,
    group_create,
    group_delete,
    group_update,
)


def _check_settings(serializer_class, value):
    if value in (None, ""):
        return None
    serializer = serializer_class(data=value)
    if not serializer.is_valid():
        problems = "; ".join(f"{field}: {' '.join(map(str, errors))}" for field, errors in serializer.errors.items())
        raise ValidationError(problems)
    return dict(serializer.validated_data)


class AssetAdminForm(forms.ModelForm):
    class Meta:
        model = Asset
        fields = list(ASSET_CONFIG_FIELDS)

    def clean_instantaneous(self):
        return _check_settings(InstantaneousSettingsSerializer, self.cleaned_data.get("instantaneous"))

    def clean_energy(self):
        return _check_settings(EnergySettingsSerializer, self.cleaned_data.get("energy"))


def _asset_values(form) -> dict:
    return {f: v for f, v in form.cleaned_data.items() if f in ASSET_CONFIG_FIELDS}


def _asset_save(request, asset, form, change) -> Asset:
    values = _asset_values(form)
    if change:
        return asset_update(asset=asset, actor=request.user, **values)
    saved = asset_create(actor=request.user, **values)
    asset.pk = saved.pk
    asset._state.adding = False
    return saved


class AssetInlineForm(AssetAdminForm):
    """The asset row on its group's page: inputs sized to their content, so the row fits 1,400 px
    beside the navigation."""

    WIDTHS = {"name": "10em", "identifier": "9em", "node_id": "6em", "source_id": "10em"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, width in self.WIDTHS.items():
            if name in self.fields:
                self.fields[name].widget.attrs["style"] = f"width: {width}"


class AssetInline(admin.TabularInline):
    model = Asset
    form = AssetInlineForm
    extra = 0
    fields = ["name", "identifier", "audience", "enabled", "node_id", "source_id", "category"]
    show_change_link = True  # the phase and the measurement settings are on the asset's own page


class CapacityGroupAdminForm(forms.ModelForm):
    class Meta:
        model = CapacityGroup
        fields = ["owner", *GROUP_CONFIG_FIELDS]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        roles = {
            "capacity_provider": PartnerRole.CAPACITY_PROVIDER,
            "capacity_optimizer": PartnerRole.CAPACITY_OPTIMIZER,
        }
        for field, role in roles.items():
            if field in self.fields:
                self.fields[field].queryset = self.fields[field].queryset.filter(role=role).select_related("owner")

    def clean(self):
        """The service's rules, so that the page shows what the save would refuse."""
        cleaned = super().clean()
        owner = cleaned.get("owner") or (self.instance.owner if self.instance.pk else None)
        try:
            group_config_validate(owner_id=owner.pk if owner else None, config=cleaned, group_id=self.instance.pk)
        except ValidationError as exc:
            self.add_error(None, exc)
        return cleaned


MODE_TONES = {
    GroupMode.NORMAL: "ok",
    GroupMode.FORECAST_GAP: "warn",
    GroupMode.PARTNER_OFFLINE: "bad",
    GroupMode.PROTECTIVE_STOP: "bad",
}


def mode_badge(mode: str) -> str:
    return status_badge(mode, MODE_TONES.get(mode, "muted"))


class ForecastStaleFilter(admin.SimpleListFilter):
    """Groups whose provider's forecasts are behind its declared cadence or horizon
    (``groups.selectors.forecast_stale``, the API's ``forecastStale``)."""

    title = "forecast"
    parameter_name = "forecast_stale"

    def lookups(self, request, model_admin):
        return [("yes", "Stale"), ("no", "On time or no cadence")]

    def queryset(self, request, queryset):
        if self.value() not in ("yes", "no"):
            return queryset
        stale = groups_forecast_stale_ids(CapacityGroup.objects.all(), now=timezone.now())
        return queryset.filter(pk__in=stale) if self.value() == "yes" else queryset.exclude(pk__in=stale)


@admin.register(CapacityGroup)
class CapacityGroupAdmin(OwnerDefaultMixin, SimpleHistoryAdmin):
    form = CapacityGroupAdminForm
    inlines = [AssetInline]
    list_display = [
        "name",
        "identifier",
        "mode_shown",
        "capacity_provider",
        "capacity_optimizer",
        "enabled",
        "binding",
        "assets_count",
        "owner",
    ]
    list_filter = ["enabled", "mode", ForecastStaleFilter, "capacity_provider_measurement_period"]
    fieldsets = [
        (None, {"fields": ["owner", "name", "identifier", "enabled"]}),
        (
            "Partners",
            {
                "fields": [
                    "capacity_provider",
                    "capacity_provider_measurement_period",
                    "capacity_optimizer",
                    "capacity_optimizer_measurement_period",
                ]
            },
        ),
        ("Binding to the charging systems", {"fields": ["microgrid_id", "node_id"]}),
        (
            "Fallback and reporting",
            {
                "classes": ["collapse"],
                "fields": [
                    "fallback_import_kw",
                    "fallback_export_kw",
                    "report_zero_when_no_data",
                    "combined_asset_id",
                    "report_compliance_breaches",
                ],
            },
        ),
        (
            "Record",
            {
                "classes": ["collapse"],
                "fields": ["operating_view", "mode", "mode_since", "mode_reason", "created", "modified"],
            },
        ),
    ]
    search_fields = ["name", "identifier", "microgrid_id", "owner__username", "capacity_provider__name"]
    list_select_related = ["owner", "capacity_provider", "capacity_optimizer"]
    readonly_fields = ["operating_view", "mode", "mode_since", "mode_reason", "created", "modified"]
    history_list_display = ["mode", "enabled"]

    def get_inlines(self, request, obj):
        return [*self.inlines, *PANELS.admin_inlines] if obj is not None else [AssetInline]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        group = self.get_object(request, object_id)
        operating = PANELS.operating_context(group) if group and PANELS.operating_context else None
        extra_context = {**(extra_context or {}), "operating": operating}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="operating view")
    def operating_view(self, group):
        """Mode, envelope in force and the 48-hour chart live on the group's operating view."""
        return PANELS.operating_view_link(group) if group.pk and PANELS.operating_view_link else "-"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(assets_total=Count("assets"))

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "owner"] if obj is not None else self.readonly_fields

    @admin.display(description="mode", ordering="mode")
    def mode_shown(self, group):
        return mode_badge(group.mode)

    @admin.display(description="binding", ordering="microgrid_id")
    def binding(self, group):
        if not group.microgrid_id and group.node_id is None:
            return "-"
        return f"{group.microgrid_id or '-'} / {group.node_id if group.node_id is not None else '-'}"

    def get_fieldsets(self, request, obj=None):
        if obj is None:  # a new group: no record yet
            return self.fieldsets[:-1]
        return self.fieldsets

    @admin.display(description="assets", ordering="assets_total")
    def assets_count(self, group):
        return group.assets_total

    def save_model(self, request, obj, form, change):
        values = {
            f: form.cleaned_data[f] for f in form.Meta.fields if f in GROUP_CONFIG_FIELDS and f in form.cleaned_data
        }
        if change:
            group_update(group=obj, actor=request.user, **values)
            return
        group = group_create(owner=form.cleaned_data["owner"], actor=request.user, **values)
        obj.pk = group.pk
        obj._state.adding = False

    def save_formset(self, request, form, formset, change):
        if formset.model is not Asset:
            return super().save_formset(request, form, formset, change)
        formset.save(commit=False)
        for asset in formset.deleted_objects:
            asset_delete(asset=asset, actor=request.user)
        for asset_form in formset.forms:
            if asset_form in formset.deleted_forms or not asset_form.has_changed():
                continue
            values = {**_asset_values(asset_form), "group": form.instance}
            if asset_form.instance.pk:
                asset_update(asset=asset_form.instance, actor=request.user, **values)
            else:
                asset_create(actor=request.user, **values)

    def delete_model(self, request, obj):
        group_delete(group=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for group in queryset:
            group_delete(group=group, actor=request.user)


@admin.register(Asset)
class AssetAdmin(SimpleHistoryAdmin):
    form = AssetAdminForm
    list_display = ["name", "identifier", "group", "audience", "category", "phase", "enabled", "node_id", "source_id"]
    list_filter = ["enabled", "audience", "category", "phase"]
    search_fields = ["name", "identifier", "source_id", "group__identifier", "group__name"]
    list_select_related = ["group"]
    readonly_fields = ["created", "modified"]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.base_fields["group"].queryset = CapacityGroup.objects.select_related("owner")
        return form

    def save_model(self, request, obj, form, change):
        _asset_save(request, obj, form, change)

    def delete_model(self, request, obj):
        asset_delete(asset=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for asset in queryset:
            asset_delete(asset=asset, actor=request.user)
