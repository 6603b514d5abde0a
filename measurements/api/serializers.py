"""The SolarNetwork datum shape at the edge, and the report (re)send request.

Readings arrive ten thousand at a time, so they are checked by a plain function rather than a
DRF serializer per item (about twenty times faster); errors still name index and field."""

import math
from datetime import datetime

import orjson
from rest_framework import exceptions, serializers
from rest_framework.parsers import BaseParser

from groups.choices import Audience
from oscp_platform.api import TIMESTAMP_HELP, timestamp_parse
from oscp_platform.parsing import utc

MAX_READINGS_PER_REQUEST = 10_000
MAX_ERRORS_REPORTED = 20
BIGINT_MAX = 2**63 - 1
SOURCE_ID_MAX_LENGTH = 64
PROPERTY_NAME_MAX_LENGTH = 64


class DatumJSONParser(BaseParser):
    """JSON read with orjson, about three times faster than the standard library on a full request.
    It refuses NaN and Infinity, numbers too large for a double, invalid UTF-8, lone surrogates and
    nesting deeper than 1,024 levels; ``datum_parse`` refuses null characters in what it stores
    and ignores everything else."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return orjson.loads(stream.read())
        except orjson.JSONDecodeError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None


def _text_problem(text: str, limit: int) -> str | None:
    if not text or len(text) > limit:
        return f"Expected a non-empty string of at most {limit} characters."
    if "\x00" in text:
        return "Null characters (\\u0000) are not allowed."
    return None


def _properties(value, field: str, problems: dict) -> dict:
    if value is None:
        return {}
    if type(value) is not dict:
        problems[field] = ["Expected an object of property name to number."]
        return {}
    for name, number in value.items():
        if not 0 < len(name) <= PROPERTY_NAME_MAX_LENGTH or "\x00" in name:
            problems[field] = [f"Property names: {_text_problem(name, PROPERTY_NAME_MAX_LENGTH)}"]
            return {}
        kind = type(number)
        if kind is not int and not (kind is float and math.isfinite(number)):
            problems[f"{field}.{name}"] = ["Expected a finite number."]
    return value


def _time_parse(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text)  # fast path: "2026-11-21 10:00:00Z", RFC 3339
    except ValueError:
        return timestamp_parse(text)
    return utc(value) if value.tzinfo is not None else None


def _reading_parse(item, times: dict) -> tuple[dict | None, dict]:
    if type(item) is not dict:
        return None, {"": ["Expected a datum object."]}
    problems: dict = {}
    node_id = item.get("nodeId")
    if type(node_id) is not int or not 0 <= node_id <= BIGINT_MAX:
        problems["nodeId"] = ["Expected a non-negative integer."]
    source_id = item.get("sourceId")
    if type(source_id) is not str or not source_id.strip():
        problems["sourceId"] = [f"Expected a non-empty string of at most {SOURCE_ID_MAX_LENGTH} characters."]
    elif problem := _text_problem(source_id, SOURCE_ID_MAX_LENGTH):
        problems["sourceId"] = [problem]
    created = item.get("created")
    try:
        ts = times[created]  # a request holds many readings of the same minute
    except (KeyError, TypeError):
        ts = _time_parse(created) if type(created) is str else None
        if ts is not None:
            times[created] = ts
    if ts is None:
        problems["created"] = ["Expected a timestamp with a zone, e.g. 2026-11-21 10:00:00Z or RFC 3339."]
    instantaneous = _properties(item.get("i"), "i", problems)
    accumulating = _properties(item.get("a"), "a", problems)
    if not problems and not instantaneous and not accumulating:
        problems["i"] = ["A reading needs at least one value in i or a."]
    if problems:
        return None, problems
    return {
        "node_id": node_id,
        "source_id": source_id,
        "ts": ts,
        "instantaneous": instantaneous,
        "accumulating": accumulating,
    }, {}


def datum_parse(data) -> list[dict]:
    """Validate a posted datum array; return plain reading dicts or raise naming ``[i].field``."""
    if not isinstance(data, list):
        raise serializers.ValidationError({"": ["Expected a JSON array of datum objects."]})
    if len(data) > MAX_READINGS_PER_REQUEST:
        raise serializers.ValidationError(
            {"": [f"At most {MAX_READINGS_PER_REQUEST} readings per request, got {len(data)}."]}
        )
    readings, errors, times = [], {}, {}
    for index, item in enumerate(data):
        reading, problems = _reading_parse(item, times)
        if problems:
            errors[f"[{index}]"] = problems
            if len(errors) >= MAX_ERRORS_REPORTED:
                break
        elif not errors:
            readings.append(reading)
    if errors:
        raise serializers.ValidationError(errors)
    return readings


class ReportSendSerializer(serializers.Serializer):
    audience = serializers.ChoiceField(choices=Audience.choices)
    periodStart = serializers.CharField(help_text=TIMESTAMP_HELP)  # noqa: N815 - SolarUser wire name

    def validate_periodStart(self, value):  # noqa: N802
        parsed = timestamp_parse(value)
        if parsed is None:
            raise serializers.ValidationError("Expected a UTC timestamp like 2022-09-08 22:54:31Z.")
        return parsed
