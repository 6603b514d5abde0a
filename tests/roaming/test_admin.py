import pytest
from django.urls import reverse

from roaming.models import CredentialsToken

from .factories import RoamingPartnerFactory, registered_partner

pytestmark = pytest.mark.django_db


def test_admin_lists_partners_and_issues_token_a_once(admin_client):
    partner, _ = registered_partner()
    changelist = reverse("admin:roaming_roamingpartner_changelist")
    page = admin_client.get(changelist)
    assert page.status_code == 200 and b"DE*EMS EMSP" in page.content
    change = admin_client.get(reverse("admin:roaming_roamingpartner_change", args=[partner.id]))
    assert change.status_code == 200 and b"their-token-b" not in change.content

    fresh = RoamingPartnerFactory()
    response = admin_client.post(changelist, {"action": "issue_token_a", "_selected_action": [fresh.id]}, follow=True)
    assert b"token A" in response.content
    assert CredentialsToken.objects.filter(partner=fresh, kind="A").count() == 1


def test_admin_escapes_the_endpoints_a_partner_sent(admin_client):
    partner, _ = registered_partner()
    partner.endpoints = [
        {"identifier": "locations", "role": "RECEIVER", "url": "https://emsp.example/<script>alert(1)</script>"}
    ]
    partner.save()
    page = admin_client.get(reverse("admin:roaming_roamingpartner_change", args=[partner.id])).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "locations RECEIVER: https://emsp.example/&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_admin_register_without_url_reports_the_problem(admin_client):
    partner = RoamingPartnerFactory()
    changelist = reverse("admin:roaming_roamingpartner_changelist")
    response = admin_client.post(
        changelist, {"action": "register_with_partner", "_selected_action": [partner.id]}, follow=True
    )
    assert b"versions URL and token A are needed" in response.content


def test_admin_takes_an_address_typed_without_a_scheme_as_https(admin_client):
    partner = RoamingPartnerFactory(versions_url="")
    change = reverse("admin:roaming_roamingpartner_change", args=[partner.id])
    form = {"owner": partner.owner_id, "name": partner.name, "versions_url": "emsp.example/ocpi/versions"}
    for inline in admin_client.get(change).context["inline_admin_formsets"]:
        management = inline.formset.management_form
        form.update({management.add_prefix(name): value for name, value in management.initial.items()})

    response = admin_client.post(change, form)

    assert response.status_code == 302
    partner.refresh_from_db()
    assert partner.versions_url == "https://emsp.example/ocpi/versions"
