"""Compiled conditions agree with a naive interpreter of the JSON, on random trees and facts."""

import datetime as dt
import json
import re
from dataclasses import replace
from itertools import combinations

from hypothesis import given, settings
from hypothesis import strategies as st

from challenges.conditions import compile_condition, validate_condition
from challenges.facts import (
    CHANNELS,
    WEATHER_CONDITIONS,
    EventFacts,
    Facts,
    LineFacts,
    MemberFacts,
    WeatherFacts,
)

PAYLOAD = {"n": "number", "size": "string", "gift": "boolean", "tags": "string_set"}

# Small pools, shared by facts and condition values, so that leaves often match and the
# boundaries (equal numbers, "a" in "ba" but "ba" not starting with "a") all occur.
TEXT_POOL = ["", "a", "ab", "ba"]
NUMBER_POOL = [0, 1, 2, 2.5]
INT_POOL = [0, 1, 2]
FLOAT_POOL = [0.0, 1.0, 2.5]
PAYLOAD_POOL = [None, 0, 2, 2.5, True, False, "", "a", "ba", [], ["a"], ["ab", "ba"], ["a", 1]]

FIELD_TYPES = {
    "event.amount": "number",
    "weather.precipitation_mm": "number",
    "counter.visits_this_month": "number",
    "event.payload.n": "number",
    "event.staff": "string",
    "event.payload.size": "string",
    "event.channel": "enum",
    "weather.condition": "enum",
    "member.is_birthday_month": "boolean",
    "member.is_first_purchase": "boolean",
    "event.payload.gift": "boolean",
    "event.lines.sku": "string_set",
    "member.new_skus": "string_set",
    "event.payload.tags": "string_set",
}
CHOICES = {"event.channel": CHANNELS, "weather.condition": WEATHER_CONDITIONS}


def _one_or_two(pool):
    return [[item] for item in pool] + [list(pair) for pair in combinations(pool, 2)]


def leaf_values(field):
    """The spec's operator table, written out again: operator -> every value tried."""
    type_ = FIELD_TYPES[field]
    if type_ == "number":
        ranges = [[low, high] for low in NUMBER_POOL for high in NUMBER_POOL if low <= high]
        scalar = dict.fromkeys(("eq", "ne", "gt", "gte", "lt", "lte"), NUMBER_POOL)
        return scalar | {"between": ranges, "in": _one_or_two(NUMBER_POOL)}
    if type_ == "string":
        scalar = dict.fromkeys(("eq", "ne", "contains", "startswith"), TEXT_POOL)
        return scalar | dict.fromkeys(("in", "not_in"), _one_or_two(TEXT_POOL))
    if type_ == "enum":
        choices = list(CHOICES[field])
        return dict.fromkeys(("eq", "ne"), choices) | dict.fromkeys(
            ("in", "not_in"), _one_or_two(choices)
        )
    if type_ == "boolean":
        return dict.fromkeys(("eq", "ne"), [True, False])
    return (
        dict.fromkeys(("contains", "not_contains"), TEXT_POOL)
        | dict.fromkeys(("contains_any", "contains_all"), _one_or_two(TEXT_POOL))
        | {"is_empty": [True, False]}
    )


ALL_LEAVES = [
    {"field": field, "op": op, "value": value}
    for field in FIELD_TYPES
    for op, values in leaf_values(field).items()
    for value in values
]

BASE = Facts(
    EventFacts(
        type="purchase",
        occurred_at=dt.datetime(2026, 6, 12, 12, tzinfo=dt.UTC),
        local_date=dt.date(2026, 6, 12),
        weekday="fri",
        hour=12,
    ),
    MemberFacts(
        tier=None,
        age=None,
        gender="unspecified",
        days_since_joined=0,
        birthday_month=None,
        home_store=None,
        is_first_purchase=False,
    ),
)
SUBSETS = [list(c) for size in range(len(TEXT_POOL) + 1) for c in combinations(TEXT_POOL, size)]
# Every value each field can take in these tests (None: the data is missing).
FACT_VALUES = {
    "event.amount": [None, *INT_POOL],
    "weather.precipitation_mm": [None, *FLOAT_POOL],
    "counter.visits_this_month": [None, *INT_POOL],
    "event.payload.n": PAYLOAD_POOL,
    "event.staff": [None, *TEXT_POOL],
    "event.payload.size": PAYLOAD_POOL,
    "event.channel": [None, *CHANNELS],
    "weather.condition": [None, *WEATHER_CONDITIONS],
    "member.is_birthday_month": [None, 5, 6],  # birthday months; BASE is in June
    "member.is_first_purchase": [True, False],
    "event.payload.gift": PAYLOAD_POOL,
    "event.lines.sku": [*SUBSETS, ["a", "a"]],
    "member.new_skus": SUBSETS,
    "event.payload.tags": PAYLOAD_POOL,
}


def with_value(facts, field, value):
    """`facts` with `field` set to `value` (None: missing)."""
    event, member = facts.event, facts.member
    if field.startswith("event.payload."):
        key = field.removeprefix("event.payload.")
        payload = {k: v for k, v in event.payload.items() if k != key}
        event = replace(event, payload=payload if value is None else payload | {key: value})
    elif field == "event.amount":
        event = replace(event, amount=value)
    elif field == "weather.precipitation_mm":
        condition = event.weather.condition if event.weather else "clear"
        event = replace(event, weather=None if value is None else WeatherFacts(condition, value))
    elif field == "weather.condition":
        mm = event.weather.precipitation_mm if event.weather else 0.0
        event = replace(event, weather=None if value is None else WeatherFacts(value, mm))
    elif field == "counter.visits_this_month":
        member = replace(member, counters={} if value is None else {"visits_this_month": value})
    elif field == "event.staff":
        event = replace(event, staff=value)
    elif field == "event.channel":
        event = replace(event, channel=value)
    elif field == "member.is_birthday_month":
        member = replace(member, birthday_month=value)
    elif field == "member.is_first_purchase":
        member = replace(member, is_first_purchase=value)
    elif field == "event.lines.sku":
        event = replace(event, lines=tuple(LineFacts(sku, "c", 1, 100) for sku in value))
    elif field == "member.new_skus":
        member = replace(member, new_skus=frozenset(value))
    else:
        raise AssertionError(field)
    return Facts(event, member)


LEAVES = st.sampled_from(ALL_LEAVES)


def _trees(depth):
    if depth == 4:
        return LEAVES
    children = _trees(depth + 1)
    return st.one_of(
        LEAVES,
        st.lists(children, max_size=3).map(lambda items: {"all": items}),
        st.lists(children, min_size=1, max_size=3).map(lambda items: {"any": items}),
        children.map(lambda item: {"not": item}),
    )


TREES = _trees(0)


@st.composite
def facts(draw):
    """Random facts over every field of FIELD_TYPES, each taking a value of FACT_VALUES."""
    result = BASE
    for field, values in FACT_VALUES.items():
        result = with_value(result, field, draw(st.sampled_from(values)))
    return result


# --- the reference: reads the JSON on every call, as plainly as possible --------------------------


def _payload_value(facts, key):
    value = facts.event.payload.get(key)
    kind = PAYLOAD[key]
    if kind == "number":
        return value if type(value) in (int, float) else None
    if kind == "string":
        return value if type(value) is str else None
    if kind == "boolean":
        return value if type(value) is bool else None
    if type(value) is list and all(type(item) is str for item in value):
        return set(value)
    return None


def field_value(name, facts):
    event, member = facts.event, facts.member
    if name.startswith("event.payload."):
        return _payload_value(facts, name.removeprefix("event.payload."))
    if name == "event.amount":
        return event.amount
    if name == "weather.precipitation_mm":
        return event.weather.precipitation_mm if event.weather else None
    if name == "weather.condition":
        return event.weather.condition if event.weather else None
    if name == "counter.visits_this_month":
        return member.counters.get("visits_this_month", 0)
    if name == "event.staff":
        return event.staff
    if name == "event.channel":
        return event.channel
    if name == "member.is_birthday_month":
        if member.birthday_month is None:
            return None
        return member.birthday_month == event.local_date.month
    if name == "member.is_first_purchase":
        return member.is_first_purchase
    if name == "event.lines.sku":
        return {line.sku for line in event.lines}
    if name == "member.new_skus":
        return set(member.new_skus)
    raise AssertionError(name)


def reference(tree, facts):
    if "all" in tree:
        return all(reference(child, facts) for child in tree["all"])
    if "any" in tree:
        return any(reference(child, facts) for child in tree["any"])
    if "not" in tree:
        return not reference(tree["not"], facts)
    value = field_value(tree["field"], facts)
    op, wanted = tree["op"], tree["value"]
    if value is None:
        return False
    if op == "eq":
        return value == wanted
    if op == "ne":
        return value != wanted
    if op == "gt":
        return value > wanted
    if op == "gte":
        return value >= wanted
    if op == "lt":
        return value < wanted
    if op == "lte":
        return value <= wanted
    if op == "between":
        return wanted[0] <= value and value <= wanted[1]
    if op == "in":
        return any(value == item for item in wanted)
    if op == "not_in":
        return all(value != item for item in wanted)
    if op == "contains":
        return wanted in value
    if op == "not_contains":
        return wanted not in value
    if op == "startswith":
        return value[: len(wanted)] == wanted
    if op == "contains_any":
        return any(item in value for item in wanted)
    if op == "contains_all":
        return all(item in value for item in wanted)
    if op == "is_empty":
        return (len(value) == 0) == wanted
    raise AssertionError(op)


def node_at(tree, path):
    for step in path.split(".") if path else []:
        match = re.fullmatch(r"(all|any)\[(\d+)\]|not", step)
        assert match, step
        tree = tree["not"] if step == "not" else tree[match[1]][int(match[2])]
    return tree


def compile_(tree):
    return compile_condition(tree, payload_fields=PAYLOAD)


FAST = settings(max_examples=200, deadline=None)


def test_every_leaf_on_every_value_agrees_with_the_reference():
    # Exhaustive over the small pools: every operator, value and field value, including the
    # boundaries that random sampling rarely meets.
    checked, wrong = 0, []
    for tree in ALL_LEAVES:
        predicate = compile_(tree)
        for value in FACT_VALUES[tree["field"]]:
            facts = with_value(BASE, tree["field"], value)
            expected = reference(tree, facts)
            if (predicate(facts), predicate.explain(facts).matched) != (expected, expected):
                wrong.append((tree, value, expected))
            checked += 1

    assert wrong == []
    assert (len(ALL_LEAVES), checked) == (396, 3412)


@FAST
@given(TREES, facts())
def test_compiled_predicate_agrees_with_the_reference(tree, facts):
    assert compile_(tree)(facts) is reference(tree, facts)


@FAST
@given(TREES, facts())
def test_explain_agrees_and_points_at_a_failing_node(tree, facts):
    predicate = compile_(tree)
    explanation = predicate.explain(facts)

    assert explanation.matched is predicate(facts)
    if not explanation.matched:
        blamed = node_at(tree, explanation.path)
        # The blamed node fails on its own, and is a leaf, a failed any or a failed not.
        assert compile_(blamed)(facts) is False
        assert "all" not in blamed
        if "all" in tree:
            assert explanation.path.startswith("all[")


@FAST
@given(TREES, facts())
def test_double_negation_is_the_identity(tree, facts):
    assert compile_({"not": {"not": tree}})(facts) is compile_(tree)(facts)


@FAST
@given(TREES, facts())
def test_generated_trees_are_valid_and_survive_a_json_round_trip(tree, facts):
    validate_condition(tree, payload_fields=PAYLOAD)
    copy = json.loads(json.dumps(tree))

    assert copy == tree
    assert compile_(copy)(facts) is compile_(tree)(facts)
    assert compile_(copy).explain(facts) == compile_(tree).explain(facts)
