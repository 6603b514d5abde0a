"""Writing many new rows at once. On PostgreSQL through ``COPY`` (several times cheaper than
``bulk_create``'s VALUES lists, which cost Django a conversion per field and row); elsewhere
``bulk_create``. For rows whose new ids nobody needs (forecast blocks, envelope pieces)."""

from django.db import connection, models

PLAIN_FIELDS = {
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.BigIntegerField,
    models.PositiveIntegerField,
    models.DecimalField,
    models.FloatField,
    models.BooleanField,
    models.ForeignKey,
}


def _plain(field: models.Field) -> bool:
    if type(field) is models.DateTimeField:
        return not (field.auto_now or field.auto_now_add)
    return type(field) in PLAIN_FIELDS


def rows_insert(model: type[models.Model], rows: list[models.Model]) -> int:
    """Insert unsaved ``rows`` of ``model``; returns how many. Their ``pk`` stays unset."""
    if not rows:
        return 0
    if connection.vendor != "postgresql":
        model.objects.bulk_create(rows)
        return len(rows)
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    # Plain values (text, numbers, times, keys) go to psycopg as they are; other fields (JSON,
    # encrypted text, auto_now) through Django's preparation.
    names = [field.attname if _plain(field) else None for field in fields]
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(
                [
                    getattr(row, name) if name else field.get_db_prep_save(field.pre_save(row, True), connection)
                    for name, field in zip(names, fields, strict=True)
                ]
            )
    return len(rows)
