"""The built-in event types, and challenge versions made immutable in the database.

Versions: a trigger rejects UPDATE (PostgreSQL and SQLite). DELETE is left to the PROTECT
foreign keys of what a version produced (and to Django's test flush).
"""

from django.db import migrations

BUILTIN = [
    ("purchase", "Purchase", False, {}),
    ("return", "Return", False, {}),
    ("visit", "Store visit (check-in)", False, {"type": "object"}),
    (
        "sns_follow",
        "SNS follow",
        True,
        {
            "type": "object",
            "properties": {
                "platform": {
                    "type": "string",
                    "enum": ["instagram", "x", "line", "tiktok", "facebook", "youtube"],
                },
                "account": {"type": "string", "minLength": 1, "maxLength": 100},
            },
            "required": ["platform", "account"],
            "additionalProperties": False,
        },
    ),
    (
        "survey_answered",
        "Survey answered",
        True,
        {
            "type": "object",
            "properties": {
                "survey": {"type": "string", "minLength": 1, "maxLength": 64},
                "score": {"type": "number"},
            },
            "required": ["survey"],
            "additionalProperties": False,
        },
    ),
    (
        "event_attendance",
        "Event attendance",
        True,
        {
            "type": "object",
            "properties": {"event_code": {"type": "string", "minLength": 1, "maxLength": 64}},
            "required": ["event_code"],
            "additionalProperties": False,
        },
    ),
    ("app_open", "App opened", True, {"type": "object", "additionalProperties": False}),
    (
        "referral",
        "Referral",
        False,
        {
            "type": "object",
            "properties": {"referred_member_number": {"type": "string", "pattern": "^[0-9]{16}$"}},
            "required": ["referred_member_number"],
            "additionalProperties": False,
        },
    ),
    ("profile_completed", "Profile completed", False, {"type": "object"}),
]

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
    EventType = apps.get_model("challenges", "EventType")
    for code, name, member_app, schema in BUILTIN:
        EventType.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "builtin": True,
                "member_app": member_app,
                "payload_schema": schema,
            },
        )
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
