"""Reading input every endpoint shares, kept free of DRF views so any module can import it:
UTC conversion that cannot overflow, and JSON that can be stored."""

import json
import math
from datetime import UTC, datetime

from rest_framework import exceptions
from rest_framework.parsers import JSONParser


def utc(value: datetime) -> datetime | None:
    """``value`` (with a zone) in UTC, or None when that is outside year 1..9999 (e.g.
    ``0001-01-01T00:00:00+14:00``)."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return None


# --- JSON every endpoint can store -----------------------------------------------------------
# Python's json module accepts what PostgreSQL's jsonb (and text columns) cannot store, or what
# later code cannot handle: NaN/Infinity (and 1e999, read as infinity), null characters, unpaired
# surrogates (lone \ud800), and nesting deep enough to exhaust the stack. These are refused
# when the body is read, naming where the problem is, so they never reach a 500.

JSON_MAX_DEPTH = 32


def _no_constant(name: str):
    raise ValueError(f"{name} is not allowed: numbers must be finite")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is too large")
    return value


def text_problem(text: str) -> str | None:
    """Why a string cannot be stored, or None."""
    if "\x00" in text:
        return "null characters (\\u0000) are not allowed"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "invalid Unicode (an unpaired surrogate such as \\ud800)"
    return None


def _storable(value, max_depth: int) -> bool:
    """True when nothing in ``value`` is a problem: the common case, checked without the paths."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not item.isascii() or "\x00" in item:
                if text_problem(item):
                    return False
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                return False
            if isinstance(item, dict):
                for key, sub in item.items():
                    if text_problem(key):
                        return False
                    if isinstance(sub, dict | list | str):
                        stack.append((sub, depth + 1))
            else:
                stack.extend((sub, depth + 1) for sub in item if isinstance(sub, dict | list | str))
    return True


def _shallow(value, max_depth: int) -> bool:
    """True when no array or object in ``value`` is nested ``max_depth`` deep."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth >= max_depth:
            return False
        subs = item.values() if isinstance(item, dict) else item
        stack.extend((sub, depth + 1) for sub in subs if isinstance(sub, dict | list))
    return True


def _plain_text(text: str | bytes) -> bool:
    """True when JSON ``text`` cannot hold a string with a problem: ASCII (a raw null character is
    not valid JSON) with no ``\\u`` escape to spell a null or a lone surrogate."""
    escape = b"\\u" if isinstance(text, bytes) else "\\u"
    return text.isascii() and escape not in text


def json_problem(value, max_depth: int = JSON_MAX_DEPTH) -> str | None:
    """The first part of a decoded JSON value that cannot be stored, as ``path: problem``."""
    if _storable(value, max_depth):
        return None
    stack = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
        elif isinstance(item, dict | list):
            problem = f"nested deeper than {max_depth} levels" if depth >= max_depth else None
            if problem is None and isinstance(item, dict):
                for key, sub in item.items():
                    sub_path = f"{path}.{key}" if path else str(key)
                    key_problem = text_problem(key)
                    if key_problem:
                        return f"{path or 'body'}: a property name has {key_problem}"
                    stack.append((sub, sub_path, depth + 1))
            elif problem is None:
                stack.extend((sub, f"{path}[{index}]", depth + 1) for index, sub in enumerate(item))
        else:
            problem = None
        if problem:
            return f"{path}: {problem}" if path else problem
    return None


def json_loads_strict(text: str | bytes):
    """``json.loads`` that refuses what cannot be stored (see above); ValueError names the place."""
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:
        raise ValueError(f"nested deeper than {JSON_MAX_DEPTH} levels") from None
    if isinstance(value, dict | list) and _plain_text(text) and _shallow(value, JSON_MAX_DEPTH):
        return value  # the common case: only the nesting needed checking
    problem = json_problem(value)
    if problem:
        raise ValueError(problem)
    return value


class StrictJSONParser(JSONParser):
    """DRF's JSON parser with ``json_loads_strict``: 400 naming the place instead of a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", "utf-8")
        try:
            return json_loads_strict(stream.read().decode(encoding))
        except (ValueError, UnicodeDecodeError) as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
