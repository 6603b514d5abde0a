"""The partner client: the only module that talks HTTP to partners (and to envelope webhooks).

Connections are kept alive: one ``requests.Session`` per process with a pool per partner host,
shared by the outbox's sending threads (cookies are never kept).

Every call is ``POST {partner.base_url}/{path}`` where ``path`` is the partner's path override for
the message type, else the message type itself. The body goes in the partner's dialect: times in
its ``time_format``, ``energy_type`` / ``initial_measure_time`` left out where it does not take them
(``oscp.serializers.wire_render``; the message log keeps the standard form).

Headers: ``X-Request-ID`` (the message's id, the same on every retry), ``X-Correlation-ID`` when
set, ``Content-Type: application/json``, the partner's static headers, and authentication:

- ``Authorization: Token <partner_token>`` (OSCP standard), or
- OAuth2 client credentials when ``service_props`` has ``oauth-token-url`` and ``oauth-client-id``
  (secret in ``oauth_client_secret``): ``Authorization: Bearer <access token>``. The access token
  is cached (encrypted, Django cache) until shortly before it expires and fetched again once when
  the partner answers 401/403.

A static header that collides with ``X-Request-ID`` (names are case-insensitive) is resolved by the
partner's ``request_id_header_policy``; the winner is recorded in the logged headers as
``X-Request-ID-Source``. Static headers never replace Authorization, Content-Type or
X-Correlation-ID.

Outcomes: a 2xx returns a ``Delivery``; 3xx/4xx raise ``PartnerPermanentError``; 5xx, timeouts and
connection errors raise ``PartnerTemporaryError``. Callers never see requests' exceptions. Both
carry what the message log records (url, masked headers, status, duration). Secrets (tokens, the
client secret, static header values, access tokens) are masked in logs, in recorded headers and
in error texts.
"""

from __future__ import annotations

import hashlib
import http.cookiejar
import json
import logging
import os
import time
from dataclasses import dataclass, field

import requests
from django.conf import settings
from django.core.cache import cache
from oauthlib.oauth2 import BackendApplicationClient, OAuth2Error
from requests.adapters import HTTPAdapter
from requests_oauthlib import OAuth2Session

from oscp_platform.crypto import decrypt, encrypt, mask

from .choices import RequestIdHeaderPolicy, TimeFormat
from .models import Message, Partner
from .oscp.serializers import wire_render

logger = logging.getLogger(__name__)
# requests-oauthlib logs token responses and Basic credentials at DEBUG: never let them through.
for _name in ("requests_oauthlib", "oauthlib"):
    logging.getLogger(_name).setLevel(logging.WARNING)

# Headers the protocol sets; a static header of the same name never replaces them.
PROTECTED_HEADERS = {"authorization", "content-type", "x-correlation-id"}
TOKEN_EXPIRY_MARGIN_SECONDS = 30


@dataclass
class Delivery:
    url: str
    headers: dict = field(default_factory=dict)  # masked, as sent
    status: int | None = None
    duration_ms: int | None = None


class PartnerError(Exception):
    """A call that did not succeed; ``delivery`` holds what was sent and what came back."""

    def __init__(self, message: str, delivery: Delivery | None = None):
        super().__init__(message)
        self.delivery = delivery or Delivery(url="")


class PartnerTemporaryError(PartnerError):
    """5xx, timeouts, connection errors: worth retrying later."""


class PartnerPermanentError(PartnerError):
    """4xx, redirects, bad configuration: retrying the same request will not help."""


class PartnerAuthError(PartnerPermanentError):
    """The OAuth token endpoint refused our client credentials."""


# --- secrets -------------------------------------------------------------------------------------
def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, mask(secret))
    return text


def sealed_secrets(message: Message) -> list[str]:
    """The secrets a sealed body carries (our token in a ``register``): its string values that the
    stored, masked body does not show as they are. A partner echoing our request in its error
    answer must not put them into the message log or the log."""
    if not message.sealed_body:
        return []
    try:
        sealed = json.loads(message.sealed_body)
    except ValueError:
        return []
    found: list[str] = []

    def walk(value, shown) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, shown.get(key) if isinstance(shown, dict) else None)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, shown[index] if isinstance(shown, list) and index < len(shown) else None)
        elif isinstance(value, str) and value != shown:
            found.append(value)

    walk(sealed, message.body)
    return found


def static_headers_of(partner: Partner) -> dict[str, str]:
    if not partner.static_headers:
        return {}
    try:
        value = json.loads(partner.static_headers)
    except ValueError as exc:
        raise PartnerPermanentError("static headers are not valid JSON") from exc
    if not isinstance(value, dict):
        raise PartnerPermanentError("static headers must be a JSON object of name: value")
    return {str(k): str(v) for k, v in value.items()}


def uses_oauth(partner: Partner) -> bool:
    props = partner.service_props or {}
    return bool(props.get("oauth-token-url") and props.get("oauth-client-id"))


# --- OAuth2 client credentials -------------------------------------------------------------------
NO_TOKEN = "no token to call this partner with"


def call_refusal(partner: Partner) -> str | None:
    """Why a call to ``partner`` cannot be authenticated, or None. The same rule the client applies
    when it sends, so services refuse up front what would only die in the outbox."""
    if uses_oauth(partner) or partner.partner_token:
        return None
    return (
        f"{NO_TOKEN}: it has not registered with us (its register gives us its token) and no token "
        "or OAuth client credentials were entered for it."
    )


def _token_cache_key(partner: Partner) -> str:
    props = partner.service_props or {}
    fingerprint = hashlib.sha256(
        "\n".join(
            [props.get("oauth-token-url", ""), props.get("oauth-client-id", ""), partner.oauth_client_secret]
        ).encode()
    ).hexdigest()[:16]
    return f"oscp:oauth-token:{partner.pk}:{fingerprint}"


def oauth_token_forget(partner: Partner) -> None:
    cache.delete(_token_cache_key(partner))


def oauth_access_token(partner: Partner, *, refresh: bool = False) -> str:
    """A valid access token for ``partner``: cached until shortly before it expires."""
    key = _token_cache_key(partner)
    if not refresh:
        cached = cache.get(key)
        if cached:
            return decrypt(cached)
    props = partner.service_props or {}
    url, client_id = props["oauth-token-url"], props["oauth-client-id"]
    session = OAuth2Session(client=BackendApplicationClient(client_id=client_id))
    secrets = [partner.oauth_client_secret]
    try:
        token = session.fetch_token(
            token_url=url,
            client_id=client_id,
            client_secret=partner.oauth_client_secret,
            timeout=(settings.OSCP_HTTP_CONNECT_TIMEOUT, settings.OSCP_HTTP_READ_TIMEOUT),
        )
    except OAuth2Error as exc:
        status = getattr(exc, "status_code", None) or 400
        text = _scrub(f"OAuth token request to {url} failed ({status}): {exc.description or exc.error}", secrets)
        error = PartnerTemporaryError if status >= 500 else PartnerAuthError
        raise error(text, Delivery(url=url, status=status)) from None
    except (requests.Timeout, requests.ConnectionError) as exc:
        text = _scrub(f"OAuth token request to {url} failed: {exc.__class__.__name__}", secrets)
        raise PartnerTemporaryError(text, Delivery(url=url)) from None
    except (requests.RequestException, ValueError) as exc:
        # ValueError: oauthlib could not read the token response (e.g. an HTML 502 page).
        text = _scrub(f"OAuth token request to {url} failed: {exc.__class__.__name__}", secrets)
        raise PartnerTemporaryError(text, Delivery(url=url)) from None
    access = token["access_token"]
    expires_in = int(token.get("expires_in") or 300)
    cache.set(key, encrypt(access), timeout=max(expires_in - TOKEN_EXPIRY_MARGIN_SECONDS, 1))
    logger.info("OAuth access token fetched for partner %s (expires in %ss)", partner.pk, expires_in)
    return access


# --- sending -------------------------------------------------------------------------------------
def message_url(partner: Partner, message_type: str) -> str:
    path = (partner.path_overrides or {}).get(message_type) or message_type
    return partner.base_url.rstrip("/") + "/" + str(path).lstrip("/")


def _masked(headers: dict[str, str], secret_names: set[str]) -> dict[str, str]:
    shown = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower == "authorization":
            scheme, _, credential = value.partition(" ")
            shown[name] = f"{scheme} {mask(credential)}"
        elif lower in secret_names:
            shown[name] = mask(value)
        else:
            shown[name] = value
    return shown


def _partner_headers(partner: Partner, message: Message) -> tuple[dict[str, str], set[str], str]:
    """Headers without Authorization; the names whose values are secret; who won X-Request-ID."""
    headers = {"Content-Type": "application/json", "X-Request-ID": message.request_id}
    if message.correlation_id:
        headers["X-Correlation-ID"] = message.correlation_id
    static = static_headers_of(partner)
    secret_names = {name.lower() for name in static}
    source = "ours"
    for name, value in static.items():
        lower = name.lower()
        if lower == "x-request-id":
            if partner.request_id_header_policy == RequestIdHeaderPolicy.STATIC:
                headers.pop("X-Request-ID")
                headers[name] = value
                source = "static"
            continue
        if lower in PROTECTED_HEADERS:
            logger.warning("Partner %s: static header %s ignored (set by the protocol)", partner.pk, name)
            continue
        headers[name] = value
    if source == "ours":
        secret_names.discard("x-request-id")
    return headers, secret_names, source


_session: tuple[int, requests.Session] | None = None


def http_session() -> requests.Session:
    """The process's session: kept-alive connections, a pool per host, no cookies."""
    global _session
    if _session is None or _session[0] != os.getpid():
        session = requests.Session()
        session.trust_env = False  # partners are called directly: no proxy or .netrc lookups per request
        size = max(settings.OSCP_SEND_CONCURRENCY, 10)
        adapter = HTTPAdapter(pool_connections=100, pool_maxsize=size)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        _session = (os.getpid(), session)
    return _session[1]


def _post(
    url: str,
    data: bytes,
    headers: dict[str, str],
    shown: dict[str, str],
    secrets: list[str],
    *,
    method: str = "POST",
    timeout: tuple[float, float] | None = None,
) -> Delivery:
    return _call(url, data, headers, shown, secrets, method=method, timeout=timeout)[0]


def _call(
    url: str,
    data: bytes | None,
    headers: dict[str, str],
    shown: dict[str, str],
    secrets: list[str],
    *,
    method: str = "POST",
    timeout: tuple[float, float] | None = None,
) -> tuple[Delivery, requests.Response]:
    delivery = Delivery(url=url, headers=shown)
    started = time.monotonic()
    try:
        response = http_session().request(
            method,
            url,
            data=data,
            headers=headers,
            timeout=timeout or (settings.OSCP_HTTP_CONNECT_TIMEOUT, settings.OSCP_HTTP_READ_TIMEOUT),
            allow_redirects=False,
        )
    except requests.Timeout:
        delivery.duration_ms = int((time.monotonic() - started) * 1000)
        raise PartnerTemporaryError(f"timeout after {delivery.duration_ms} ms", delivery) from None
    except requests.RequestException as exc:
        delivery.duration_ms = int((time.monotonic() - started) * 1000)
        raise PartnerTemporaryError(_scrub(f"connection failed: {exc.__class__.__name__}", secrets), delivery) from None
    delivery.duration_ms = int((time.monotonic() - started) * 1000)
    delivery.status = response.status_code
    if 200 <= response.status_code < 300:
        if response.status_code != 204 and method == "POST":
            logger.info("POST %s answered %s (accepted as success)", url, response.status_code)
        return delivery, response
    # Scrub before cutting: a secret cut in half at the limit would no longer be recognised.
    text = _scrub(f"HTTP {response.status_code}: {response.text}".strip(), secrets)[: 500 + 10]
    error = PartnerTemporaryError if response.status_code >= 500 else PartnerPermanentError
    raise error(text, delivery)


def _body_bytes(message: Message, partner: Partner | None = None) -> bytes:
    """The body as sent: the sealed one if any, else the logged one; for a partner, in its
    dialect (time format, optional measurement fields it does not take)."""
    if partner is None or not _renders(partner):
        if message.sealed_body:
            return message.sealed_body.encode()
        return json.dumps(message.body if message.body is not None else {}).encode()
    body = json.loads(message.sealed_body) if message.sealed_body else message.body
    drop = frozenset(
        name
        for name, send in (
            ("energy_type", partner.send_energy_type),
            ("initial_measure_time", partner.send_initial_measure_time),
        )
        if not send
    )
    return json.dumps(
        wire_render(body if body is not None else {}, time_format=partner.time_format, drop=drop)
    ).encode()


def _renders(partner: Partner) -> bool:
    return (
        partner.time_format != TimeFormat.RFC3339
        or not partner.send_energy_type
        or not partner.send_initial_measure_time
    )


def partner_message_post(*, message: Message, partner: Partner) -> Delivery:
    """Send an outbound message to its partner."""
    url = message_url(partner, message.message_type)
    headers, secret_names, source = _partner_headers(partner, message)
    static_values = list(static_headers_of(partner).values())
    secrets = [partner.partner_token, partner.oauth_client_secret, *static_values, *sealed_secrets(message)]
    oauth = uses_oauth(partner)
    data = _body_bytes(message, partner)

    def attempt(refresh: bool) -> Delivery:
        if oauth:
            access = oauth_access_token(partner, refresh=refresh)
            auth = f"Bearer {access}"
            call_secrets = [*secrets, access]
        else:
            if not partner.partner_token:
                raise PartnerPermanentError(NO_TOKEN, Delivery(url=url))
            auth = f"Token {partner.partner_token}"
            call_secrets = secrets
        sent = {**headers, "Authorization": auth}
        shown = _masked(sent, secret_names)
        shown["X-Request-ID-Source"] = source
        return _post(url, data, sent, shown, call_secrets)

    try:
        delivery = attempt(refresh=False)
    except PartnerPermanentError as exc:
        if not oauth or isinstance(exc, PartnerAuthError) or exc.delivery.status not in (401, 403):
            _log_failure(message, exc)
            raise
        logger.info("Partner %s answered %s: fetching a new access token once", partner.pk, exc.delivery.status)
        try:
            delivery = attempt(refresh=True)
        except PartnerError as retry_exc:
            _log_failure(message, retry_exc)
            raise
    except PartnerError as exc:
        _log_failure(message, exc)
        raise
    logger.debug(
        "Sent %s %s to partner %s: %s in %s ms",
        message.message_type,
        message.request_id,
        partner.pk,
        delivery.status,
        delivery.duration_ms,
    )
    return delivery


def url_message_post(*, message: Message) -> Delivery:
    """Send a message without a partner (an envelope webhook) to its URL with its sealed headers
    (e.g. the body's signature), which the message log shows masked."""
    data = _body_bytes(message)
    sealed = json.loads(message.sealed_headers) if message.sealed_headers else {}
    plain = {name: value for name, value in (message.headers or {}).items() if name not in sealed}
    headers = {"Content-Type": "application/json", "X-Request-ID": message.request_id, **plain, **sealed}
    shown = {name: (mask(value) if name in sealed else value) for name, value in headers.items()}
    secrets = list(sealed.values()) + [value.split(" ", 1)[1] for value in sealed.values() if " " in value]
    try:
        return _post(message.url, data, headers, shown, secrets, method=message.method or "POST")
    except PartnerError as exc:
        _log_failure(message, exc)
        raise


def http_call(
    *,
    method: str,
    url: str,
    headers: dict[str, str],
    secret_headers: dict[str, str],
    body: dict | list | None = None,
    timeout: tuple[float, float] | None = None,
) -> tuple[Delivery, requests.Response]:
    """A synchronous call for protocols that need the answer now (e.g. OCPI credentials exchange
    and real-time authorization). ``secret_headers`` are sent but masked in ``Delivery.headers``
    and scrubbed from error texts. Raises ``PartnerTemporaryError`` / ``PartnerPermanentError``."""
    sent = {"Content-Type": "application/json", **headers, **secret_headers}
    shown = {**headers, **{name: mask(value) for name, value in secret_headers.items()}}
    secrets = [value for value in secret_headers.values()]
    secrets += [value.split(" ", 1)[1] for value in secret_headers.values() if " " in value]
    data = json.dumps(body).encode() if body is not None else None
    return _call(url, data, sent, shown, secrets, method=method, timeout=timeout)


def message_post(*, message: Message, partner: Partner | None = None) -> Delivery:
    """Send an outbound message: to its partner (``partner``, if already loaded), or to its URL."""
    if message.partner_id is None:
        if not message.url:
            raise PartnerPermanentError("message has neither a partner nor a URL")
        return url_message_post(message=message)
    return partner_message_post(message=message, partner=partner or message.partner)


def _log_failure(message: Message, exc: PartnerError) -> None:
    logger.warning(
        "Sending %s %s failed (%s): %s", message.message_type, message.request_id, exc.__class__.__name__, exc
    )
