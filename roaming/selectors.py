"""Reads for roaming."""

from django.db.models import QuerySet

from oscp_platform.crypto import token_digest

from .models import CredentialsToken, Location, RoamingPartner, Tariff


def credentials_token_find(*, token: str) -> CredentialsToken | None:
    """A live token of an enabled partner, by digest."""
    return (
        CredentialsToken.objects.select_related("partner")
        .filter(digest=token_digest(token), retired_at__isnull=True, partner__enabled=True)
        .first()
    )


def roaming_partners_of(*, owner) -> QuerySet[RoamingPartner]:
    return RoamingPartner.objects.filter(owner=owner)


def locations_for_partner(*, partner: RoamingPartner, party: tuple[str, str] | None = None) -> QuerySet[Location]:
    """Published locations of the partner's account (of one party when a hub names it)."""
    found = Location.objects.filter(owner_id=partner.owner_id, publish=True).prefetch_related("evses")
    if party:
        found = found.filter(country_code=party[0], party_id=party[1])
    return found


def tariffs_for_partner(*, partner: RoamingPartner, party: tuple[str, str] | None = None) -> QuerySet[Tariff]:
    found = Tariff.objects.filter(owner_id=partner.owner_id)
    if party:
        found = found.filter(country_code=party[0], party_id=party[1])
    return found
