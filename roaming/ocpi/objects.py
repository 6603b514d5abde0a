"""Our objects as OCPI 2.2.1 wire objects (what the sender endpoints answer and pushes carry)."""

from ..models import Evse, Location, Tariff, Token
from .envelope import ocpi_timestamp


def evse_wire(evse: Evse) -> dict:
    return {"uid": evse.uid, "status": evse.status, **evse.data, "last_updated": ocpi_timestamp(evse.last_updated)}


def location_wire(location: Location) -> dict:
    return {
        "country_code": location.country_code,
        "party_id": location.party_id,
        "id": location.ocpi_id,
        "publish": location.publish,
        **location.data,
        "evses": [evse_wire(evse) for evse in location.evses.all()],
        "last_updated": ocpi_timestamp(location.last_updated),
    }


def tariff_wire(tariff: Tariff) -> dict:
    return {
        "country_code": tariff.country_code,
        "party_id": tariff.party_id,
        "id": tariff.ocpi_id,
        "currency": tariff.currency,
        **tariff.data,
        "last_updated": ocpi_timestamp(tariff.last_updated),
    }


def token_wire(token: Token) -> dict:
    return {
        "country_code": token.country_code,
        "party_id": token.party_id,
        "uid": token.uid,
        "type": token.type,
        "contract_id": token.contract_id,
        **token.data,
        "valid": token.valid,
        "whitelist": token.whitelist,
        "last_updated": ocpi_timestamp(token.last_updated),
    }
