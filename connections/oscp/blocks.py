"""Forecasted blocks at the edge, checked by plain functions.

A Capacity Provider re-sends every group's 24-hour forecast (96 blocks) every quarter hour, so the
blocks are read without a DRF serializer per block and field (about fifteen times faster). The
rules and the messages are those of ``ForecastedBlockSerializer``, which describes the shape in the
API schema and whose fields call the same functions; errors name index and field the same way
(``forecasted_blocks[3].end_time: Must be after start_time.``).

Leniency is recorded in ``deviations`` (the message log shows it): zone-less times when the
partner's profile says to read them as UTC, negative capacities."""

import math
import re
from datetime import UTC, datetime
from decimal import Decimal

from rest_framework import serializers

from connections.choices import BlockUnit, PhaseIndicator
from oscp_platform.parsing import utc

RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?(?P<zone>[Zz]|[+-]\d{2}:?\d{2})?$",
)
CAPACITY_STEP = Decimal("0.000001")
CAPACITY_LIMIT = 10**12
MAX_NUMBER_TEXT = serializers.FloatField.MAX_STRING_LENGTH
PHASES = tuple(PhaseIndicator.values)
UNITS = tuple(BlockUnit.values)

NUMBER_INVALID = "Expected a number."
CHOICE_INVALID = '"{input}" is not valid; expected one of {values}.'
TIME_INVALID = 'Expected an RFC 3339 date-time like "2024-01-01T10:00:00Z", got "{input}".'
TIME_NAIVE = '"{input}" has no UTC offset; RFC 3339 needs "Z" or an offset like "+08:00".'
CAPACITY_TOO_LARGE = f"Must be smaller than {CAPACITY_LIMIT} in magnitude."
END_BEFORE_START = "Must be after start_time."
NAIVE_AS_UTC = "zone-less times read as UTC"
NEGATIVE_CAPACITY = "negative capacity accepted"


class Invalid(ValueError):
    """One value refused; the text is the message shown after the field's name."""


def deviation_note(deviations: list[str] | None, text: str) -> None:
    if deviations is not None and text not in deviations:
        deviations.append(text)


def number_parse(value) -> float:
    """A JSON number (or numeric text, as DRF's FloatField reads it): booleans, NaN and
    infinities are refused."""
    if isinstance(value, bool):
        raise Invalid(NUMBER_INVALID)
    if isinstance(value, str) and len(value) > MAX_NUMBER_TEXT:
        raise Invalid(str(serializers.FloatField.default_error_messages["max_string_length"]))
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise Invalid(NUMBER_INVALID) from None
    except OverflowError:
        raise Invalid(str(serializers.FloatField.default_error_messages["overflow"])) from None
    if not math.isfinite(number):
        raise Invalid(NUMBER_INVALID)
    return number


def capacity_parse(value, *, deviations: list[str] | None = None) -> Decimal:
    """A block's capacity, to six decimal places."""
    number = number_parse(value)
    return capacity_check(number, deviations=deviations)


def capacity_check(number: float, *, deviations: list[str] | None = None) -> Decimal:
    if abs(number) >= CAPACITY_LIMIT:
        raise Invalid(CAPACITY_TOO_LARGE)
    if number < 0:
        deviation_note(deviations, NEGATIVE_CAPACITY)
    return Decimal(repr(number)).quantize(CAPACITY_STEP)


def choice_check(value, values: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in values:
        raise Invalid(CHOICE_INVALID.format(input=value, values=", ".join(values)))
    return value


def time_parse(value, *, partner=None, deviations: list[str] | None = None) -> datetime:
    """RFC 3339 with an explicit offset (``Z`` or ``+08:00``), returned in UTC. A zone-less time
    is refused unless ``partner``'s profile says to read it as UTC."""
    match = RFC3339.match(value) if isinstance(value, str) else None
    if match is None:
        raise Invalid(TIME_INVALID.format(input=value))
    text = value.upper()
    if match.group("zone") in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(TIME_INVALID.format(input=value)) from None
    if parsed.tzinfo is None:
        if not (partner and partner.naive_times_as_utc):
            raise Invalid(TIME_NAIVE.format(input=value))
        deviation_note(deviations, NAIVE_AS_UTC)
        parsed = parsed.replace(tzinfo=UTC)
    result = utc(parsed)
    if result is None:  # e.g. 0001-01-01T00:00:00+14:00 is before year 1 in UTC
        raise Invalid(TIME_INVALID.format(input=value))
    return result


_MISSING = object()


def _required(item: dict, name: str):
    value = item.get(name, _MISSING)
    if value is _MISSING:
        raise Invalid(str(serializers.Field.default_error_messages["required"]))
    if value is None:
        raise Invalid(str(serializers.Field.default_error_messages["null"]))
    return value


def block_parse(item, *, partner=None, deviations: list[str] | None = None, times: dict | None = None) -> dict:
    """One block as plain values (``capacity`` Decimal, ``phase``, ``unit``, ``start_time`` and
    ``end_time`` in UTC); ``serializers.ValidationError`` naming each bad field. ``times`` caches
    parsed times and capacities across the blocks of one message (a block starts where the
    previous one ended; a forecast repeats a handful of capacities)."""
    if item is None:
        raise serializers.ValidationError([str(serializers.Field.default_error_messages["null"])])
    if not isinstance(item, dict):
        message = str(serializers.Serializer.default_error_messages["invalid"]).format(datatype=type(item).__name__)
        raise serializers.ValidationError({"non_field_errors": [message]})
    times = {} if times is None else times
    block, problems = {}, {}
    for name in ("capacity", "phase", "unit", "start_time", "end_time"):
        try:
            value = _required(item, name)
            if name == "capacity":
                # Keyed by type too: True == 1, and a boolean is refused where 1 is not.
                key = (type(value), value) if isinstance(value, (int, float, str)) else None
                parsed = times.get(key)
                if parsed is None:
                    parsed = capacity_parse(value, deviations=deviations)
                    if key is not None:
                        times[key] = parsed
                block[name] = parsed
            elif name == "phase":
                block[name] = choice_check(value, PHASES)
            elif name == "unit":
                block[name] = choice_check(value, UNITS)
            else:
                parsed = times.get(value) if isinstance(value, str) else None
                if parsed is None:
                    parsed = time_parse(value, partner=partner, deviations=deviations)
                    times[value] = parsed
                block[name] = parsed
        except Invalid as exc:
            problems[name] = [str(exc)]
    if not problems and block["end_time"] <= block["start_time"]:
        problems["end_time"] = [END_BEFORE_START]
    if problems:
        raise serializers.ValidationError(problems)
    return block


def blocks_parse(data, *, partner=None, deviations: list[str] | None = None, allow_empty: bool = False) -> list[dict]:
    """A ``forecasted_blocks`` array as plain block dicts (see ``block_parse``), or
    ``serializers.ValidationError`` with the problems of every bad block by index."""
    if not isinstance(data, list):
        message = str(serializers.ListSerializer.default_error_messages["not_a_list"])
        raise serializers.ValidationError([message.format(input_type=type(data).__name__)])
    if not data and not allow_empty:
        raise serializers.ValidationError([str(serializers.ListSerializer.default_error_messages["empty"])])
    blocks, errors, times = [], {}, {}
    for index, item in enumerate(data):
        try:
            blocks.append(block_parse(item, partner=partner, deviations=deviations, times=times))
        except serializers.ValidationError as exc:
            errors[index] = exc.detail
    if errors:
        raise serializers.ValidationError(errors)
    return blocks
