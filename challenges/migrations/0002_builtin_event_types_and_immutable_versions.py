"""The built-in event types, and challenge versions made immutable in the database.

Versions: a trigger rejects UPDATE (PostgreSQL and SQLite). DELETE is left to the PROTECT
foreign keys of what a version produced (and to Django's test flush).
"""

from django.db import migrations

from challenges.builtin_types import event_types_ensure_builtin

TABLE = "challenges_challengeversion"
PG_FUNCTION = """
CREATE OR REPLACE FUNCTION challenges_reject_version_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = 'challenge versions are immutable: UPDATE is not allowed',
        ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    event_types_ensure_builtin(apps.get_model("challenges", "EventType"))
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FUNCTION)
        schema_editor.execute(
            f"CREATE TRIGGER {TABLE}_immutable BEFORE UPDATE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION challenges_reject_version_change()"
        )
    elif vendor == "sqlite":
        schema_editor.execute(
            f"CREATE TRIGGER {TABLE}_immutable BEFORE UPDATE ON {TABLE} "
            "BEGIN SELECT RAISE(ABORT, 'challenge versions are immutable'); END"
        )


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_immutable ON {TABLE}")
        schema_editor.execute("DROP FUNCTION IF EXISTS challenges_reject_version_change()")
    elif vendor == "sqlite":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_immutable")
    apps.get_model("challenges", "EventType").objects.filter(builtin=True).delete()


class Migration(migrations.Migration):
    dependencies = [("challenges", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
