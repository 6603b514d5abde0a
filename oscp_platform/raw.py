"""Model instances from a hand-written SELECT, for the hot paths whose one statement does what
several ORM queries would (a partner with its request-id check, a locked row with the group's
state, the envelope in force).

``Model.objects.raw`` does the same, but works out its column mapping and converters anew for
every query, which on a request of a few statements costs more than the statements' own Python.
Here each (model, columns) pair is planned once: a column named after a field fills that field
(with the field's and the backend's converters, as a query would apply them); any other column
becomes an attribute of that name. Only the columns selected are loaded.

Statements name their columns (``columns_sql``) rather than ``*``: PostgreSQL keeps a kept
connection's prepared statements across a migration, and one whose result columns changed under
it would fail ("cached plan must not change result type") where a named list is planned again."""

from functools import cache

from django.db import connection, models


def columns_sql(model: type[models.Model], alias: str, *, without: tuple[type[models.Field], ...] = ()) -> str:
    """Every concrete column of ``model``, qualified by ``alias``, for a SELECT list; without the
    fields of the classes ``without``, which the instances then load only if read (deferred)."""
    fields = [field for field in model._meta.concrete_fields if not isinstance(field, without)]
    return ", ".join(f'{alias}."{field.column}"' for field in fields)


@cache
def _plan(model: type[models.Model], columns: tuple[str, ...], vendor: str):
    by_column = {field.column: field for field in model._meta.concrete_fields}
    table = model._meta.db_table
    field_names, field_indexes, extra, converters = [], [], [], []
    order = {field.column: n for n, field in enumerate(model._meta.concrete_fields)}
    for index, name in sorted(enumerate(columns), key=lambda item: order.get(item[1], len(order))):
        field = by_column.get(name)
        if field is None:
            extra.append((index, name))
            continue
        field_names.append(field.attname)
        field_indexes.append(index)
        column = field.get_col(table)
        found = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
        if found:
            converters.append((len(field_indexes) - 1, column, found))
    return field_names, field_indexes, extra, converters


# The result columns of each statement text, read from the first result: the text names them, and
# the driver's description builds an object per column on every read (a tenth of a forecast's
# statements' own Python). Bounded, in case a caller builds texts per call.
_COLUMNS: dict[str, tuple[str, ...]] = {}
_COLUMNS_KEPT = 256


def raw_models(model: type[models.Model], sql: str, params) -> list[models.Model]:
    """The rows of ``sql`` as instances of ``model`` (see the module's text)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = _COLUMNS.get(sql)
        if columns is None:
            columns = tuple(column[0] for column in cursor.description)
            if len(_COLUMNS) < _COLUMNS_KEPT:
                _COLUMNS[sql] = columns
        rows = cursor.fetchall()
    field_names, field_indexes, extra, converters = _plan(model, columns, connection.vendor)
    found = []
    for row in rows:
        values = [row[index] for index in field_indexes]
        for position, column, functions in converters:
            value = values[position]
            for function in functions:
                value = function(value, column, connection)
            values[position] = value
        instance = model.from_db(connection.alias, field_names, values)
        for index, name in extra:
            setattr(instance, name, row[index])
        found.append(instance)
    return found


def raw_model(model: type[models.Model], sql: str, params) -> models.Model | None:
    """The first row of ``sql`` as an instance of ``model``, or None."""
    rows = raw_models(model, sql, params)
    return rows[0] if rows else None
