"""Reading times from PostgreSQL at psycopg's own speed.

Django reads every ``timestamptz`` through a loader of its own that subclasses psycopg's
pure-Python one (to set the time zone it wants), so each time read is parsed in Python, about ten
times the cost of psycopg's compiled loader: a report round reading a thousand cursors, groups
and assets spent a seventh of its time there. Django keeps every connection's session in UTC
when ``USE_TZ`` is on, and psycopg's loader then gives the same aware times in
``datetime.timezone.utc``; so on such a connection the compiled loader (the fastest psycopg has)
takes over, wrapped to carry the ``timezone`` attribute Django checks before each cursor. Any
other set-up keeps Django's loader."""

from datetime import UTC

from django.db.backends.signals import connection_created

try:
    import psycopg
    from psycopg.adapt import Loader
    from psycopg.pq import Format
except ImportError:  # psycopg 2, or no PostgreSQL driver: nothing to do
    psycopg = None

if psycopg is not None:
    _TIMESTAMPTZ = psycopg.adapters.types["timestamptz"].oid
    _FASTEST = psycopg.adapters.get_loader(_TIMESTAMPTZ, Format.TEXT)

    class UtcTimestampLoader(Loader):
        """psycopg's own ``timestamptz`` loader, on a connection whose session is in UTC."""

        timezone = UTC  # what Django compares with its connection's time zone

        def __init__(self, oid, context=None):
            super().__init__(oid, context)
            self.load = _FASTEST(oid, context).load  # psycopg calls this per value

        def load(self, data):  # replaced per instance in __init__
            raise NotImplementedError


def timestamps_loader_install(sender, connection, **kwargs) -> None:
    """On a new PostgreSQL connection whose session and Django both use UTC, read times with
    ``UtcTimestampLoader``."""
    if psycopg is None or connection.vendor != "postgresql" or connection.timezone is not UTC:
        return
    raw = getattr(connection.connection, "pgconn", None)
    if raw is None or raw.parameter_status(b"TimeZone") != b"UTC":
        return
    connection.connection.adapters.register_loader("timestamptz", UtcTimestampLoader)


def install() -> None:
    connection_created.connect(timestamps_loader_install, dispatch_uid="oscp_platform.db.timestamps")


def lz4_compression(*columns: tuple[str, str]):
    """A migration step: PostgreSQL compresses the large values of ``columns`` ((table, column)
    pairs) with LZ4 rather than its default pglz, where the server has LZ4. A forecast's blocks
    and its message body, about 12 kB of JSON each, take pglz 0.12-0.17 ms each to compress and
    LZ4 a tenth of that, for a few per cent more room. Values already stored stay as they are; a
    server without LZ4 (or another database) keeps its default."""
    from django.db import migrations

    def apply(apps, schema_editor, method="lz4"):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
            if not cursor.fetchone()[0]:
                return
            for table, column in columns:
                quote = connection.ops.quote_name
                cursor.execute(f"ALTER TABLE {quote(table)} ALTER COLUMN {quote(column)} SET COMPRESSION {method}")

    def revert(apps, schema_editor):
        apply(apps, schema_editor, method="default")

    return migrations.RunPython(apply, revert, elidable=True)
