"""The demo (``make demo``, ``manage.py oscp_demo``): a simulated grid operator and optimizer
already configured against the platform, one site with two chargers, and their meter readings.

``demo_seed`` writes the configuration through the same services staff use (idempotent: run again,
it finds what it made and issues fresh initial tokens, since a token's plaintext is never kept).
``demo_datum`` makes the chargers' readings in SolarNetwork's datum shape, posted to the datum API
like a real meter feed would."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from rest_framework.authtoken.models import Token

from connections.choices import PartnerRole, Profile
from connections.models import Partner
from connections.services import partner_create, partner_token_rotate, partner_update
from groups.choices import AssetCategory, Audience, MeasurementPeriod
from groups.models import CapacityGroup
from groups.services import asset_create, group_create

DEMO_GROUP = "demo-site"
DEMO_MICROGRID = "mg-demo"
DEMO_NODE = 1
DEMO_CHARGERS = ("charger/1", "charger/2")
PROVIDER_NAME = "Demo grid operator (simulated)"
OPTIMIZER_NAME = "Demo optimizer (simulated)"


@dataclass(frozen=True)
class DemoSeed:
    provider_id: int
    provider_token: str  # the initial token the simulated provider registers with
    optimizer_id: int
    optimizer_token: str
    group_id: str
    api_key: str  # the owner's management API key, for posting readings


def _partner(*, owner, role: str, name: str, base_url: str, profile: str) -> tuple[Partner, str]:
    partner = Partner.objects.filter(owner=owner, role=role, name=name).first()
    if partner is None:
        return partner_create(owner=owner, role=role, name=name, base_url=base_url, profile=profile)
    partner = partner_update(partner=partner, base_url=base_url, profile=profile, enabled=True)
    return partner, partner_token_rotate(partner=partner)


@transaction.atomic
def demo_seed(*, owner, simulator_url: str, profile: str = Profile.OSCP_20) -> DemoSeed:
    """A provider and an optimizer served by the simulator at ``simulator_url``, the site group
    between them (reported every minute), its two chargers, and the owner's API key."""
    base = simulator_url.rstrip("/")
    provider, provider_token = _partner(
        owner=owner,
        role=PartnerRole.CAPACITY_PROVIDER,
        name=PROVIDER_NAME,
        base_url=f"{base}/oscp/cp/2.0",
        profile=profile,
    )
    optimizer, optimizer_token = _partner(
        owner=owner,
        role=PartnerRole.CAPACITY_OPTIMIZER,
        name=OPTIMIZER_NAME,
        base_url=f"{base}/oscp/co/2.0",
        profile=profile,
    )
    group = CapacityGroup.objects.filter(owner=owner, identifier=DEMO_GROUP).first()
    if group is None:
        group = group_create(
            owner=owner,
            name="Demo site",
            identifier=DEMO_GROUP,
            capacity_provider=provider,
            capacity_provider_measurement_period=MeasurementPeriod.MINUTE,
            capacity_optimizer=optimizer,
            capacity_optimizer_measurement_period=MeasurementPeriod.MINUTE,
            microgrid_id=DEMO_MICROGRID,
            node_id=DEMO_NODE,
            fallback_import_kw=4,
        )
    for number, source_id in enumerate(DEMO_CHARGERS, start=1):
        if not group.assets.filter(source_id=source_id).exists():
            asset_create(
                group=group,
                name=f"Charger {number}",
                identifier=f"charger-{number}",
                audience=Audience.CAPACITY_PROVIDER,
                node_id=DEMO_NODE,
                source_id=source_id,
                category=AssetCategory.CHARGING,
                instantaneous={"propertyNames": ["watts"], "unit": "W", "multiplier": 1, "statisticType": "Average"},
                energy={
                    "propertyNames": ["wattHours"],
                    "unit": "Wh",
                    "multiplier": 1,
                    "statisticType": "Difference",
                    "type": "Total",
                    "direction": "Import",
                },
            )
    api_key, _ = Token.objects.get_or_create(user=owner)
    return DemoSeed(provider.id, provider_token, optimizer.id, optimizer_token, group.identifier, api_key.key)


def demo_power_w(source_id: str, at: datetime) -> float:
    """A charger's power: a slow wave over ten minutes, the second charger half a wave behind."""
    phase = DEMO_CHARGERS.index(source_id) * math.pi
    return round(7400 + 3600 * math.sin(at.timestamp() / 600 * 2 * math.pi + phase), 1)


def demo_datum(*, at: datetime, counters: dict[str, float], seconds: float) -> list[dict]:
    """One reading per charger at ``at``: its power, and its energy counter moved on by that power
    over ``seconds`` (``counters`` is updated)."""
    created = at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"
    datum = []
    for source_id in DEMO_CHARGERS:
        watts = demo_power_w(source_id, at)
        counters[source_id] = counters.get(source_id, 0.0) + watts * seconds / 3600
        datum.append(
            {
                "nodeId": DEMO_NODE,
                "sourceId": source_id,
                "created": created,
                "i": {"watts": watts},
                "a": {"wattHours": round(counters[source_id], 3)},
            }
        )
    return datum
