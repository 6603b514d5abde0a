import factory
from django.contrib.auth import get_user_model

from connections.choices import MessageDirection, MessageStatus, PartnerRole
from connections.models import Message, Partner


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "pass-1234")


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partner

    owner = factory.SubFactory(UserFactory)
    role = PartnerRole.CAPACITY_PROVIDER
    name = factory.Sequence(lambda n: f"Partner {n}")
    base_url = factory.Sequence(lambda n: f"https://partner{n}.example.com/oscp/cp/2.0")
    # The token we call the partner with (a registered partner gave us one); "" for one that never did.
    partner_token = factory.Sequence(lambda n: f"partner-{n}-token-we-present")


class CapacityProviderFactory(PartnerFactory):
    role = PartnerRole.CAPACITY_PROVIDER


class CapacityOptimizerFactory(PartnerFactory):
    role = PartnerRole.CAPACITY_OPTIMIZER
    base_url = factory.Sequence(lambda n: f"https://optimizer{n}.example.com/oscp/co/2.0")


class MessageFactory(factory.django.DjangoModelFactory):
    """A message log row: by default a heartbeat a Capacity Provider sent us, accepted."""

    class Meta:
        model = Message

    partner = factory.SubFactory(CapacityProviderFactory)
    direction = MessageDirection.INBOUND
    message_type = "heartbeat"
    request_id = factory.Sequence(lambda n: f"request-{n}")
    status = MessageStatus.ACCEPTED
