"""OCPI 2.2.1 wire objects, validated field by field (errors name the field; OCPI status 2001)."""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rest_framework import serializers

from ..choices import InterfaceRole, OcpiRole

COUNTRY_CODE = r"^[A-Z]{2}$"
PARTY_ID = r"^[A-Z0-9]{3}$"


class CiStringField(serializers.CharField):
    """OCPI CiString/string(n): printable ASCII, length capped."""

    def __init__(self, max_length: int, **kwargs):
        super().__init__(max_length=max_length, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not value.isascii() or not value.isprintable():
            raise serializers.ValidationError("Only printable ASCII characters are allowed.")
        return value


class ImageSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=255)
    thumbnail = serializers.URLField(max_length=255, required=False)
    category = serializers.ChoiceField(["CHARGER", "ENTRANCE", "LOCATION", "NETWORK", "OPERATOR", "OTHER", "OWNER"])
    type = CiStringField(4)
    width = serializers.IntegerField(min_value=0, max_value=99999, required=False)
    height = serializers.IntegerField(min_value=0, max_value=99999, required=False)


class BusinessDetailsSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    website = serializers.URLField(max_length=255, required=False)
    logo = ImageSerializer(required=False)


class CredentialsRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(OcpiRole.choices)
    business_details = BusinessDetailsSerializer()
    party_id = serializers.RegexField(PARTY_ID, error_messages={"invalid": "Three characters A-Z or 0-9."})
    country_code = serializers.RegexField(COUNTRY_CODE, error_messages={"invalid": "ISO 3166 alpha-2, upper case."})


class CredentialsSerializer(serializers.Serializer):
    token = CiStringField(64)
    url = serializers.URLField(max_length=255)
    roles = CredentialsRoleSerializer(many=True, allow_empty=False)


class VersionSerializer(serializers.Serializer):
    version = serializers.CharField(max_length=8)
    url = serializers.URLField(max_length=255)


class EndpointSerializer(serializers.Serializer):
    identifier = serializers.CharField(max_length=32)
    role = serializers.ChoiceField(InterfaceRole.choices)
    url = serializers.URLField(max_length=255)


class VersionDetailsSerializer(serializers.Serializer):
    version = serializers.CharField(max_length=8)
    endpoints = EndpointSerializer(many=True)


# --- Locations ----------------------------------------------------------------------------------
LATITUDE = r"^-?[0-9]{1,2}\.[0-9]{5,7}$"
LONGITUDE = r"^-?[0-9]{1,3}\.[0-9]{5,7}$"
HOUR_MINUTE = r"^([0-1][0-9]|2[0-3]):[0-5][0-9]$"
UID = r"^[\x21-\x7e]{1,36}$"


def _choice(*values: str, **kwargs) -> serializers.ChoiceField:
    return serializers.ChoiceField(list(values), **kwargs)


class GeoLocationSerializer(serializers.Serializer):
    latitude = serializers.RegexField(LATITUDE, error_messages={"invalid": "Decimal degrees with 5 to 7 decimals."})
    longitude = serializers.RegexField(LONGITUDE, error_messages={"invalid": "Decimal degrees with 5 to 7 decimals."})

    def validate(self, attrs):
        if abs(float(attrs["latitude"])) > 90:
            raise serializers.ValidationError({"latitude": "Must be between -90 and 90."})
        if abs(float(attrs["longitude"])) > 180:
            raise serializers.ValidationError({"longitude": "Must be between -180 and 180."})
        return attrs


class DisplayTextSerializer(serializers.Serializer):
    language = serializers.RegexField(r"^[a-z]{2}$")
    text = serializers.CharField(max_length=512)


class RegularHoursSerializer(serializers.Serializer):
    weekday = serializers.IntegerField(min_value=1, max_value=7)
    period_begin = serializers.RegexField(HOUR_MINUTE, error_messages={"invalid": "HH:MM, 00:00 to 23:59."})
    period_end = serializers.RegexField(r"^([0-1][0-9]|2[0-4]):[0-5][0-9]$", error_messages={"invalid": "HH:MM."})

    def validate(self, attrs):
        if attrs["period_end"] <= attrs["period_begin"]:
            raise serializers.ValidationError({"period_end": "Must be after period_begin."})
        return attrs


class ExceptionalPeriodSerializer(serializers.Serializer):
    period_begin = serializers.DateTimeField()
    period_end = serializers.DateTimeField()


class HoursSerializer(serializers.Serializer):
    twentyfourseven = serializers.BooleanField()
    regular_hours = RegularHoursSerializer(many=True, required=False)
    exceptional_openings = ExceptionalPeriodSerializer(many=True, required=False)
    exceptional_closings = ExceptionalPeriodSerializer(many=True, required=False)

    def validate(self, attrs):
        if attrs["twentyfourseven"] and attrs.get("regular_hours"):
            raise serializers.ValidationError({"regular_hours": "Not allowed when twentyfourseven is true."})
        if not attrs["twentyfourseven"] and not attrs.get("regular_hours"):
            raise serializers.ValidationError({"regular_hours": "Required when twentyfourseven is false."})
        return attrs


class ConnectorSerializer(serializers.Serializer):
    id = serializers.RegexField(UID)
    standard = _choice(
        "CHADEMO", "CHAOJI", "DOMESTIC_A", "DOMESTIC_B", "DOMESTIC_C", "DOMESTIC_D", "DOMESTIC_E", "DOMESTIC_F",
        "DOMESTIC_G", "DOMESTIC_H", "DOMESTIC_I", "DOMESTIC_J", "DOMESTIC_K", "DOMESTIC_L", "DOMESTIC_M",
        "DOMESTIC_N", "DOMESTIC_O", "GBT_AC", "GBT_DC", "IEC_60309_2_single_16", "IEC_60309_2_three_16",
        "IEC_60309_2_three_32", "IEC_60309_2_three_64", "IEC_62196_T1", "IEC_62196_T1_COMBO", "IEC_62196_T2",
        "IEC_62196_T2_COMBO", "IEC_62196_T3A", "IEC_62196_T3C", "NEMA_5_20", "NEMA_6_30", "NEMA_6_50",
        "NEMA_10_30", "NEMA_10_50", "NEMA_14_30", "NEMA_14_50", "PANTOGRAPH_BOTTOM_UP", "PANTOGRAPH_TOP_DOWN",
        "TESLA_R", "TESLA_S",
    )  # fmt: skip
    format = _choice("SOCKET", "CABLE")
    power_type = _choice("AC_1_PHASE", "AC_2_PHASE", "AC_2_PHASE_SPLIT", "AC_3_PHASE", "DC")
    max_voltage = serializers.IntegerField(min_value=0)
    max_amperage = serializers.IntegerField(min_value=0)
    max_electric_power = serializers.IntegerField(min_value=0, required=False)
    tariff_ids = serializers.ListField(child=serializers.RegexField(UID), required=False)
    terms_and_conditions = serializers.URLField(required=False)
    last_updated = serializers.DateTimeField(required=False)


class EvseSerializer(serializers.Serializer):
    uid = serializers.RegexField(UID)
    evse_id = serializers.RegexField(
        r"^[A-Z]{2}\*?[A-Z0-9]{3}\*?E[A-Z0-9\*]{1,30}$",
        required=False,
        error_messages={"invalid": "eMI3 EVSE ID, e.g. NL*OSP*E12345."},
    )
    status = _choice(
        "AVAILABLE", "BLOCKED", "CHARGING", "INOPERATIVE", "OUTOFORDER", "PLANNED", "REMOVED", "RESERVED", "UNKNOWN"
    )
    capabilities = serializers.ListField(
        child=_choice(
            "CHARGING_PROFILE_CAPABLE",
            "CHARGING_PREFERENCES_CAPABLE",
            "CHIP_CARD_SUPPORT",
            "CONTACTLESS_CARD_SUPPORT",
            "CREDIT_CARD_PAYABLE",
            "DEBIT_CARD_PAYABLE",
            "PED_TERMINAL",
            "REMOTE_START_STOP_CAPABLE",
            "RESERVABLE",
            "RFID_READER",
            "START_SESSION_CONNECTOR_REQUIRED",
            "TOKEN_GROUP_CAPABLE",
            "UNLOCK_CAPABLE",
        ),  # fmt: skip
        required=False,
    )
    floor_level = serializers.CharField(max_length=4, required=False)
    coordinates = GeoLocationSerializer(required=False)
    physical_reference = serializers.CharField(max_length=16, required=False)
    parking_restrictions = serializers.ListField(
        child=_choice("EV_ONLY", "PLUGGED", "DISABLED", "CUSTOMERS", "MOTORCYCLES"), required=False
    )
    connectors = ConnectorSerializer(many=True, allow_empty=False)
    last_updated = serializers.DateTimeField(required=False)

    def validate_connectors(self, value):
        ids = [c["id"] for c in value]
        if len(ids) != len(set(ids)):
            raise serializers.ValidationError("Connector ids must be unique within the EVSE.")
        return value


class LocationSerializer(serializers.Serializer):
    country_code = serializers.RegexField(COUNTRY_CODE, error_messages={"invalid": "ISO 3166 alpha-2, upper case."})
    party_id = serializers.RegexField(PARTY_ID, error_messages={"invalid": "Three characters A-Z or 0-9."})
    id = serializers.RegexField(UID)
    publish = serializers.BooleanField()
    name = serializers.CharField(max_length=255, required=False)
    address = serializers.CharField(max_length=45)
    city = serializers.CharField(max_length=45)
    postal_code = serializers.CharField(max_length=10, required=False)
    state = serializers.CharField(max_length=20, required=False)
    country = serializers.RegexField(r"^[A-Z]{3}$", error_messages={"invalid": "ISO 3166 alpha-3, upper case."})
    coordinates = GeoLocationSerializer()
    parking_type = _choice(
        "ALONG_MOTORWAY",
        "PARKING_GARAGE",
        "PARKING_LOT",
        "ON_DRIVEWAY",
        "ON_STREET",
        "UNDERGROUND_GARAGE",
        required=False,
    )
    evses = EvseSerializer(many=True, required=False)
    directions = DisplayTextSerializer(many=True, required=False)
    operator = BusinessDetailsSerializer(required=False)
    suboperator = BusinessDetailsSerializer(required=False)
    owner = BusinessDetailsSerializer(required=False)
    facilities = serializers.ListField(
        child=_choice(
            "HOTEL",
            "RESTAURANT",
            "CAFE",
            "MALL",
            "SUPERMARKET",
            "SPORT",
            "RECREATION_AREA",
            "NATURE",
            "MUSEUM",
            "BIKE_SHARING",
            "BUS_STOP",
            "TAXI_STAND",
            "TRAM_STOP",
            "METRO_STATION",
            "TRAIN_STATION",
            "AIRPORT",
            "PARKING_LOT",
            "CARPOOL_PARKING",
            "FUEL_STATION",
            "WIFI",
        ),  # fmt: skip
        required=False,
    )
    time_zone = serializers.CharField(max_length=255)
    opening_times = HoursSerializer(required=False)
    charging_when_closed = serializers.BooleanField(required=False)
    images = ImageSerializer(many=True, required=False)
    energy_mix = serializers.DictField(required=False)
    last_updated = serializers.DateTimeField(required=False)

    def validate_time_zone(self, value):
        try:
            ZoneInfo(value)
        except (ValueError, ZoneInfoNotFoundError):
            raise serializers.ValidationError("An IANA time zone, e.g. Europe/Amsterdam.") from None
        return value

    def validate_evses(self, value):
        uids = [e["uid"] for e in value]
        if len(uids) != len(set(uids)):
            raise serializers.ValidationError("EVSE uids must be unique within the location.")
        return value


# --- Tariffs ------------------------------------------------------------------------------------
class PriceComponentSerializer(serializers.Serializer):
    type = _choice("ENERGY", "FLAT", "PARKING_TIME", "TIME")
    price = serializers.FloatField(min_value=0)
    vat = serializers.FloatField(min_value=0, required=False)
    step_size = serializers.IntegerField(min_value=1)


class TariffRestrictionsSerializer(serializers.Serializer):
    start_time = serializers.RegexField(HOUR_MINUTE, required=False)
    end_time = serializers.RegexField(HOUR_MINUTE, required=False)
    start_date = serializers.DateField(required=False)
    end_date = serializers.DateField(required=False)
    min_kwh = serializers.FloatField(min_value=0, required=False)
    max_kwh = serializers.FloatField(min_value=0, required=False)
    min_current = serializers.FloatField(min_value=0, required=False)
    max_current = serializers.FloatField(min_value=0, required=False)
    min_power = serializers.FloatField(min_value=0, required=False)
    max_power = serializers.FloatField(min_value=0, required=False)
    min_duration = serializers.IntegerField(min_value=0, required=False)
    max_duration = serializers.IntegerField(min_value=0, required=False)
    day_of_week = serializers.ListField(
        child=_choice("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"), required=False
    )
    reservation = _choice("RESERVATION", "RESERVATION_EXPIRES", required=False)

    def validate(self, attrs):
        for low, high in (("min_kwh", "max_kwh"), ("min_power", "max_power"), ("min_duration", "max_duration")):
            if low in attrs and high in attrs and attrs[high] < attrs[low]:
                raise serializers.ValidationError({high: f"Must not be below {low}."})
        return attrs


class TariffElementSerializer(serializers.Serializer):
    price_components = PriceComponentSerializer(many=True, allow_empty=False)
    restrictions = TariffRestrictionsSerializer(required=False)


class PriceSerializer(serializers.Serializer):
    excl_vat = serializers.FloatField(min_value=0)
    incl_vat = serializers.FloatField(min_value=0, required=False)


class TariffSerializer(serializers.Serializer):
    country_code = serializers.RegexField(COUNTRY_CODE, error_messages={"invalid": "ISO 3166 alpha-2, upper case."})
    party_id = serializers.RegexField(PARTY_ID, error_messages={"invalid": "Three characters A-Z or 0-9."})
    id = serializers.RegexField(UID)
    currency = serializers.RegexField(r"^[A-Z]{3}$", error_messages={"invalid": "ISO 4217, e.g. EUR."})
    type = _choice("AD_HOC_PAYMENT", "PROFILE_CHEAP", "PROFILE_FAST", "PROFILE_GREEN", "REGULAR", required=False)
    tariff_alt_text = DisplayTextSerializer(many=True, required=False)
    tariff_alt_url = serializers.URLField(required=False)
    min_price = PriceSerializer(required=False)
    max_price = PriceSerializer(required=False)
    elements = TariffElementSerializer(many=True, allow_empty=False)
    energy_mix = serializers.DictField(required=False)
    start_date_time = serializers.DateTimeField(required=False)
    end_date_time = serializers.DateTimeField(required=False)
    last_updated = serializers.DateTimeField(required=False)


# --- Tokens -------------------------------------------------------------------------------------
TOKEN_TYPES = ("AD_HOC_USER", "APP_USER", "OTHER", "RFID")
WHITELIST_TYPES = ("ALWAYS", "ALLOWED", "ALLOWED_OFFLINE", "NEVER")
ALLOWED_TYPES = ("ALLOWED", "BLOCKED", "EXPIRED", "NO_CREDIT", "NOT_ALLOWED")


class EnergyContractSerializer(serializers.Serializer):
    supplier_name = CiStringField(64)
    contract_id = CiStringField(64, required=False)


class TokenSerializer(serializers.Serializer):
    """An OCPI 2.2.1 Token; with ``partial=True`` the fields of a PATCH (``last_updated`` still
    required, the keys may not change)."""

    country_code = serializers.RegexField(COUNTRY_CODE, error_messages={"invalid": "ISO 3166 alpha-2, upper case."})
    party_id = serializers.RegexField(PARTY_ID, error_messages={"invalid": "Three characters A-Z or 0-9."})
    uid = serializers.RegexField(UID)
    type = _choice(*TOKEN_TYPES)
    contract_id = CiStringField(36)
    visual_number = CiStringField(64, required=False)
    issuer = CiStringField(64)
    group_id = CiStringField(36, required=False)
    valid = serializers.BooleanField()
    whitelist = _choice(*WHITELIST_TYPES)
    language = serializers.RegexField(r"^[a-z]{2}$", required=False, error_messages={"invalid": "ISO 639-1."})
    default_profile_type = _choice("CHEAP", "FAST", "GREEN", "REGULAR", required=False)
    energy_contract = EnergyContractSerializer(required=False)
    last_updated = serializers.DateTimeField()

    def to_internal_value(self, data):
        if self.partial and isinstance(data, dict) and "last_updated" not in data:
            raise serializers.ValidationError({"last_updated": "This field is required."})
        return super().to_internal_value(data)


class LocationReferencesSerializer(serializers.Serializer):
    location_id = serializers.RegexField(UID)
    evse_uids = serializers.ListField(child=serializers.RegexField(UID), required=False)


class AuthorizationInfoSerializer(serializers.Serializer):
    """The eMSP's answer to a real-time authorization."""

    allowed = _choice(*ALLOWED_TYPES)
    token = serializers.DictField()
    location = LocationReferencesSerializer(required=False)
    authorization_reference = CiStringField(36, required=False)
    info = DisplayTextSerializer(required=False)
