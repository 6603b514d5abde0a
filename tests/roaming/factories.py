import factory

from roaming.choices import CredentialsTokenKind, RoamingState
from roaming.models import RoamingPartner
from roaming.services import credentials_token_issue
from tests.connections.factories import UserFactory


class RoamingPartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RoamingPartner

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"eMSP {n}")


def registered_partner(owner=None, *, base="https://emsp.example.com/ocpi", **fields):
    """A registered eMSP with its 2.2.1 endpoints; returns (partner, token C it calls us with)."""
    partner = RoamingPartnerFactory(
        **({"owner": owner} if owner else {}),
        versions_url=f"{base}/versions",
        version="2.2.1",
        endpoints=[
            {"identifier": "credentials", "role": "RECEIVER", "url": f"{base}/2.2.1/credentials"},
            {"identifier": "locations", "role": "RECEIVER", "url": f"{base}/2.2.1/locations"},
            {"identifier": "tariffs", "role": "RECEIVER", "url": f"{base}/2.2.1/tariffs"},
            {"identifier": "tokens", "role": "SENDER", "url": f"{base}/2.2.1/tokens"},
        ],
        partner_token="their-token-b",
        state=RoamingState.REGISTERED,
        **fields,
    )
    partner.roles.create(role="EMSP", country_code="DE", party_id="EMS", business_details={"name": "eMSP"})
    token = credentials_token_issue(partner=partner, kind=CredentialsTokenKind.C)
    return partner, token
