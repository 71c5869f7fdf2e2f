"""The condition language: every operator, missing data, validation messages, explain."""

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from challenges.conditions import (
    MAX_DEPTH,
    MAX_LEAVES,
    ConditionError,
    Explanation,
    InvalidCondition,
    compile_condition,
    validate_condition,
)
from challenges.facts import EventFacts, Facts, LineFacts, MemberFacts, WeatherFacts
from challenges.fields import FIELDS, field_catalogue

REPO = Path(__file__).resolve().parents[2]

PAYLOAD = {"size": "string", "n": "number", "gift": "boolean", "tags": "string_set"}


def make_facts(*, member=None, **event):
    """Friday 12 June 2026, 19h, a rainy purchase of 1,500 yen by a gold member born in June."""
    event_values = {
        "type": "purchase",
        "occurred_at": dt.datetime(2026, 6, 12, 10, 30, tzinfo=dt.UTC),
        "local_date": dt.date(2026, 6, 12),
        "weekday": "fri",
        "hour": 19,
        "store": "S01",
        "channel": "store",
        "staff": "S-007",
        "amount": 1500,
        "lines": (LineFacts("A1", "food", 2, 500), LineFacts("B2", "drink", 1, 500)),
        "weather": WeatherFacts("rain", 3.5),
    }
    member_values = {
        "tier": "gold",
        "age": 34,
        "gender": "female",
        "days_since_joined": 120,
        "birthday_month": 6,
        "home_store": "S02",
        "is_first_purchase": False,
        "new_skus": frozenset({"B2"}),
        "new_categories": frozenset({"drink"}),
        "counters": {"visits_this_month": 2, "spend_this_month": 4200},
    }
    event_values.update(event)
    member_values.update(member or {})
    return Facts(EventFacts(**event_values), MemberFacts(**member_values))


def leaf(field, op, value):
    return {"field": field, "op": op, "value": value}


def errors_of(tree, **kwargs):
    with pytest.raises(InvalidCondition) as caught:
        validate_condition(tree, **kwargs)
    return [(error.path, error.message) for error in caught.value.errors]


# --- fields ------------------------------------------------------------------------------------


def test_every_field_reads_its_fact():
    facts = make_facts(is_holiday=True, payload={"size": "L"})

    assert {name: spec.getter(facts) for name, spec in FIELDS.items()} == {
        "event.type": "purchase",
        "event.amount": 1500,
        "event.item_count": 3,
        "event.lines.sku": frozenset({"A1", "B2"}),
        "event.lines.category": frozenset({"food", "drink"}),
        "event.staff": "S-007",
        "event.channel": "store",
        "event.store": "S01",
        "member.tier": "gold",
        "member.age": 34,
        "member.gender": "female",
        "member.days_since_joined": 120,
        "member.birthday_month": 6,
        "member.is_birthday_month": True,
        "member.home_store": "S02",
        "member.is_first_purchase": False,
        "member.new_skus": frozenset({"B2"}),
        "member.new_categories": frozenset({"drink"}),
        "weather.condition": "rain",
        "weather.precipitation_mm": 3.5,
        "time.weekday": "fri",
        "time.hour": 19,
        "time.month": 6,
        "time.is_holiday": True,
        "counter.visits_this_month": 2,
        "counter.purchases_this_month": 0,
        "counter.spend_this_month": 4200,
        "counter.purchases_ever": 0,
        "counter.visits_ever": 0,
        "counter.events_this_month": 0,
    }


def test_fields_without_data_read_none_or_empty():
    facts = make_facts(
        type="visit",
        amount=None,
        lines=(),
        staff=None,
        channel=None,
        weather=None,
        member={"age": None, "birthday_month": None, "tier": None, "counters": {}},
    )

    values = {name: spec.getter(facts) for name, spec in FIELDS.items()}

    assert {name: values[name] for name in values if values[name] in (None, 0, frozenset())} == {
        "event.amount": None,
        "event.item_count": 0,
        "event.lines.sku": frozenset(),
        "event.lines.category": frozenset(),
        "event.staff": None,
        "event.channel": None,
        "member.tier": None,
        "member.age": None,
        "member.birthday_month": None,
        "member.is_birthday_month": None,
        "member.is_first_purchase": False,
        "weather.condition": None,
        "weather.precipitation_mm": None,
        "time.is_holiday": False,
        "counter.visits_this_month": 0,
        "counter.purchases_this_month": 0,
        "counter.spend_this_month": 0,
        "counter.purchases_ever": 0,
        "counter.visits_ever": 0,
        "counter.events_this_month": 0,
    }


def test_birthday_month_is_false_in_another_month():
    facts = make_facts(local_date=dt.date(2026, 7, 1), member={"birthday_month": 6})

    assert compile_condition(leaf("member.is_birthday_month", "eq", True))(facts) is False
    assert compile_condition(leaf("member.is_birthday_month", "eq", False))(facts) is True


# --- operators ---------------------------------------------------------------------------------

OPERATOR_CASES = [
    # number: event.amount is 1500, weather.precipitation_mm 3.5
    ("event.amount", "eq", 1500, True),
    ("event.amount", "eq", 1499, False),
    ("event.amount", "eq", 1500.0, True),
    ("event.amount", "ne", 1499, True),
    ("event.amount", "ne", 1500, False),
    ("event.amount", "gt", 1499, True),
    ("event.amount", "gt", 1500, False),
    ("event.amount", "gte", 1500, True),
    ("event.amount", "gte", 1501, False),
    ("event.amount", "lt", 1501, True),
    ("event.amount", "lt", 1500, False),
    ("event.amount", "lte", 1500, True),
    ("event.amount", "lte", 1499, False),
    ("event.amount", "between", [1000, 1500], True),
    ("event.amount", "between", [1500, 1500], True),
    ("event.amount", "between", [1501, 2000], False),
    ("event.amount", "in", [1000, 1500], True),
    ("event.amount", "in", [1000, 2000], False),
    ("weather.precipitation_mm", "gt", 3, True),
    ("weather.precipitation_mm", "between", [3.5, 4], True),
    ("weather.precipitation_mm", "lt", 3.5, False),
    ("event.item_count", "gte", 3, True),
    ("counter.visits_this_month", "lt", 2, False),
    ("counter.visits_ever", "eq", 0, True),
    # string: event.staff is "S-007"
    ("event.staff", "eq", "S-007", True),
    ("event.staff", "eq", "s-007", False),
    ("event.staff", "ne", "S-008", True),
    ("event.staff", "ne", "S-007", False),
    ("event.staff", "in", ["S-001", "S-007"], True),
    ("event.staff", "in", ["S-001"], False),
    ("event.staff", "not_in", ["S-001"], True),
    ("event.staff", "not_in", ["S-001", "S-007"], False),
    ("event.staff", "contains", "-00", True),
    ("event.staff", "contains", "8", False),
    ("event.staff", "startswith", "S-", True),
    ("event.staff", "startswith", "007", False),
    # enum: event.channel is "store"
    ("event.channel", "eq", "store", True),
    ("event.channel", "eq", "app", False),
    ("event.channel", "ne", "app", True),
    ("event.channel", "ne", "store", False),
    ("event.channel", "in", ["store", "online"], True),
    ("event.channel", "in", ["online", "app"], False),
    ("event.channel", "not_in", ["online"], True),
    ("event.channel", "not_in", ["store"], False),
    ("time.weekday", "in", ["fri", "sat"], True),
    ("member.gender", "eq", "male", False),
    # boolean: member.is_first_purchase is false, member.is_birthday_month true
    ("member.is_first_purchase", "eq", False, True),
    ("member.is_first_purchase", "eq", True, False),
    ("member.is_first_purchase", "ne", True, True),
    ("member.is_first_purchase", "ne", False, False),
    ("member.is_birthday_month", "eq", True, True),
    # string_set: event.lines.sku is {A1, B2}
    ("event.lines.sku", "contains", "A1", True),
    ("event.lines.sku", "contains", "C3", False),
    ("event.lines.sku", "not_contains", "C3", True),
    ("event.lines.sku", "not_contains", "A1", False),
    ("event.lines.sku", "contains_any", ["C3", "B2"], True),
    ("event.lines.sku", "contains_any", ["C3", "D4"], False),
    ("event.lines.sku", "contains_all", ["A1", "B2"], True),
    ("event.lines.sku", "contains_all", ["A1", "C3"], False),
    ("event.lines.sku", "is_empty", False, True),
    ("event.lines.sku", "is_empty", True, False),
    ("member.new_skus", "contains", "A1", False),
    ("member.new_categories", "contains", "drink", True),
]


@pytest.mark.parametrize(("field", "op", "value", "expected"), OPERATOR_CASES)
def test_operator(field, op, value, expected):
    predicate = compile_condition(leaf(field, op, value))

    assert predicate(make_facts()) is expected
    assert predicate.explain(make_facts()).matched is expected


def test_every_operator_of_every_type_has_a_true_and_a_false_case():
    covered = {(FIELDS[f].type, op, expected) for f, op, _, expected in OPERATOR_CASES}

    assert {
        (spec.type, op, expected)
        for spec in FIELDS.values()
        for op in spec.operators
        for expected in (True, False)
    } == covered


def test_is_empty_on_an_event_without_lines():
    facts = make_facts(type="visit", amount=None, lines=())

    assert compile_condition(leaf("event.lines.sku", "is_empty", True))(facts) is True
    assert compile_condition(leaf("event.lines.sku", "is_empty", False))(facts) is False
    assert compile_condition(leaf("event.lines.sku", "not_contains", "A1"))(facts) is True


PAYLOAD_CASES = [
    ("event.payload.size", "eq", "L", {"size": "L"}, True),
    ("event.payload.size", "startswith", "X", {"size": "L"}, False),
    ("event.payload.n", "gte", 3, {"n": 3}, True),
    ("event.payload.n", "between", [0, 2.5], {"n": 2.75}, False),
    ("event.payload.gift", "eq", True, {"gift": True}, True),
    ("event.payload.gift", "ne", True, {"gift": True}, False),
    ("event.payload.tags", "contains_all", ["a", "b"], {"tags": ["b", "a", "c"]}, True),
    ("event.payload.tags", "is_empty", True, {"tags": []}, True),
    ("event.payload.tags", "contains", "z", {"tags": ["a"]}, False),
]


@pytest.mark.parametrize(("field", "op", "value", "payload", "expected"), PAYLOAD_CASES)
def test_payload_field(field, op, value, payload, expected):
    predicate = compile_condition(leaf(field, op, value), payload_fields=PAYLOAD)

    assert predicate(make_facts(type="survey", payload=payload)) is expected


# --- missing data ------------------------------------------------------------------------------

NUMBER_OPS = [
    ("eq", 1),
    ("ne", 1),
    ("gt", 1),
    ("gte", 1),
    ("lt", 1),
    ("lte", 1),
    ("between", [0, 10]),
    ("in", [1]),
]
STRING_OPS = [
    ("eq", "a"),
    ("ne", "a"),
    ("in", ["a"]),
    ("not_in", ["a"]),
    ("contains", "a"),
    ("startswith", "a"),
]
SET_OPS = [
    ("contains", "a"),
    ("not_contains", "a"),
    ("contains_any", ["a"]),
    ("contains_all", ["a"]),
    ("is_empty", True),
    ("is_empty", False),
]
MISSING = [
    (
        "weather.condition",
        {"weather": None},
        [("eq", "rain"), ("ne", "rain"), ("not_in", ["snow"])],
    ),
    ("weather.precipitation_mm", {"weather": None}, NUMBER_OPS),
    ("event.amount", {"type": "visit", "amount": None}, NUMBER_OPS),
    ("event.staff", {"staff": None}, STRING_OPS),
    ("event.channel", {"channel": None}, [("ne", "app"), ("in", ["app"]), ("not_in", ["app"])]),
    ("member.age", {"member": {"age": None}}, NUMBER_OPS),
    (
        "member.is_birthday_month",
        {"member": {"birthday_month": None}},
        [("eq", True), ("eq", False), ("ne", True), ("ne", False)],
    ),
    ("member.tier", {"member": {"tier": None}}, STRING_OPS),
    ("event.payload.tags", {"payload": {}}, SET_OPS),
    ("event.payload.tags", {"payload": {"tags": "a"}}, SET_OPS),  # not a list: unknown
    ("event.payload.tags", {"payload": {"tags": ["a", 1]}}, SET_OPS),
    ("event.payload.n", {"payload": {"n": "3"}}, NUMBER_OPS),
    ("event.payload.n", {"payload": {"n": True}}, NUMBER_OPS),
    ("event.payload.size", {"payload": {"size": 3}}, STRING_OPS),
    ("event.payload.gift", {"payload": {"gift": 1}}, [("eq", True), ("ne", False)]),
]
MISSING_CASES = [
    pytest.param(field, op, value, overrides, id=f"{field}-{op}-{index}")
    for index, (field, overrides, ops) in enumerate(MISSING)
    for op, value in ops
]


@pytest.mark.parametrize(("field", "op", "value", "overrides"), MISSING_CASES)
def test_unknown_value_never_matches(field, op, value, overrides):
    facts = make_facts(**overrides)
    predicate = compile_condition(leaf(field, op, value), payload_fields=PAYLOAD)
    negated = compile_condition({"not": leaf(field, op, value)}, payload_fields=PAYLOAD)

    assert predicate(facts) is False
    assert predicate.explain(facts) == Explanation(False, "", f"{field} is unknown")
    assert negated(facts) is True


# --- composition -------------------------------------------------------------------------------


def test_empty_all_and_empty_root_match_everything():
    facts = make_facts()

    assert compile_condition({"all": []})(facts) is True
    assert compile_condition({})(facts) is True
    assert compile_condition({}).explain(facts) == Explanation(True, "", "no conditions")


@pytest.mark.parametrize(
    ("tree", "expected"),
    [
        ({"all": [leaf("event.amount", "gte", 1000), leaf("time.hour", "gte", 18)]}, True),
        ({"all": [leaf("event.amount", "gte", 1000), leaf("time.hour", "lt", 18)]}, False),
        ({"any": [leaf("event.amount", "gte", 2000), leaf("time.hour", "gte", 18)]}, True),
        ({"any": [leaf("event.amount", "gte", 2000), leaf("time.hour", "lt", 18)]}, False),
        ({"any": [leaf("event.amount", "gte", 2000)]}, False),
        ({"all": [leaf(f"time.{k}", "gte", 0) for k in ("hour", "month", "hour")]}, True),
        ({"any": [leaf("time.hour", "lt", 0) for _ in range(3)]}, False),
        ({"not": leaf("weather.condition", "eq", "rain")}, False),
        ({"not": {"not": leaf("weather.condition", "eq", "rain")}}, True),
        ({"all": [{"not": {"any": [leaf("member.tier", "eq", "basic")]}}]}, True),
    ],
)
def test_composition(tree, expected):
    assert compile_condition(tree)(make_facts()) is expected


def test_compiled_predicate_does_not_read_the_json_again():
    tree = {"all": [leaf("event.channel", "in", ["store"])]}
    predicate = compile_condition(tree)

    tree["all"][0]["value"].append("online")
    tree["all"].append(leaf("event.amount", "gt", 10**9))

    assert predicate(make_facts(channel="online")) is False
    assert predicate(make_facts()) is True


def test_predicate_lists_the_fields_it_reads():
    predicate = compile_condition(
        {
            "any": [
                leaf("weather.condition", "eq", "rain"),
                {"not": leaf("counter.visits_this_month", "gte", 3)},
                leaf("event.payload.size", "eq", "L"),
            ]
        },
        payload_fields=PAYLOAD,
    )

    assert predicate.fields == frozenset(
        {"weather.condition", "counter.visits_this_month", "event.payload.size"}
    )
    assert predicate.test(make_facts()) is True


# --- explain -----------------------------------------------------------------------------------


def test_explain_names_the_first_failing_leaf_of_all():
    predicate = compile_condition(
        {
            "all": [
                leaf("event.amount", "gte", 1000),
                leaf("weather.condition", "eq", "rain"),
                leaf("time.hour", "lt", 12),
            ]
        }
    )

    assert predicate.explain(make_facts(weather=WeatherFacts("clear"))) == Explanation(
        False, "all[1]", "weather.condition is 'clear', needs eq 'rain'"
    )


def test_explain_descends_into_nested_all():
    predicate = compile_condition(
        {
            "all": [
                leaf("event.amount", "gte", 1000),
                {"all": [leaf("member.is_first_purchase", "eq", True)]},
            ]
        }
    )

    assert predicate.explain(make_facts()) == Explanation(
        False, "all[1].all[0]", "member.is_first_purchase is false, needs eq true"
    )


def test_explain_of_a_failed_any_lists_every_branch():
    predicate = compile_condition(
        {
            "all": [
                {
                    "any": [
                        leaf("event.amount", "gte", 2000),
                        leaf("member.tier", "in", ["platinum"]),
                        {"all": [leaf("member.age", "between", [20, 29])]},
                    ]
                }
            ]
        }
    )

    assert predicate.explain(make_facts()) == Explanation(
        False,
        "all[0]",
        "none of 3 alternatives matched: event.amount is 1500, needs gte 2000; "
        "member.tier is 'gold', needs in ['platinum']; member.age is 34, needs between [20, 29]",
    )


def test_explain_of_a_matched_any_names_the_matching_branch():
    predicate = compile_condition(
        {"any": [leaf("event.amount", "gte", 2000), leaf("event.lines.sku", "contains", "B2")]}
    )

    assert predicate.explain(make_facts()) == Explanation(
        True, "any[1]", "event.lines.sku is ['A1', 'B2'], matches contains 'B2'"
    )


def test_explain_of_a_failed_not():
    predicate = compile_condition({"all": [{"not": leaf("event.channel", "eq", "store")}]})

    assert predicate.explain(make_facts()) == Explanation(
        False, "all[0]", "must not match, but does: event.channel is 'store', matches eq 'store'"
    )


def test_explain_of_a_not_over_unknown_data_matches():
    predicate = compile_condition({"not": leaf("weather.condition", "eq", "rain")})

    assert predicate.explain(make_facts(weather=None)) == Explanation(
        True, "", "does not match, as required: weather.condition is unknown"
    )


def test_explain_of_a_match_gives_every_reason():
    predicate = compile_condition(
        {"all": [leaf("event.amount", "gte", 1000), leaf("event.lines.sku", "contains", "A1")]}
    )

    assert predicate.explain(make_facts()) == Explanation(
        True,
        "",
        "event.amount is 1500, matches gte 1000; "
        "event.lines.sku is ['A1', 'B2'], matches contains 'A1'",
    )


# --- validation --------------------------------------------------------------------------------

AMOUNT_OPS = "eq, ne, gt, gte, lt, lte, between, in"

VALIDATION_CASES = [
    ([], [("", "condition must be an object, got []")]),
    (None, [("", "condition must be an object, got null")]),
    ("all", [("", "condition must be an object, got 'all'")]),
    ({"any": []}, [("", "'any' must have at least one condition")]),
    ({"all": {}}, [("", "'all' must be a list of conditions, got {}")]),
    (
        {"all": [], "any": [leaf("event.amount", "gt", 1)]},
        [
            (
                "",
                "condition must have exactly one of 'all', 'any', 'not', "
                "or be a leaf with 'field', 'op', 'value' (got keys: all, any)",
            )
        ],
    ),
    (
        {"not": leaf("event.amount", "gt", 1), "op": "eq"},
        [
            (
                "",
                "condition must have exactly one of 'all', 'any', 'not', "
                "or be a leaf with 'field', 'op', 'value' (got keys: not, op)",
            )
        ],
    ),
    (
        {"all": [], "comment": "x"},
        [("", "unknown key 'comment' in 'all' condition")],
    ),
    (
        {"all": [{}]},
        [("all[0]", 'condition is empty (use {"all": []} to match every event)')],
    ),
    (
        {"all": [leaf("event.amount", "gt", 1), leaf("event.amout", "gt", 1)]},
        [("all[1]", "unknown field 'event.amout'")],
    ),
    (
        {"not": leaf("event.amount", "contains", "1")},
        [
            (
                "not",
                "operator 'contains' does not apply to number field 'event.amount' "
                f"(use one of: {AMOUNT_OPS})",
            )
        ],
    ),
    (
        leaf("event.lines.sku", "eq", "A1"),
        [
            (
                "",
                "operator 'eq' does not apply to string_set field 'event.lines.sku' "
                "(use one of: contains, not_contains, contains_any, contains_all, is_empty)",
            )
        ],
    ),
    (
        leaf("event.amount", "between", [5]),
        [("", "value for 'event.amount' between must be [low, high] numbers, got [5]")],
    ),
    (
        leaf("event.amount", "between", [5, 1]),
        [("", "value for 'event.amount' between must be [low, high] with low <= high, got [5, 1]")],
    ),
    (
        leaf("event.amount", "eq", True),
        [("", "value for 'event.amount' eq must be a number, got true")],
    ),
    (
        leaf("event.amount", "gt", "1000"),
        [("", "value for 'event.amount' gt must be a number, got '1000'")],
    ),
    (
        leaf("event.amount", "gt", float("nan")),
        [("", "value for 'event.amount' gt must be a number, got nan")],
    ),
    (
        leaf("event.amount", "in", []),
        [("", "value for 'event.amount' in must be a non-empty list of numbers, got []")],
    ),
    (
        leaf("event.staff", "in", {"S-001"}),
        [
            (
                "",
                "value for 'event.staff' in must be a non-empty list of strings, "
                "got a set (use a list)",
            )
        ],
    ),
    (
        leaf("event.staff", "not_in", ("S-001",)),
        [
            (
                "",
                "value for 'event.staff' not_in must be a non-empty list of strings, "
                "got a tuple (use a list)",
            )
        ],
    ),
    (
        leaf("event.staff", "contains", 7),
        [("", "value for 'event.staff' contains must be a string, got 7")],
    ),
    (
        leaf("weather.condition", "eq", "drizzle"),
        [("", "'drizzle' is not a weather.condition (clear, cloudy, rain, snow)")],
    ),
    (
        leaf("weather.condition", "in", ["rain", "drizzle", 3]),
        [
            ("", "'drizzle' is not a weather.condition (clear, cloudy, rain, snow)"),
            ("", "3 is not a weather.condition (clear, cloudy, rain, snow)"),
        ],
    ),
    (
        leaf("time.weekday", "not_in", "sun"),
        [
            (
                "",
                "value for 'time.weekday' not_in must be a non-empty list of time.weekday values "
                "(mon, tue, wed, thu, fri, sat, sun), got 'sun'",
            )
        ],
    ),
    (
        leaf("member.is_first_purchase", "eq", 1),
        [("", "value for 'member.is_first_purchase' eq must be true or false, got 1")],
    ),
    (
        leaf("event.lines.sku", "contains_any", []),
        [
            (
                "",
                "value for 'event.lines.sku' contains_any must be a non-empty list of strings, "
                "got []",
            )
        ],
    ),
    (
        leaf("event.lines.sku", "is_empty", "yes"),
        [("", "value for 'event.lines.sku' is_empty must be true or false, got 'yes'")],
    ),
    (
        {"field": "event.amount", "op": "gt"},
        [("", "leaf 'event.amount' is missing 'value'")],
    ),
    (
        {"field": "event.amount", "value": 3},
        [("", "leaf 'event.amount' is missing 'op'")],
    ),
    (
        {"op": "eq", "value": 3},
        [("", "leaf is missing 'field'")],
    ),
    (
        {"field": ["event.amount"], "op": 3, "value": 3},
        [
            ("", "field must be a string, got ['event.amount']"),
            ("", "operator in leaf must be a string, got 3"),
        ],
    ),
    (
        {"field": "event.amount", "op": "gt", "value": 1, "label": "big"},
        [("", "unknown key 'label' in leaf 'event.amount' (allowed: field, op, value)")],
    ),
    (
        leaf("event.payload.size", "eq", "L"),
        [("", "unknown field 'event.payload.size' (this event type has no payload fields)")],
    ),
    (
        {"field": "counter.visits_this_week", "op": "gte", "value": 3},
        [("", "unknown field 'counter.visits_this_week'")],
    ),
]


@pytest.mark.parametrize(("tree", "expected"), VALIDATION_CASES)
def test_validation_error(tree, expected):
    assert errors_of(tree) == expected


def test_unknown_payload_key_lists_the_known_ones():
    assert errors_of(leaf("event.payload.colour", "eq", "red"), payload_fields=PAYLOAD) == [
        (
            "",
            "unknown field 'event.payload.colour' (payload fields of this event type: "
            "event.payload.size, event.payload.n, event.payload.gift, event.payload.tags)",
        )
    ]


def test_payload_operators_follow_the_declared_type():
    assert errors_of(leaf("event.payload.size", "gt", 1), payload_fields=PAYLOAD) == [
        (
            "",
            "operator 'gt' does not apply to string field 'event.payload.size' "
            "(use one of: eq, ne, in, not_in, contains, startswith)",
        )
    ]


def test_payload_fields_of_an_unsupported_type_are_a_programming_error():
    with pytest.raises(ValueError, match="payload field 'colour' has type 'enum'"):
        validate_condition({"all": []}, payload_fields={"colour": "enum"})


def test_validation_collects_every_error_in_order():
    tree = {
        "all": [
            leaf("event.amount", "gte", 1000),
            leaf("event.amout", "gte", 1000),
            {
                "any": [
                    leaf("weather.condition", "eq", "drizzle"),
                    {"not": [leaf("time.hour", "lt", 12)]},
                    {"field": "time.hour", "op": "like", "valeu": 3},
                ]
            },
            {"any": []},
        ]
    }

    with pytest.raises(InvalidCondition) as caught:
        validate_condition(tree)

    assert caught.value.errors == [
        ConditionError("all[1]", "unknown field 'event.amout'"),
        ConditionError(
            "all[2].any[0]", "'drizzle' is not a weather.condition (clear, cloudy, rain, snow)"
        ),
        ConditionError(
            "all[2].any[1].not",
            "condition must be an object, got [{'field': 'time.hour', 'op': 'lt', 'value': 12}]",
        ),
        ConditionError(
            "all[2].any[2]",
            "unknown key 'valeu' in leaf 'time.hour' (allowed: field, op, value)",
        ),
        ConditionError(
            "all[2].any[2]",
            "operator 'like' does not apply to number field 'time.hour' "
            f"(use one of: {AMOUNT_OPS})",
        ),
        ConditionError("all[2].any[2]", "leaf 'time.hour' is missing 'value'"),
        ConditionError("all[3]", "'any' must have at least one condition"),
    ]


def test_a_deeply_nested_bad_value_is_shown_briefly():
    value = 5
    for _ in range(5000):
        value = [value]

    assert errors_of(leaf("event.amount", "in", value)) == [
        ("", "value for 'event.amount' in must be a non-empty list of numbers, got [[[[...]]]]")
    ]


def test_invalid_condition_renders_one_line_per_error():
    error = InvalidCondition(
        [
            ConditionError("", "condition has 201 leaves; the limit is 200"),
            ConditionError("all[1]", "unknown field 'event.amout'"),
        ]
    )

    assert str(error) == (
        "condition has 201 leaves; the limit is 200\nall[1]: unknown field 'event.amout'"
    )


def test_compile_validates_first():
    with pytest.raises(InvalidCondition) as caught:
        compile_condition({"any": [leaf("event.amount", "gt", "1")]})

    assert str(caught.value) == "any[0]: value for 'event.amount' gt must be a number, got '1'"


def nested_nots(count):
    tree = leaf("time.hour", "gte", 0)
    for _ in range(count):
        tree = {"not": tree}
    return tree


def test_depth_limit():
    assert MAX_DEPTH == 10
    assert compile_condition(nested_nots(MAX_DEPTH - 1))(make_facts()) is False  # 9 nots
    assert errors_of(nested_nots(MAX_DEPTH)) == [
        (".".join(["not"] * MAX_DEPTH), "condition is nested more than 10 levels deep")
    ]


def test_depth_limit_stops_a_very_deep_tree_without_recursing_into_it():
    assert errors_of(nested_nots(5000)) == [
        (".".join(["not"] * MAX_DEPTH), "condition is nested more than 10 levels deep")
    ]


def test_leaf_limit():
    assert MAX_LEAVES == 200
    at_limit = {"all": [leaf("time.hour", "gte", 0)] * MAX_LEAVES}
    over = {"any": [at_limit, leaf("time.hour", "gte", 0)]}

    assert compile_condition(at_limit)(make_facts()) is True
    assert errors_of(over) == [("", "condition has 201 leaves; the limit is 200")]


# --- catalogue ---------------------------------------------------------------------------------

OPERATORS_BY_TYPE = {
    "number": ["eq", "ne", "gt", "gte", "lt", "lte", "between", "in"],
    "string": ["eq", "ne", "in", "not_in", "contains", "startswith"],
    "enum": ["eq", "ne", "in", "not_in"],
    "boolean": ["eq", "ne"],
    "string_set": ["contains", "not_contains", "contains_any", "contains_all", "is_empty"],
}


def test_field_catalogue():
    catalogue = field_catalogue()
    by_name = {entry["name"]: entry for entry in catalogue}

    assert [entry["name"] for entry in catalogue] == [
        "event.type",
        "event.amount",
        "event.item_count",
        "event.lines.sku",
        "event.lines.category",
        "event.staff",
        "event.channel",
        "event.store",
        "member.tier",
        "member.age",
        "member.gender",
        "member.days_since_joined",
        "member.birthday_month",
        "member.is_birthday_month",
        "member.home_store",
        "member.is_first_purchase",
        "member.new_skus",
        "member.new_categories",
        "weather.condition",
        "weather.precipitation_mm",
        "time.weekday",
        "time.hour",
        "time.month",
        "time.is_holiday",
        "counter.visits_this_month",
        "counter.purchases_this_month",
        "counter.spend_this_month",
        "counter.purchases_ever",
        "counter.visits_ever",
        "counter.events_this_month",
    ]
    assert by_name["event.amount"] == {
        "name": "event.amount",
        "type": "number",
        "label": "Purchase amount (yen)",
        "operators": OPERATORS_BY_TYPE["number"],
        "choices": None,
    }
    assert by_name["weather.condition"] == {
        "name": "weather.condition",
        "type": "enum",
        "label": "Weather",
        "operators": ["eq", "ne", "in", "not_in"],
        "choices": ["clear", "cloudy", "rain", "snow"],
    }
    assert by_name["member.gender"]["choices"] == ["female", "male", "other", "unspecified"]
    assert by_name["event.channel"]["choices"] == ["store", "online", "app"]
    assert by_name["time.weekday"]["choices"] == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    assert all(entry["operators"] == OPERATORS_BY_TYPE[entry["type"]] for entry in catalogue)
    assert all(entry["label"] for entry in catalogue)


def test_field_catalogue_appends_payload_fields_in_schema_order():
    assert field_catalogue({"size": "string", "tags": "string_set"})[-2:] == [
        {
            "name": "event.payload.size",
            "type": "string",
            "label": "Event payload: size",
            "operators": OPERATORS_BY_TYPE["string"],
            "choices": None,
        },
        {
            "name": "event.payload.tags",
            "type": "string_set",
            "label": "Event payload: tags",
            "operators": OPERATORS_BY_TYPE["string_set"],
            "choices": None,
        },
    ]


# --- purity ------------------------------------------------------------------------------------


def test_the_condition_language_does_not_import_django():
    code = (
        "import sys, challenges.conditions, challenges.fields, challenges.facts; "
        "assert not any(m == 'django' or m.startswith('django.') for m in sys.modules), "
        "sorted(m for m in sys.modules if m.startswith('django'))[:5]"
    )

    result = subprocess.run(  # noqa: S603 - fixed argv, our own interpreter
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )

    assert (result.returncode, result.stderr) == (0, "")
