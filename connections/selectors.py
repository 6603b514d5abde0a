"""Reads on partners and their credentials."""

from django.db.models import QuerySet

from oscp_platform.crypto import token_digest

from .models import InboundToken, Partner


def partner_for_token(*, token: str) -> Partner | None:
    """The partner presenting ``token`` if it is live, else None. The lookup is by keyed digest:
    an index probe on a value the caller cannot choose, so timing reveals nothing of stored tokens."""
    record = (
        InboundToken.objects.select_related("partner")
        .filter(digest=token_digest(token), retired_at__isnull=True)
        .first()
    )
    return record.partner if record else None


def partners_of(*, owner, role: str) -> QuerySet[Partner]:
    return Partner.objects.filter(owner=owner, role=role)
