"""Reads for roaming."""

from django.db.models import QuerySet

from oscp_platform.crypto import token_digest

from .models import CredentialsToken, RoamingPartner


def credentials_token_find(*, token: str) -> CredentialsToken | None:
    """A live token of an enabled partner, by digest."""
    return (
        CredentialsToken.objects.select_related("partner")
        .filter(digest=token_digest(token), retired_at__isnull=True, partner__enabled=True)
        .first()
    )


def roaming_partners_of(*, owner) -> QuerySet[RoamingPartner]:
    return RoamingPartner.objects.filter(owner=owner)
