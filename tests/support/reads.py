"""What the current transaction has read of a table, from PostgreSQL's own counters: lets a test
hold a query to the few index entries it should need, however large the table grows."""

from django.db import connection


def rows_read(table: str) -> int:
    """Index entries and sequentially scanned rows of ``table`` this transaction has read so far."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(pg_stat_get_xact_tuples_returned(indexrelid)), 0) FROM pg_index "
            "WHERE indrelid = %s::regclass",
            [table],
        )
        entries = cursor.fetchone()[0]
        cursor.execute("SELECT coalesce(seq_tup_read, 0) FROM pg_stat_xact_user_tables WHERE relname = %s", [table])
        return entries + cursor.fetchone()[0]
