"""OAuth2 client credentials that partners use to call us (partners without the OSCP register flow,
e.g. Vector DERMS): staff issue a client id and secret, the partner fetches access tokens at our
token URL (``/oscp/oauth/token``, client credentials grant) and calls the OSCP endpoints with
``Authorization: Bearer <access token>``.

django-oauth-toolkit keeps the client secret hashed and access tokens only as SHA-256 checksums;
the secret's plaintext leaves this module once, in the return value of
``partner_oauth_client_issue``. Revoking or reissuing deletes the Application, and with it every
access token issued to it."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import get_access_token_model, get_application_model

from .lifecycle import partner_lock
from .models import InboundOAuthClient, Partner


@dataclass(frozen=True)
class IssuedOAuthClient:
    """What a partner needs to fetch access tokens; ``client_secret`` exists only here."""

    client_id: str
    client_secret: str
    token_url: str
    access_token_seconds: int
    created: datetime


def _history_note(partner: Partner, actor: AbstractBaseUser | None, reason: str) -> None:
    """A row in the partner's history saying who did what (no secret in it)."""
    if actor is not None and getattr(actor, "is_authenticated", False):
        partner._history_user = actor
    partner._change_reason = reason
    partner.save(update_fields=["modified"])


def _application_delete(partner: Partner) -> str | None:
    """Delete the partner's Application (its access tokens and the link go with it); its client id."""
    link = InboundOAuthClient.objects.select_related("application").filter(partner=partner).first()
    if link is None:
        return None
    client_id = link.application.client_id
    link.application.delete()
    return client_id


@transaction.atomic
def partner_oauth_client_issue(*, partner: Partner, actor: AbstractBaseUser | None = None) -> IssuedOAuthClient:
    """Create the partner's OAuth client credentials, replacing any it had (whose access tokens stop
    working at once). Returns the client id and secret; the secret is never shown again."""
    partner = partner_lock(partner)
    replaced = _application_delete(partner)
    secret = generate_client_secret()
    application = get_application_model()(
        name=f"{partner.name} ({partner.get_role_display()} {partner.pk})"[:255],
        client_type=get_application_model().CLIENT_CONFIDENTIAL,
        authorization_grant_type=get_application_model().GRANT_CLIENT_CREDENTIALS,
        client_secret=secret,  # hashed on save
        hash_client_secret=True,
        skip_authorization=True,
    )
    application.save()
    link = InboundOAuthClient.objects.create(partner=partner, application=application)
    what = f"OAuth client credentials issued (client id {application.client_id})"
    if replaced:
        what += f"; client {replaced} and its access tokens revoked"
    _history_note(partner, actor, what)
    return IssuedOAuthClient(
        client_id=application.client_id,
        client_secret=secret,
        token_url=settings.OSCP_OAUTH_TOKEN_URL,
        access_token_seconds=settings.OSCP_OAUTH_ACCESS_TOKEN_SECONDS,
        created=link.created,
    )


@transaction.atomic
def partner_oauth_client_revoke(*, partner: Partner, actor: AbstractBaseUser | None = None) -> bool:
    """Delete the partner's OAuth client credentials and every access token issued with them.
    False if it had none."""
    partner = partner_lock(partner)
    client_id = _application_delete(partner)
    if client_id is None:
        return False
    _history_note(partner, actor, f"OAuth client {client_id} and its access tokens revoked")
    return True


@transaction.atomic
def oauth_access_tokens_prune(*, now: datetime | None = None) -> int:
    """Delete access tokens that have expired (a partner fetching one an hour leaves 8,760 a year)."""
    now = now or timezone.now()
    return get_access_token_model().objects.filter(expires__lt=now).delete()[0]
