"""What lets one SQL text run on PostgreSQL and on SQLite (3.38+: window functions, ``->>``).

The set-based queries of this app take their input rows as one JSON parameter (an array of
arrays: one parameter, however many rows, so composing the statement costs nothing per row);
``rows_sql`` is the one place that turns it into rows, as each database spells it. What follows
is the same text on both: JSON properties read with ``->>``, casts with ``CAST(… AS DOUBLE
PRECISION)``, window functions, ``CASE`` rather than ``least``/``greatest`` or ``FILTER``. Times
go in the form the database stores them (``json_time``); a JSON key is quoted on SQLite
(``json_key``), which reads ``->> 'a.b'`` as a path.
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from django.db import connection


def rows_sql(columns: Sequence[tuple[str, str]]) -> str:
    """A SELECT of the rows of one JSON parameter (``rows_param``), each column (name, SQL type)
    taken by position."""
    if connection.vendor == "sqlite":
        picked = ", ".join(f"value ->> '$[{index}]' AS {name}" for index, (name, _) in enumerate(columns))
        return f"SELECT {picked} FROM json_each(%s)"
    picked = ", ".join(f"CAST(value ->> {index} AS {kind}) AS {name}" for index, (name, kind) in enumerate(columns))
    return f"SELECT {picked} FROM jsonb_array_elements(CAST(%s AS jsonb))"


def rows_param(rows: Sequence[Sequence]) -> str:
    return json.dumps(rows, separators=(",", ":"))


def json_time(value: datetime | None) -> str | None:
    """A time as ``rows_param`` carries it, to be compared with stored times."""
    if value is None:
        return None
    if connection.vendor == "sqlite":
        return connection.ops.adapt_datetimefield_value(value)
    return value.isoformat()


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
    """SQL for the whole milliseconds since 1970 of time ``column`` (spelt differently)."""
    if connection.vendor == "sqlite":
        return f"CAST(round((julianday({column}) - 2440587.5) * 86400000.0) AS INTEGER)"
    return f"CAST(floor(extract(epoch FROM {column}) * 1000) AS BIGINT)"
