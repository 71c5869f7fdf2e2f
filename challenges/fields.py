"""The typed fields a challenge condition can name, and the operators each type accepts.

This registry is the single source for validation (conditions.py), the admin rule builder and
the documentation (`field_catalogue`). Pure Python: no Django imports.

Every getter takes a `Facts` and returns a value of its field's type or None ("unknown": no
weather that day, no birth date, no amount on a visit). The condition language treats None as
"the leaf does not match", so getters must never return a value of another type; getters over
untyped data (the event payload) check the type and return None on a mismatch.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from challenges.facts import CHANNELS, GENDERS, WEATHER_CONDITIONS, WEEKDAYS, Facts

NUMBER = "number"  # int or float, never bool
STRING = "string"
ENUM = "enum"  # a string from the field's choices
BOOLEAN = "boolean"
STRING_SET = "string_set"  # a frozenset of strings

TYPES = (NUMBER, STRING, ENUM, BOOLEAN, STRING_SET)
# The event type's payload schema may declare these (an enum needs choices, which it cannot).
PAYLOAD_TYPES = (NUMBER, STRING, BOOLEAN, STRING_SET)

# What the value of a leaf must be, per operator of each type. Keys are in display order.
#   number: a number; range: [low, high] numbers with low <= high; numbers: a non-empty list of
#   numbers; string / strings likewise; choice: one of the field's choices; choices: a non-empty
#   list of them; boolean: true or false.
VALUE_KINDS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        NUMBER: MappingProxyType(
            {
                "eq": "number",
                "ne": "number",
                "gt": "number",
                "gte": "number",
                "lt": "number",
                "lte": "number",
                "between": "range",
                "in": "numbers",
            }
        ),
        STRING: MappingProxyType(
            {
                "eq": "string",
                "ne": "string",
                "in": "strings",
                "not_in": "strings",
                "contains": "string",
                "startswith": "string",
            }
        ),
        ENUM: MappingProxyType(
            {"eq": "choice", "ne": "choice", "in": "choices", "not_in": "choices"}
        ),
        BOOLEAN: MappingProxyType({"eq": "boolean", "ne": "boolean"}),
        STRING_SET: MappingProxyType(
            {
                "contains": "string",
                "not_contains": "string",
                "contains_any": "strings",
                "contains_all": "strings",
                "is_empty": "boolean",
            }
        ),
    }
)
OPERATORS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {type_: tuple(kinds) for type_, kinds in VALUE_KINDS.items()}
)

# Per-member counts before the event, loaded into MemberFacts.counters by the Django layer.
COUNTERS = (
    "visits_this_month",
    "purchases_this_month",
    "spend_this_month",
    "purchases_ever",
    "visits_ever",
    "events_this_month",
)
_COUNTER_LABELS = {
    "visits_this_month": "Visits this month",
    "purchases_this_month": "Purchases this month",
    "spend_this_month": "Spend this month (yen)",
    "purchases_ever": "Purchases ever",
    "visits_ever": "Visits ever",
    "events_this_month": "Events this month",
}

PAYLOAD_PREFIX = "event.payload."


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    type: str  # one of TYPES
    label: str
    getter: Callable[[Facts], Any]
    choices: tuple[str, ...] = ()  # enum fields only

    @property
    def operators(self) -> tuple[str, ...]:
        return OPERATORS[self.type]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "label": self.label,
            "operators": list(self.operators),
            "choices": list(self.choices) if self.type == ENUM else None,
        }


def _weather_condition(facts: Facts) -> str | None:
    weather = facts.event.weather
    return None if weather is None else weather.condition


def _weather_precipitation(facts: Facts) -> float | None:
    weather = facts.event.weather
    return None if weather is None else weather.precipitation_mm


def _item_count(facts: Facts) -> int:
    return sum(line.quantity for line in facts.event.lines)


def _line_skus(facts: Facts) -> frozenset[str]:
    return frozenset(line.sku for line in facts.event.lines)


def _line_categories(facts: Facts) -> frozenset[str]:
    return frozenset(line.category for line in facts.event.lines)


def _is_birthday_month(facts: Facts) -> bool | None:
    month = facts.member.birthday_month
    return None if month is None else facts.event.local_date.month == month


def _counter_getter(name: str) -> Callable[[Facts], int]:
    def get(facts: Facts) -> int:
        return facts.member.counters.get(name, 0)

    return get


_STATIC_FIELDS = (
    FieldSpec("event.type", STRING, "Event type", lambda f: f.event.type),
    FieldSpec("event.amount", NUMBER, "Purchase amount (yen)", lambda f: f.event.amount),
    FieldSpec("event.item_count", NUMBER, "Number of items", _item_count),
    FieldSpec("event.lines.sku", STRING_SET, "Products (SKUs) bought", _line_skus),
    FieldSpec("event.lines.category", STRING_SET, "Categories bought", _line_categories),
    FieldSpec("event.staff", STRING, "Staff code", lambda f: f.event.staff),
    FieldSpec("event.channel", ENUM, "Channel", lambda f: f.event.channel, CHANNELS),
    FieldSpec("event.store", STRING, "Store code", lambda f: f.event.store),
    FieldSpec("member.tier", STRING, "Member tier", lambda f: f.member.tier),
    FieldSpec("member.age", NUMBER, "Member age", lambda f: f.member.age),
    FieldSpec("member.gender", ENUM, "Member gender", lambda f: f.member.gender, GENDERS),
    FieldSpec(
        "member.days_since_joined",
        NUMBER,
        "Days since joining",
        lambda f: f.member.days_since_joined,
    ),
    FieldSpec(
        "member.birthday_month", NUMBER, "Birthday month (1-12)", lambda f: f.member.birthday_month
    ),
    FieldSpec("member.is_birthday_month", BOOLEAN, "In the birthday month", _is_birthday_month),
    FieldSpec("member.home_store", STRING, "Home store code", lambda f: f.member.home_store),
    FieldSpec(
        "member.is_first_purchase",
        BOOLEAN,
        "First purchase ever",
        lambda f: f.member.is_first_purchase,
    ),
    FieldSpec(
        "member.new_skus",
        STRING_SET,
        "Products bought for the first time",
        lambda f: f.member.new_skus,
    ),
    FieldSpec(
        "member.new_categories",
        STRING_SET,
        "Categories bought for the first time",
        lambda f: f.member.new_categories,
    ),
    FieldSpec("weather.condition", ENUM, "Weather", _weather_condition, WEATHER_CONDITIONS),
    FieldSpec("weather.precipitation_mm", NUMBER, "Precipitation (mm)", _weather_precipitation),
    FieldSpec("time.weekday", ENUM, "Weekday", lambda f: f.event.weekday, WEEKDAYS),
    FieldSpec("time.hour", NUMBER, "Hour of day (0-23)", lambda f: f.event.hour),
    FieldSpec("time.month", NUMBER, "Month (1-12)", lambda f: f.event.local_date.month),
    FieldSpec("time.is_holiday", BOOLEAN, "Public holiday", lambda f: f.event.is_holiday),
    *(
        FieldSpec(f"counter.{name}", NUMBER, _COUNTER_LABELS[name], _counter_getter(name))
        for name in COUNTERS
    ),
)

FIELDS: Mapping[str, FieldSpec] = MappingProxyType({spec.name: spec for spec in _STATIC_FIELDS})
assert len(FIELDS) == len(_STATIC_FIELDS), "duplicate field name"


def check_payload_fields(payload_fields: Mapping[str, str] | None) -> None:
    """A payload field map is configuration, not user input: a bad one is a programming error."""
    for key, type_ in (payload_fields or {}).items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"payload field names must be non-empty strings, got {key!r}")
        if type_ not in PAYLOAD_TYPES:
            raise ValueError(
                f"payload field {key!r} has type {type_!r}; use one of {', '.join(PAYLOAD_TYPES)}"
            )


def _payload_getter(key: str, type_: str) -> Callable[[Facts], Any]:
    # The payload is untyped data: anything not of the declared type reads as unknown (None),
    # so comparisons in compiled conditions can never meet a value of the wrong type.
    if type_ == NUMBER:

        def get(facts: Facts) -> Any:
            value = facts.event.payload.get(key)
            return value if isinstance(value, int | float) and not isinstance(value, bool) else None

    elif type_ == STRING:

        def get(facts: Facts) -> Any:
            value = facts.event.payload.get(key)
            return value if isinstance(value, str) else None

    elif type_ == BOOLEAN:

        def get(facts: Facts) -> Any:
            value = facts.event.payload.get(key)
            return value if isinstance(value, bool) else None

    elif type_ == STRING_SET:

        def get(facts: Facts) -> Any:
            value = facts.event.payload.get(key)
            if isinstance(value, list | tuple | set | frozenset) and all(
                isinstance(item, str) for item in value
            ):
                return frozenset(value)
            return None

    else:
        raise ValueError(f"payload field {key!r} has unsupported type {type_!r}")
    return get


def payload_field(key: str, type_: str) -> FieldSpec:
    return FieldSpec(
        PAYLOAD_PREFIX + key, type_, f"Event payload: {key}", _payload_getter(key, type_)
    )


def resolve_field(name: str, payload_fields: Mapping[str, str] | None = None) -> FieldSpec | None:
    """The field called `name`, or None. Payload fields exist only if `payload_fields` has them."""
    spec = FIELDS.get(name)
    if spec is not None:
        return spec
    if name.startswith(PAYLOAD_PREFIX) and payload_fields:
        key = name[len(PAYLOAD_PREFIX) :]
        type_ = payload_fields.get(key)
        if type_ is not None:
            return payload_field(key, type_)
    return None


def field_catalogue(payload_fields: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Every field a condition may name, for the admin rule builder and the docs.

    Each entry: name, type, label, operators (list, display order), choices (list for enum
    fields, else None). Payload fields follow the static ones, in `payload_fields` order.
    """
    check_payload_fields(payload_fields)
    entries = [spec.describe() for spec in FIELDS.values()]
    for key, type_ in (payload_fields or {}).items():
        entries.append(payload_field(key, type_).describe())
    return entries
