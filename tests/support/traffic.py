"""Steady inbound traffic for resilience tests: a Capacity Provider (this test process) posts
forecasts over HTTP; the platform forwards each to the group's Capacity Optimizer (a real local
``Peer``) with the provider's ``X-Request-ID``, so every forecast can be followed to its delivery.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import requests

from connections.choices import ConnectionState, RegistrationStatus
from connections.services import inbound_token_issue
from tests.connections.factories import CapacityOptimizerFactory, CapacityProviderFactory, UserFactory
from tests.groups.factories import CapacityGroupFactory

from .peer import Peer

FORWARDED = "update_group_capacity_forecast"


def forecast_body(group_id: str, capacity: float = 10.0) -> dict:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    end = start + timedelta(minutes=15)
    wire = {"start_time": start.isoformat().replace("+00:00", "Z"), "end_time": end.isoformat().replace("+00:00", "Z")}
    return {
        "group_id": group_id,
        "type": "CONSUMPTION",
        "forecasted_blocks": [{"capacity": capacity, "phase": "ALL", "unit": "KW", **wire}],
    }


def forecast_partners_create(optimizer_url: str) -> tuple[str, str]:
    """A provider and an optimizer at ``optimizer_url``, both online, and a group between them;
    returns the provider's token for us and the group id. Also run inside a platform's own
    database: ``manage.py shell -c "from tests.support.traffic import ..."``."""
    online = {"registration_status": RegistrationStatus.REGISTERED, "connection_state": ConnectionState.ONLINE}
    user = UserFactory()
    provider = CapacityProviderFactory(owner=user, base_url="http://127.0.0.1:9/unused", **online)
    optimizer = CapacityOptimizerFactory(owner=user, base_url=optimizer_url, partner_token="co-token-0001", **online)
    group = CapacityGroupFactory(owner=user, capacity_provider=provider, capacity_optimizer=optimizer)
    return inbound_token_issue(partner=provider), group.identifier


@dataclass
class ForecastTraffic:
    """A provider and an optimizer (``peer``), both online, and one group between them."""

    peer: Peer
    token: str
    group_id: str
    sent: list[str] = field(default_factory=list)
    answers: list[tuple[str, int]] = field(default_factory=list)

    @classmethod
    def create(cls, peer: Peer) -> ForecastTraffic:
        token, group_id = forecast_partners_create(peer.base_url)
        return cls(peer=peer, token=token, group_id=group_id)

    def post(self, base_url: str, session: requests.Session | None = None, timeout: float = 15) -> int:
        """Post one forecast to ``base_url`` (a web server's root); returns the status (0 when the
        connection failed). Answered 2xx ones are remembered in ``sent``."""
        request_id = str(uuid.uuid4())
        try:
            response = (session or requests).post(
                f"{base_url}/oscp/fp/2.0/update_group_capacity_forecast",
                json=forecast_body(self.group_id, float(len(self.sent) % 50)),
                headers={"Authorization": f"Token {self.token}", "X-Request-ID": request_id},
                timeout=timeout,
            )
            status = response.status_code
        except requests.RequestException:
            status = 0
        self.answers.append((request_id, status))
        if 200 <= status < 300:
            self.sent.append(request_id)
        return status

    def delivered(self) -> list[str]:
        """X-Request-IDs of the forwarded forecasts the optimizer received, in arrival order."""
        return [r.header("X-Request-ID") for r in self.peer.requests_to(FORWARDED)]
