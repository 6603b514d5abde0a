"""Calls to roaming partners that need an answer now (credentials exchange, versions and details,
real-time authorization). The HTTP itself is ``connections.client.http_call``: timeouts, kept-alive
connections, masking; this module adds OCPI's headers and reads OCPI's envelope."""

import base64
import uuid

from connections.client import PartnerError, http_call

from .envelope import SUCCESS


class OcpiCallError(Exception):
    """The partner's platform could not be used: unreachable, an HTTP error or an OCPI error."""

    def __init__(self, message: str, *, timeout: bool = False, http_status: int | None = None):
        super().__init__(message)
        self.timeout = timeout
        self.http_status = http_status


def authorization(token: str) -> str:
    """``Token <base64(token)>`` as OCPI 2.2.1 says."""
    return "Token " + base64.b64encode(token.encode()).decode()


def routing_headers(*, to_party: tuple[str, str] | None, from_party: tuple[str, str] | None) -> dict[str, str]:
    headers = {}
    if from_party:
        headers["OCPI-from-country-code"], headers["OCPI-from-party-id"] = from_party
    if to_party:
        headers["OCPI-to-country-code"], headers["OCPI-to-party-id"] = to_party
    return headers


def request_headers(*, correlation_id: str | None = None, **routing) -> dict[str, str]:
    return {
        "X-Request-ID": str(uuid.uuid4()),
        "X-Correlation-ID": correlation_id or str(uuid.uuid4()),
        **routing_headers(to_party=routing.get("to_party"), from_party=routing.get("from_party")),
    }


def ocpi_call(
    *,
    method: str,
    url: str,
    token: str,
    body: dict | None = None,
    timeout: tuple[float, float] | None = None,
    to_party: tuple[str, str] | None = None,
    from_party: tuple[str, str] | None = None,
):
    """``data`` of the partner's OCPI answer; ``OcpiCallError`` unless it is status 1000."""
    if not url:
        raise OcpiCallError("no URL for this call")
    headers = request_headers(to_party=to_party, from_party=from_party)
    try:
        delivery, response = http_call(
            method=method,
            url=url,
            headers=headers,
            secret_headers={"Authorization": authorization(token)},
            body=body,
            timeout=timeout,
        )
    except PartnerError as exc:
        timed_out = str(exc).startswith("timeout")
        raise OcpiCallError(f"{method} {url}: {exc}", timeout=timed_out, http_status=exc.delivery.status) from None
    try:
        answer = response.json()
    except ValueError:
        raise OcpiCallError(f"{method} {url}: the answer is not JSON", http_status=delivery.status) from None
    if not isinstance(answer, dict) or answer.get("status_code") != SUCCESS:
        code = answer.get("status_code") if isinstance(answer, dict) else None
        text = answer.get("status_message") if isinstance(answer, dict) else None
        raise OcpiCallError(f"{method} {url}: OCPI status {code} {text or ''}".strip(), http_status=delivery.status)
    return answer.get("data")
