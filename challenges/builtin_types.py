"""The built-in event types (code, name, members may send it, payload JSON Schema).

Installed by migrations 0002 and 0004 (birthday, anniversary, win_back: the scheduled types);
0005 took survey_answered away from the member app;
`event_types_ensure_builtin` puts them back where a database was emptied without migrating
again (a test flush).
"""

from django.utils.translation import gettext_noop

# Names marked for translation: the admin shows a built-in type's name in the user's
# language (EventType.display_name); the database keeps the English one.
BUILTIN = [
    ("purchase", gettext_noop("Purchase"), False, {}),
    ("return", gettext_noop("Return"), False, {}),
    ("visit", gettext_noop("Store visit (check-in)"), False, {"type": "object"}),
    (
        "sns_follow",
        gettext_noop("SNS follow"),
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
    # Not from the member app: a member could claim a survey challenge's points without
    # answering. Survey answers emit it (metrics/services.py, source "surveys"); integration
    # keys with events:write may still send it.
    (
        "survey_answered",
        gettext_noop("Survey answered"),
        False,
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
        gettext_noop("Event attendance"),
        True,
        {
            "type": "object",
            "properties": {"event_code": {"type": "string", "minLength": 1, "maxLength": 64}},
            "required": ["event_code"],
            "additionalProperties": False,
        },
    ),
    (
        "app_open",
        gettext_noop("App opened"),
        True,
        {"type": "object", "additionalProperties": False},
    ),
    (
        "referral",
        gettext_noop("Referral"),
        False,
        {
            "type": "object",
            "properties": {"referred_member_number": {"type": "string", "pattern": "^[0-9]{16}$"}},
            "required": ["referred_member_number"],
            "additionalProperties": False,
        },
    ),
    ("profile_completed", gettext_noop("Profile completed"), False, {"type": "object"}),
    # Created by the nightly scheduler (challenges/scheduled.py), never by members.
    (
        "birthday",
        gettext_noop("Birthday"),
        False,
        {
            "type": "object",
            "properties": {"age": {"type": "integer", "minimum": 1}},
            "required": ["age"],
            "additionalProperties": False,
        },
    ),
    (
        "anniversary",
        gettext_noop("Membership anniversary"),
        False,
        {
            "type": "object",
            "properties": {"years": {"type": "integer", "minimum": 1}},
            "required": ["years"],
            "additionalProperties": False,
        },
    ),
    (
        "win_back",
        gettext_noop("Win-back (days since the last visit or purchase)"),
        False,
        {
            "type": "object",
            "properties": {"days_absent": {"type": "integer", "minimum": 1}},
            "required": ["days_absent"],
            "additionalProperties": False,
        },
    ),
]


SCHEDULED = ("birthday", "anniversary", "win_back")


def event_types_ensure_builtin(event_type_model=None, *, codes=None) -> None:
    """Create or update the built-in types (only `codes`, when given)."""
    if event_type_model is None:
        from .models import EventType as event_type_model
    for code, name, member_app, schema in BUILTIN:
        if codes is not None and code not in codes:
            continue
        event_type_model.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "builtin": True,
                "member_app": member_app,
                "payload_schema": schema,
            },
        )
