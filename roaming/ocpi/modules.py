"""Our OCPI 2.2.1 modules, declared once: identifier, interface role, and the URL name of the
endpoint (``roaming/ocpi/urls.py``). The version details and the push rules read this table."""

from dataclasses import dataclass

from django.conf import settings

from ..choices import InterfaceRole, ModuleId

VERSION = "2.2.1"


@dataclass(frozen=True)
class Module:
    identifier: str
    role: str
    path: str


MODULES = (
    Module(ModuleId.CREDENTIALS, InterfaceRole.SENDER, "credentials"),
    Module(ModuleId.CREDENTIALS, InterfaceRole.RECEIVER, "credentials"),
    Module(ModuleId.LOCATIONS, InterfaceRole.SENDER, "locations"),
    Module(ModuleId.TARIFFS, InterfaceRole.SENDER, "tariffs"),
    Module(ModuleId.TOKENS, InterfaceRole.RECEIVER, "tokens"),
    Module(ModuleId.HUBCLIENTINFO, InterfaceRole.RECEIVER, "hubclientinfo"),
)


def base_url() -> str:
    return settings.OCPI_PUBLIC_BASE_URL.rstrip("/")


def versions_url() -> str:
    return f"{base_url()}/versions"


def details_url() -> str:
    return f"{base_url()}/{VERSION}"


def endpoints() -> list[dict]:
    base = details_url()
    return [{"identifier": m.identifier.value, "role": m.role.value, "url": f"{base}/{m.path}"} for m in MODULES]


def our_party() -> tuple[str, str]:
    return settings.OCPI_COUNTRY_CODE, settings.OCPI_PARTY_ID


def our_roles() -> list[dict]:
    country_code, party_id = our_party()
    return [
        {
            "role": "CPO",
            "business_details": {"name": settings.OCPI_BUSINESS_NAME},
            "party_id": party_id,
            "country_code": country_code,
        }
    ]


def our_credentials(token: str) -> dict:
    return {"token": token, "url": versions_url(), "roles": our_roles()}
