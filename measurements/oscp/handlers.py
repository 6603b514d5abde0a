"""What this app does with the measurement messages an optimizer sends us: validated by the
pipeline, relayed to the group's Capacity Provider. Registered from ``MeasurementsConfig.ready()``."""

from connections.choices import MessageType
from connections.oscp.messages import handles
from connections.oscp.pipeline import Inbound, relay_to_provider


def measurements_received(inbound: Inbound, message) -> None:
    relay_to_provider(inbound)


def register() -> None:
    handles(MessageType.UPDATE_GROUP_MEASUREMENTS, receive=measurements_received)
    handles(MessageType.UPDATE_ASSET_MEASUREMENTS, receive=measurements_received)
