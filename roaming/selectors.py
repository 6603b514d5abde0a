"""Reads for roaming."""

from django.db.models import QuerySet

from oscp_platform.crypto import token_digest

from .choices import RoamingState
from .models import CredentialsToken, Location, RoamingPartner, Tariff, Token


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


def token_parties_of(*, partner: RoamingPartner) -> set[tuple[str, str]]:
    """The parties whose tokens the partner may write and read: its own roles, and for a hub the
    parties it reported through hubclientinfo."""
    parties = {(r.country_code, r.party_id) for r in partner.roles.all()}
    parties |= {(c.country_code, c.party_id) for c in partner.hub_clients.all()}
    return parties


def token_of_partner(*, partner: RoamingPartner, country_code: str, party_id: str, uid: str, type: str) -> Token | None:
    return Token.objects.filter(
        partner=partner, country_code=country_code, party_id=party_id, uid=uid, type=type
    ).first()


def tokens_of(*, owner) -> QuerySet[Token]:
    """The tokens every roaming partner of the account pushed to us."""
    return Token.objects.filter(partner__owner=owner).select_related("partner")


def token_for_authorization(*, owner, uid: str, type: str) -> Token | None:
    """The token a driver presented at one of the account's chargers: the most recently updated
    one of that uid and type among the account's partners, a registered and enabled partner's
    first (an old copy at a partner that left does not hide the live one)."""
    found = tokens_of(owner=owner).filter(uid=uid, type=type).order_by("-last_updated", "-id")
    return found.filter(partner__state=RoamingState.REGISTERED, partner__enabled=True).first() or found.first()
