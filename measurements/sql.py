"""What lets one SQL text run on PostgreSQL and on SQLite (3.38+: window functions, ``->>``).

The aggregation queries take their input as a ``VALUES`` list in a ``WITH`` clause, read JSON
properties with ``->>`` and cast with ``CAST(… AS DOUBLE PRECISION)``; both databases run them
as written. Only the values passed differ: times in the form the backend stores them, and JSON
keys (SQLite reads ``->> 'a.b'`` as a path, so a key is quoted as ``$."a.b"``).
"""

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from django.db import connection

# SQLite refuses a statement with more parameters than this (SQLITE_MAX_VARIABLE_NUMBER).
SQLITE_MAX_PARAMS = 32_000


def values_list(rows: Sequence[Sequence]) -> tuple[str, list]:
    """``(%s, %s), (%s, %s)…`` for ``rows`` and their parameters, flattened."""
    row = "(" + ", ".join(["%s"] * len(rows[0])) + ")"
    return ", ".join([row] * len(rows)), [value for values in rows for value in values]


def chunks(rows: Sequence, width: int, reserved: int = 16) -> Iterator[Sequence]:
    """``rows`` in slices small enough for one statement (all at once on PostgreSQL)."""
    if connection.vendor != "sqlite":
        yield rows
        return
    size = max(1, (SQLITE_MAX_PARAMS - reserved) // width)
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def db_time(value: datetime):
    """A time as a query parameter compared with stored times."""
    return connection.ops.adapt_datetimefield_value(value)


def py_time(value) -> datetime | None:
    """A time read back from a query (SQLite returns text)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def json_key(name: str) -> str:
    """The right operand of ``->>`` that reads top-level property ``name``."""
    if connection.vendor == "sqlite":
        return '$."' + name.replace('"', "") + '"'
    return name


def epoch_ms(column: str) -> str:
    """SQL for the whole milliseconds since 1970 of time ``column`` (the one expression the two
    databases spell differently)."""
    if connection.vendor == "sqlite":
        return f"CAST(round((julianday({column}) - 2440587.5) * 86400000.0) AS INTEGER)"
    return f"CAST(floor(extract(epoch FROM {column}) * 1000) AS BIGINT)"
