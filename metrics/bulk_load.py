"""Filling emptied tables fast: their indexes built once after the rows, not row by row.

Rebuilding the KPI member state writes millions of rows into tables it has just emptied
(metrics.member_state). PostgreSQL maintains every index of a table on each inserted row:
measured at a million members, 2.8 million churn base rows took 22 s into the table with
its three indexes and 1.5 s into the bare table, whose one index then took 1.1 s to build.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection
from django.db.models import Model


@contextmanager
def indexes_built_after(*models: type[Model]) -> Iterator[None]:
    """On PostgreSQL: drop the primary key, unique constraints and indexes of the models'
    tables, run the block, then create them again exactly as they were (their definitions
    read from the catalogue). Must run inside a transaction, which holds the tables locked
    meanwhile and undoes the drop if the block fails. Elsewhere: just the block."""
    if connection.vendor != "postgresql":
        yield
        return
    if not connection.in_atomic_block:
        raise RuntimeError("indexes_built_after needs a transaction")
    tables = [model._meta.db_table for model in models]
    q = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
            " FROM pg_constraint WHERE conrelid = ANY(%s::regclass[]) AND contype IN ('p', 'u')"
            " ORDER BY conrelid, conname",
            [tables],
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index i"
            " WHERE indrelid = ANY(%s::regclass[])"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
            " ORDER BY indexrelid",
            [tables],
        )
        indexes = cursor.fetchall()
        for table, name, _definition in constraints:
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {q(name)}")
        for name, _definition in indexes:
            cursor.execute(f"DROP INDEX {name}")
    yield
    with connection.cursor() as cursor:
        for table, name, definition in constraints:
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {q(name)} {definition}")
        for _name, definition in indexes:
            cursor.execute(definition)
