"""Make the ledger append-only in the database itself, not only in Python.

PostgreSQL: row triggers reject UPDATE and DELETE on ledger entries and lot movements
(TRUNCATE, which only a database owner's maintenance or a test flush uses, is not a row event).
SQLite: UPDATE is rejected; DELETE stays possible because Django's test flush deletes rows.
"""

from django.db import migrations

TABLES = ["loyalty_ledgerentry", "loyalty_lotmovement"]

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION loyalty_reject_ledger_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = 'ledger is append-only: ' || TG_OP || ' on ' || TG_TABLE_NAME || ' is not allowed',
        ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FUNCTION)
        for table in TABLES:
            schema_editor.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION loyalty_reject_ledger_change()"
            )
    elif vendor == "sqlite":
        for table in TABLES:
            schema_editor.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'ledger is append-only: UPDATE on {table}'); END"
            )


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table in TABLES:
        if vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        elif vendor == "sqlite":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only")
    if vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS loyalty_reject_ledger_change()")


class Migration(migrations.Migration):
    dependencies = [("loyalty", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
