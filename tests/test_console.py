"""The admin as a console for support staff: the dashboard front page (numbers that link to the
filtered lists, a fixed number of queries), sections in working order, refusals of actions that
cannot work, secrets with copy buttons, the system named in history, and the pages' details."""

import json
import re
from datetime import timedelta
from html import unescape

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse
from django.utils import timezone

from connections.choices import ConnectionState, MessageDirection, MessageStatus, TokenKind
from connections.lifecycle import partner_transition
from connections.models import Message, Partner
from forecasts.models import ComplianceError
from tests.connections.factories import CapacityOptimizerFactory, CapacityProviderFactory, MessageFactory
from tests.forecasts.factories import ForecastFactory
from tests.groups.factories import CapacityGroupFactory

pytestmark = pytest.mark.django_db
INDEX = "/admin/"
DASHBOARD = re.compile(r'<div class="console-grid" id="dashboard">(.*?)\n  </div>\n  {0,2}<div class="app-', re.S)


def _platform(size: int):
    """``size`` partners of each kind of trouble, groups in each mode, and an outbox."""
    now = timezone.now()
    for i in range(size):
        online = CapacityProviderFactory(connection_state=ConnectionState.ONLINE, last_heartbeat_received_at=now)
        CapacityProviderFactory(connection_state=ConnectionState.OFFLINE, connection_state_changed_at=now)
        CapacityOptimizerFactory(partner_token="")
        CapacityGroupFactory(capacity_provider=online, mode="normal")
        CapacityGroupFactory(capacity_provider=online, mode="partner-offline", fallback_import_kw=7.5)
        out = {"partner": online, "direction": MessageDirection.OUTBOUND}
        MessageFactory(**out, status=MessageStatus.PENDING)
        MessageFactory(**out, status=MessageStatus.FAILED)
        MessageFactory(**out, status=MessageStatus.DEAD, error=f"HTTP 400 from partner {i}")
        MessageFactory(partner=online, status=MessageStatus.REJECTED, error="bad body")


def _dashboard(page: str) -> str:
    return page.split('id="dashboard"', 1)[1].split('class="app-connections', 1)[0]


def test_dashboard_reads_with_a_fixed_number_of_queries(admin_client, django_assert_max_num_queries):
    _platform(1)
    with django_assert_max_num_queries(14) as small:
        assert admin_client.get(INDEX).status_code == 200
    _platform(5)
    with django_assert_max_num_queries(14) as large:
        page = admin_client.get(INDEX).content.decode()
    assert len(large.captured_queries) == len(small.captured_queries)  # not one per partner, group or message
    board = _dashboard(page)
    assert "HTTP 400 from partner" in board and "partner-offline" in board and "7.5 kW" in board


def test_every_dashboard_number_links_to_a_list_that_shows_it(admin_client):
    _platform(2)
    board = _dashboard(admin_client.get(INDEX).content.decode())
    links = {unescape(href) for href in re.findall(r'href="([^"]+)"', board)}
    assert len(links) > 15
    for link in links:
        response = admin_client.get(link)
        # A filter the list does not know redirects to ?e=1; every link must filter for real.
        assert response.status_code == 200, link

    offline = admin_client.get(
        reverse("admin:connections_capacityprovider_changelist") + "?connection_state__exact=offline"
    )
    assert offline.context["cl"].result_count == 2
    dead = admin_client.get(reverse("admin:connections_message_changelist") + "?status__exact=dead&since=day")
    assert dead.context["cl"].result_count == 2
    fallback = admin_client.get(
        reverse("admin:groups_capacitygroup_changelist") + "?enabled__exact=1&mode__exact=partner-offline"
    )
    assert fallback.context["cl"].result_count == 2


def test_stale_forecast_filter_matches_the_api(admin_client, api_client, user):
    provider = CapacityProviderFactory(owner=user, forecast_cadence_minutes=15)
    stale = CapacityGroupFactory(capacity_provider=provider, owner=user)
    CapacityGroupFactory(owner=user)  # no cadence declared: never stale
    listed = admin_client.get(reverse("admin:groups_capacitygroup_changelist") + "?forecast_stale=yes")
    assert [g.pk for g in listed.context["cl"].result_list] == [stale.pk]
    api = api_client.get("/solaruser/api/v1/sec/user/oscp/capacity-groups").json()["data"]
    assert [g["configId"] for g in api if g["forecastStale"]] == [stale.pk]


def test_sections_in_working_order_and_library_internals_last_or_gone(admin_client):
    page = admin_client.get(INDEX).content.decode()
    sections = re.findall(r'<div class="app-(\w+) module', page)
    assert sections == ["connections", "groups", "forecasts", "measurements", "roaming", "system"]
    system = page.split('class="app-system module')[1]
    for name in (
        "Staff users",
        "Staff permission groups",
        "Management API keys",
        "Periodic tasks",
        "OAuth applications",
    ):
        assert name in system
    for gone in ("Grants", "Id tokens", "Refresh tokens", "Clocked", "Solar events"):
        assert gone not in page
    assert "View site" not in page


def test_home_and_favicon_lead_somewhere_real(client):
    assert client.get("/").headers["Location"] == INDEX
    favicon = client.get("/favicon.ico")
    assert favicon.status_code == 301 and favicon.headers["Location"] == "/static/oscp_platform/favicon.svg"
    assert finders.find("oscp_platform/favicon.svg")


# --- Refused up front, saying why ---------------------------------------------------------------


def test_handshake_with_no_token_to_call_the_partner_is_refused_everywhere(admin_client, api_client, user):
    optimizer = CapacityOptimizerFactory(owner=user, partner_token="")
    changelist = reverse("admin:connections_capacityoptimizer_changelist")

    page = admin_client.post(
        changelist, {"action": "start_handshake", "_selected_action": [optimizer.id]}, follow=True
    ).content.decode()
    assert "no token to call this partner with" in page and "Handshake queued" not in page

    button = reverse("admin:connections_capacityoptimizer_do", args=[optimizer.id, "handshake"])
    page = admin_client.post(button, follow=True).content.decode()
    assert "no token to call this partner with" in page

    response = api_client.post(f"/solaruser/api/v1/sec/user/oscp/capacity-optimizers/{optimizer.id}/handshake")
    assert response.status_code == 400 and response.json()["message"].startswith("partnerToken:")
    optimizer.refresh_from_db()
    assert optimizer.connection_state == ConnectionState.NEW
    assert not Message.objects.exists()


def test_handshake_with_oauth_credentials_and_no_token_is_queued(user):
    optimizer = CapacityOptimizerFactory(
        owner=user,
        partner_token="",
        service_props={"oauth-token-url": "https://co.example.com/token", "oauth-client-id": "fp"},
        oauth_client_secret="s3cret",
    )
    from connections.outbound import partner_handshake_start  # noqa: PLC0415

    assert partner_handshake_start(partner=optimizer).message_type == "handshake"


def test_retry_of_a_message_that_would_die_again_is_refused(admin_client, api_client, user):
    optimizer = CapacityOptimizerFactory(owner=user, partner_token="")
    dead = MessageFactory(partner=optimizer, direction="out", status=MessageStatus.DEAD, error="no token")

    page = admin_client.get(reverse("admin:connections_message_change", args=[dead.id])).content.decode()
    assert "Retry: no token to call this partner with" in page  # said on the page, no button
    assert reverse("admin:connections_message_retry", args=[dead.id]) not in page
    page = admin_client.post(reverse("admin:connections_message_retry", args=[dead.id]), follow=True).content.decode()
    assert "It would die again: no token to call this partner with" in page and "Queued again." not in page
    changelist = reverse("admin:connections_message_changelist")
    page = admin_client.post(
        changelist, {"action": "retry_messages", "_selected_action": [dead.id]}, follow=True
    ).content.decode()
    assert "It would die again" in page and "queued again" not in page
    response = api_client.post(f"/solaruser/api/v1/sec/user/oscp/messages/{dead.id}/retry")
    assert response.status_code == 400 and response.json()["message"].startswith("partnerToken:")
    dead.refresh_from_db()
    assert dead.status == MessageStatus.DEAD and dead.error == "no token"


def test_compliance_error_to_a_provider_with_no_token_is_refused_everywhere(admin_client, api_client, user):
    provider = CapacityProviderFactory(owner=user, partner_token="")
    group = CapacityGroupFactory(owner=user, capacity_provider=provider)
    forecast = ForecastFactory(group=group, sender=provider)

    changelist = reverse("admin:forecasts_forecast_changelist")
    page = admin_client.post(
        changelist, {"action": "report_cannot_comply", "_selected_action": [forecast.id]}, follow=True
    ).content.decode()
    assert "A compliance error cannot be sent: no token to call this partner with" in unescape(page)
    assert "queued" not in page

    url = f"/solaruser/api/v1/sec/user/oscp/capacity-groups/{group.id}/compliance-errors"
    response = api_client.post(url, {"message": "cannot", "forecastId": forecast.id}, format="json")
    assert response.status_code == 400 and response.json()["message"].startswith("partnerToken:")
    assert not ComplianceError.objects.exists() and not Message.objects.exists()


def test_report_resend_to_a_partner_with_no_token_is_refused(admin_client, api_client, user):
    provider = CapacityProviderFactory(owner=user, partner_token="")
    group = CapacityGroupFactory(owner=user, capacity_provider=provider, capacity_provider_measurement_period="Hour")
    start = (timezone.now() - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)

    url = f"/solaruser/api/v1/sec/user/oscp/capacity-groups/{group.id}/measurements/send"
    body = {"audience": "CapacityProvider", "periodStart": start.isoformat()}
    response = api_client.post(url, body, format="json")
    assert response.status_code == 400 and response.json()["message"].startswith("partnerToken:")
    assert "no token to call this partner with" in response.json()["message"]
    assert not Message.objects.exists()


def test_retry_of_a_message_whose_partner_was_deleted_is_refused(admin_client):
    dead = MessageFactory(partner=None, direction="out", message_type="heartbeat", status=MessageStatus.DEAD)
    page = admin_client.post(reverse("admin:connections_message_retry", args=[dead.id]), follow=True).content.decode()
    assert "Its partner was deleted" in page
    dead.refresh_from_db()
    assert dead.status == MessageStatus.DEAD


# --- Pages ---------------------------------------------------------------------------------------


def test_partner_page_leads_with_state_and_actions(admin_client):
    partner = CapacityProviderFactory(connection_state=ConnectionState.OFFLINE)
    page = admin_client.get(reverse("admin:connections_capacityprovider_change", args=[partner.id])).content.decode()
    headings = re.findall(r"<h2[^>]*>([^<]+)</h2>", page)
    assert headings[1:3] == ["Connection state", "Partner"]  # after the partner's name
    assert '<span class="badge badge-bad">offline</span>' in page
    for label in ("Register with partner", "Start handshake", "Rotate token", "Issue OAuth client"):
        assert f">{label}</button>" in page
    assert re.search(r'<fieldset class="module aligned collapse[^"]*"[^>]*>\s*<details>\s*<summary>\s*<h2[^>]*>'
                     r"Connection profile", page)  # fmt: skip


def test_rotated_token_is_labelled_so_and_shown_once_with_a_copy_button(admin_client):
    partner = CapacityProviderFactory()
    button = reverse("admin:connections_capacityprovider_do", args=[partner.id, "rotate-token"])
    page = admin_client.post(button, follow=True).content.decode()
    token = re.search(r'<code id="partner-token-\d+">([^<]+)</code><button type="button" class="copy-button"', page)
    assert token
    [live] = Partner.objects.get(pk=partner.pk).inbound_tokens.filter(retired_at=None)
    assert live.kind == TokenKind.ROTATED and token[1].endswith(live.last4)
    assert f"••••{live.last4} (Rotated by staff)" in page
    again = admin_client.get(reverse("admin:connections_capacityprovider_change", args=[partner.id])).content.decode()
    assert token[1] not in again


def test_add_forms_default_the_owner_to_the_signed_in_user(admin_client, admin_user):
    adds = ["connections_capacityprovider_add", "connections_capacityoptimizer_add", "groups_capacitygroup_add"]
    for name in [*adds, "roaming_roamingpartner_add"]:
        form = admin_client.get(reverse(f"admin:{name}")).context["adminform"].form
        assert form.initial["owner"] == admin_user.pk


def test_history_names_the_system_and_its_reason(admin_client):
    partner = CapacityProviderFactory(connection_state=ConnectionState.ONLINE)
    partner_transition(partner=partner, to=ConnectionState.OFFLINE, reason="no heartbeat by 2030-01-01T00:00:00Z")
    page = admin_client.get(reverse("admin:connections_capacityprovider_history", args=[partner.id])).content.decode()
    assert '<span class="badge badge-info">system</span>: no heartbeat by 2030-01-01T00:00:00Z' in page
    assert ">None<" not in page.replace(" ", "")


def test_message_page_formats_the_body_links_and_hides_next_attempt_when_final(admin_client):
    group = CapacityGroupFactory()
    body = {"group_id": group.identifier, "note": "<script>alert(1)</script>"}
    dead = MessageFactory(
        partner=group.capacity_provider,
        group=group,
        direction="out",
        status=MessageStatus.DEAD,
        body=body,
        next_attempt_at=timezone.now() + timedelta(minutes=1),
    )
    page = admin_client.get(reverse("admin:connections_message_change", args=[dead.id])).content.decode()
    shown = re.search(r'<pre class="json">(.*?)</pre>', page, re.S)[1]
    assert "<script>" not in shown and json.loads(unescape(shown)) == body and "\n  " in unescape(shown)
    assert reverse("admin:connections_capacityprovider_change", args=[group.capacity_provider_id]) in page
    assert reverse("admin:groups_capacitygroup_change", args=[group.id]) in page
    assert "Next attempt at" not in page

    pending = MessageFactory(partner=group.capacity_provider, direction="out", status=MessageStatus.PENDING)
    page = admin_client.get(reverse("admin:connections_message_change", args=[pending.id])).content.decode()
    assert "Next attempt at" in page


def test_message_list_shows_status_as_a_badge(admin_client):
    MessageFactory(direction="out", status=MessageStatus.DEAD)
    page = admin_client.get(reverse("admin:connections_message_changelist")).content.decode()
    assert '<span class="badge badge-bad">dead</span>' in page


def test_message_page_shows_every_attempt_newest_first(admin_client, api_client, user):
    provider = CapacityProviderFactory(owner=user)
    message = MessageFactory(partner=provider, direction="out", status=MessageStatus.SENT, attempts=2)
    at = timezone.now()
    message.delivery_attempts.create(
        number=1, attempted_at=at, outcome="retry", http_status=503, duration_ms=41, error="HTTP 503: <busy>"
    )
    message.delivery_attempts.create(number=2, attempted_at=at, outcome="sent", http_status=204, duration_ms=7)

    page = admin_client.get(reverse("admin:connections_message_change", args=[message.id])).content.decode()
    log = page.split('class="attempt-log"')[1].split("</table>")[0]
    rows = re.findall(r"<tr><td>(\d+)</td><td>[^<]+</td><td>([^<]+)</td><td>(\d+)</td><td>([^<]+)</td>", log)
    assert rows == [("2", "sent", "204", "7 ms"), ("1", "will retry", "503", "41 ms")]
    assert "HTTP 503: &lt;busy&gt;" in log

    shown = api_client.get(f"/solaruser/api/v1/sec/user/oscp/messages/{message.id}").json()["data"]
    assert [(a["number"], a["outcome"], a["httpStatus"], a["error"]) for a in shown["deliveryAttempts"]] == [
        (1, "retry", 503, "HTTP 503: <busy>"),
        (2, "sent", 204, ""),
    ]
