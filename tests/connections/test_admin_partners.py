"""Admin for Capacity Providers and Optimizers: pages, write-only secrets, tokens shown once."""

import json
import re

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from connections.choices import PartnerRole
from connections.models import Partner
from connections.selectors import partner_for_token
from connections.services import inbound_token_issue
from tests.connections.factories import CapacityOptimizerFactory, CapacityProviderFactory
from tests.groups.factories import CapacityGroupFactory

pytestmark = pytest.mark.django_db

# The token shown once, with its copy button.
TOKEN_IN_MESSAGE = re.compile(
    r'Token for .+ (?:created|rotated[^:]*): <span class="copy-secret"><code id="partner-token-\d+">([^<]+)</code>'
    r'<button type="button" class="copy-button"'
)


@pytest.fixture
def staff(admin_client):
    return admin_client


def _form(owner, **changes):
    data = {
        "owner": owner.id,
        "name": "Lines Co.",
        "base_url": "https://oscp.example.com/oscp/cp/2.0",
        "oscp_version": "2.0",
        "enabled": "on",
        "registration_status": "Pending",
        "service_props": json.dumps({"oauth-client-id": "client-123"}),
        "new_oauth_client_secret": "",
        "new_partner_token": "",
        "new_static_headers": "",
        "path_overrides": "{}",
        "request_id_header_policy": "ours",
        "measurement_message": "group",
        "combined_asset_id": "",
        "forecast_cadence_minutes": "",
        "required_heartbeat_seconds": "",
        "required_measurement_styles": "[]",
        # The connection profile as the add page shows it (the oscp-2.0 preset).
        "profile": "oscp-2.0",
        "registration_mode": "standard",
        "handshake_initiator": "either",
        "time_format": "rfc3339",
        "instantaneous_units": "[]",
        "energy_units": "[]",
        "send_energy_type": "on",
        "send_initial_measure_time": "on",
        "group_identifier_pattern": "",
        "forecast_horizon_hours": "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def _tokens_in(response) -> list[str]:
    return [m.group(1) for msg in get_messages(response.wsgi_request) if (m := TOKEN_IN_MESSAGE.search(str(msg)))]


def test_changelists_render_within_budget(staff, admin_user, django_assert_max_num_queries):
    for n in range(15):
        # A name no sequence number, URL or owner's username contains: the search finds it alone.
        provider = CapacityProviderFactory(name=f"Grid operator {'ABCDEFGHIJKLMNO'[n]}-west")
        CapacityGroupFactory.create_batch(2, capacity_provider=provider)
    CapacityOptimizerFactory.create_batch(5)

    with django_assert_max_num_queries(12):
        response = staff.get(reverse("admin:connections_capacityprovider_changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count == 15
    assert [row.groups_total for row in response.context["cl"].result_list] == [2] * 15

    with django_assert_max_num_queries(12):
        response = staff.get(reverse("admin:connections_capacityoptimizer_changelist"))
    assert response.context["cl"].result_count == 5

    filtered = staff.get(reverse("admin:connections_capacityprovider_changelist"), {"enabled__exact": "0"})
    assert filtered.context["cl"].result_count == 0
    searched = staff.get(reverse("admin:connections_capacityprovider_changelist"), {"q": provider.name})
    assert searched.context["cl"].result_count == 1


def test_change_page_masks_secrets(staff, django_assert_max_num_queries):
    partner = CapacityProviderFactory(
        oauth_client_secret="Secret.client.9876",
        partner_token="partner-token-5555",
        static_headers=json.dumps({"apikey": "header-secret-4321"}),
    )
    inbound = inbound_token_issue(partner=partner)

    with django_assert_max_num_queries(15):
        response = staff.get(reverse("admin:connections_capacityprovider_change", args=[partner.id]))

    html = response.content.decode()
    assert response.status_code == 200
    for secret in ("Secret.client.9876", "partner-token-5555", "header-secret-4321", inbound):
        assert secret not in html
    assert "••••9876" in html and "••••5555" in html and "apikey: ••••4321" in html
    assert f"••••{inbound[-4:]}" in html


def test_add_and_history_pages_render(staff, django_assert_max_num_queries):
    partner = CapacityOptimizerFactory()
    with django_assert_max_num_queries(12):
        assert staff.get(reverse("admin:connections_capacityoptimizer_add")).status_code == 200
    with django_assert_max_num_queries(12):
        response = staff.get(reverse("admin:connections_capacityoptimizer_history", args=[partner.id]))
    assert response.status_code == 200


def test_add_issues_a_token_shown_once(staff, admin_user, user):
    response = staff.post(
        reverse("admin:connections_capacityprovider_add"),
        _form(user, new_oauth_client_secret="Secret.123", new_static_headers='{"fp-id": "fp-1"}'),
    )

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    partner = Partner.objects.get()
    assert partner.role == PartnerRole.CAPACITY_PROVIDER and partner.owner == user
    assert partner.oauth_client_secret == "Secret.123"
    assert json.loads(partner.static_headers) == {"fp-id": "fp-1"}
    [token] = _tokens_in(response)
    assert partner_for_token(token=token) == partner
    assert partner.flexibility_provider_id is not None
    # Shown on the page after the redirect, then never again.
    change_url = reverse("admin:connections_capacityprovider_change", args=[partner.id])
    assert token in staff.get(change_url).content.decode()
    assert token not in staff.get(change_url).content.decode()
    assert {r.history_user_id for r in partner.history.all()} == {admin_user.id}


def test_blank_secret_keeps_new_secret_replaces_clear_removes(staff, admin_user):
    partner = CapacityProviderFactory(oauth_client_secret="Old.secret.1", partner_token="old-partner-tok")
    url = reverse("admin:connections_capacityprovider_change", args=[partner.id])

    assert staff.post(url, _form(partner.owner, name="Renamed")).status_code == 302
    partner.refresh_from_db()
    assert partner.name == "Renamed"
    assert partner.oauth_client_secret == "Old.secret.1" and partner.partner_token == "old-partner-tok"

    staff.post(url, _form(partner.owner, new_oauth_client_secret="New.secret.2"))
    partner.refresh_from_db()
    assert partner.oauth_client_secret == "New.secret.2" and partner.partner_token == "old-partner-tok"

    staff.post(url, _form(partner.owner, clear_oauth_client_secret="on", clear_partner_token="on"))
    partner.refresh_from_db()
    assert partner.oauth_client_secret == "" and partner.partner_token == ""

    rows = partner.history.filter(history_type="~")
    assert rows.count() == 3 and {r.history_user_id for r in rows} == {admin_user.id}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"base_url": "ftp://example.com/oscp"}, "base_url"),
        ({"service_props": '{"oauth-client-secret": "x"}'}, "service_props"),
        ({"new_static_headers": "not json"}, "new_static_headers"),
        ({"new_static_headers": '{"bad name": "x"}'}, "new_static_headers"),
        ({"path_overrides": '{"hartbeat": "hb"}'}, "path_overrides"),
    ],
)
def test_bad_admin_input_is_refused(staff, user, changes, field):
    response = staff.post(reverse("admin:connections_capacityprovider_add"), _form(user, **changes))
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not Partner.objects.exists()


def test_rotate_token_action_shows_the_new_token_once(staff):
    partner = CapacityProviderFactory()
    old = inbound_token_issue(partner=partner)

    response = staff.post(
        reverse("admin:connections_capacityprovider_changelist"),
        {"action": "rotate_token", "_selected_action": [partner.id]},
    )

    assert response.status_code == 302
    [new] = _tokens_in(response)
    assert new != old
    assert partner_for_token(token=old) is None
    assert partner_for_token(token=new) == partner


def test_delete_through_admin_records_the_user(staff, admin_user):
    partner = CapacityOptimizerFactory()
    response = staff.post(reverse("admin:connections_capacityoptimizer_delete", args=[partner.id]), {"post": "yes"})
    assert response.status_code == 302
    assert not Partner.objects.exists()
    deleted = Partner.history.get(id=partner.id, history_type="-")
    assert deleted.history_user_id == admin_user.id


def test_partner_in_use_cannot_be_deleted_in_admin(staff):
    group = CapacityGroupFactory()
    url = reverse("admin:connections_capacityprovider_delete", args=[group.capacity_provider_id])
    response = staff.post(url, {"post": "yes"})
    assert response.status_code in (200, 403)
    assert Partner.objects.filter(pk=group.capacity_provider_id).exists()


def test_history_rejects_revert(staff):
    partner = CapacityProviderFactory(oauth_client_secret="Keep.me.123")
    partner.name = "Changed"
    partner.save()
    version = partner.history.last()
    url = reverse("admin:connections_capacityprovider_simple_history", args=[partner.id, version.history_id])
    assert staff.get(url).status_code == 200
    assert staff.post(url, _form(partner.owner)).status_code == 403
    partner.refresh_from_db()
    assert partner.name == "Changed" and partner.oauth_client_secret == "Keep.me.123"
