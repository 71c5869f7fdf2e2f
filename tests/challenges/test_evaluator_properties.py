"""Rule-level properties of the evaluator, against a plain reference, on random rules and events.

The reference below re-implements stacking, per-member limits and budgets as plainly as the
docs state them (docs/challenges.md, "Order and stacking", "Limits and budgets"), reading the
JSON condition through the naive interpreter of test_condition_properties. The evaluator runs
the worker's way: compiled predicates, the rule index (`RuleIndex.candidates`), explain off.
"""

import datetime as dt
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from challenges.conditions import ELEMENTS, SCALAR
from challenges.evaluator import Effect, Rule, RuleIndex, State, evaluate, period_key
from tests.challenges.test_condition_properties import (
    BASE,
    LEAVES,
    TREES,
    compile_,
    facts,
    reference,
    with_value,
)

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
# Days spread over two months and several weeks, so that day, week and month limits all reset.
DAYS = [dt.date(2026, 5, 29), dt.date(2026, 5, 31), dt.date(2026, 6, 1), dt.date(2026, 6, 12)]
TRIGGERS = ["purchase", "visit"]


def _on(facts_, day, type_):
    at = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
    event = replace(
        facts_.event, type=type_, occurred_at=at, local_date=day, weekday="mon", hour=12
    )
    return replace(facts_, event=event)


@st.composite
def rules(draw):
    count = draw(st.integers(min_value=1, max_value=8))
    found = []
    for n in range(count):
        tree = draw(st.one_of(TREES, LEAVES.map(lambda leaf: {"all": [leaf]})))
        found.append(
            (
                tree,
                Rule(
                    version_id=100 + n,
                    challenge_id=1 + n,
                    name=f"rule {n}",
                    triggers=frozenset(draw(st.sampled_from([TRIGGERS[:1], TRIGGERS]))),
                    predicate=compile_(tree),
                    effects=(Effect("points", points=draw(st.sampled_from([0, 1, 5, 20]))),),
                    starts_at=START,
                    limit_count=draw(st.sampled_from([None, 1, 2])),
                    limit_period=draw(st.sampled_from(["campaign", "day", "week", "month"])),
                    budget_points=draw(st.sampled_from([None, 0, 10, 30])),
                    priority=draw(st.integers(min_value=0, max_value=2)),
                    exclusive=draw(st.booleans()),
                ),
            )
        )
    return found


@st.composite
def events(draw):
    """(member id, facts) in processing order."""
    found = []
    for _ in range(draw(st.integers(min_value=1, max_value=12))):
        day = draw(st.sampled_from(DAYS))
        type_ = draw(st.sampled_from(TRIGGERS))
        found.append((draw(st.sampled_from([1, 2])), _on(draw(facts()), day, type_)))
    return found


def reference_run(rules_, events_):
    """What fires, by the documented rules: [(event index, version id, points)]."""
    used, spent, fired = {}, {}, []
    ordered = sorted(rules_, key=lambda pair: (-pair[1].priority, pair[1].challenge_id))
    for index, (member, facts_) in enumerate(events_):
        stopped = False
        for tree, rule in ordered:
            if stopped:
                break  # an exclusive rule fired: nothing below it is tried
            if facts_.event.type not in rule.triggers or not reference(tree, facts_):
                continue
            key = (
                member,
                rule.challenge_id,
                period_key(rule.limit_period, facts_.event.local_date),
            )
            if rule.limit_count is not None and used.get(key, 0) >= rule.limit_count:
                continue
            points = rule.effects[0].points
            cid = rule.challenge_id
            if rule.budget_points is not None and points:
                if spent.get(cid, 0) + points > rule.budget_points:
                    continue
            used[key] = used.get(key, 0) + 1
            spent[cid] = spent.get(cid, 0) + points
            fired.append((index, rule.version_id, points))
            stopped = rule.exclusive
    return fired, spent


def worker_run(rules_, events_):
    index = RuleIndex([rule for _tree, rule in rules_])
    state, fired = State(), []
    for position, (member, facts_) in enumerate(events_):
        outcomes = evaluate(
            facts_,
            member_id=member,
            rules=index.candidates(facts_),
            state=state,
            explain=False,
        )
        for outcome in outcomes:
            if outcome.fired:
                points = sum(grant.points for grant in outcome.grants)
                fired.append((position, outcome.rule.version_id, points))
    return fired, state


PROPERTY = settings(max_examples=200, deadline=None)


@PROPERTY
@given(rules(), events())
def test_worker_evaluation_fires_exactly_what_the_reference_does(rules_, events_):
    expected, spent = reference_run(rules_, events_)
    fired, state = worker_run(rules_, events_)

    assert fired == expected
    # Budgets: never overspent, and the state's counters are the fired grants' sum.
    for _tree, rule in rules_:
        granted = state.points_granted.get(rule.challenge_id, 0)
        assert granted == spent.get(rule.challenge_id, 0)
        if rule.budget_points is not None:
            assert granted <= rule.budget_points


@PROPERTY
@given(rules(), events())
def test_the_index_only_skips_rules_whose_condition_fails(rules_, events_):
    index = RuleIndex([rule for _tree, rule in rules_])
    for _member, facts_ in events_:
        every = index.for_trigger(facts_.event.type)
        candidates = list(index.candidates(facts_))
        # A subsequence, in evaluation order...
        assert candidates == [rule for rule in every if rule in candidates]
        # ...that keeps every rule whose condition matches.
        for tree, rule in rules_:
            if rule in every and reference(tree, facts_):
                assert rule in candidates, (tree, facts_)


@PROPERTY
@given(TREES, facts())
def test_a_guard_is_necessary_for_its_predicate(tree, facts_):
    predicate = compile_(tree)
    guard = predicate.guard
    if guard is None or not predicate(facts_):
        return
    value = guard.getter(facts_)
    if guard.mode == SCALAR:
        assert value in guard.keys
    else:
        assert not guard.keys.isdisjoint(value)


@PROPERTY
@given(rules(), events())
def test_an_exclusive_rule_that_fires_stops_every_rule_below_it(rules_, events_):
    index = RuleIndex([rule for _tree, rule in rules_])
    state = State()
    for member, facts_ in events_:
        outcomes = evaluate(
            facts_, member_id=member, rules=index.for_trigger(facts_.event.type), state=state
        )
        stopper = next((o for o in outcomes if o.fired and o.rule.exclusive), None)
        if stopper is None:
            assert not any(o.stage == "stacking" for o in outcomes)
            continue
        below = outcomes[outcomes.index(stopper) + 1 :]
        assert [o.stage for o in below] == ["stacking"] * len(below)
        assert not any(o.fired for o in below)


@pytest.mark.parametrize(
    ("tree", "expected"),
    [
        ({}, None),
        ({"field": "event.staff", "op": "eq", "value": "a"}, ("event.staff", SCALAR, {"a"})),
        (
            {"field": "event.channel", "op": "in", "value": ["store", "app"]},
            ("event.channel", SCALAR, {"store", "app"}),
        ),
        (
            {"field": "event.lines.sku", "op": "contains", "value": "ab"},
            ("event.lines.sku", ELEMENTS, {"ab"}),
        ),
        (
            {"field": "event.lines.sku", "op": "contains_all", "value": ["ba", "a"]},
            ("event.lines.sku", ELEMENTS, {"a"}),
        ),
        # The sharpest of several conjuncts; a boolean only when nothing else guards.
        (
            {
                "all": [
                    {"field": "member.is_first_purchase", "op": "eq", "value": True},
                    {"field": "event.channel", "op": "in", "value": ["store", "app"]},
                    {"field": "event.staff", "op": "eq", "value": "ab"},
                ]
            },
            ("event.staff", SCALAR, {"ab"}),
        ),
        (
            {"all": [{"field": "member.is_first_purchase", "op": "eq", "value": True}]},
            ("member.is_first_purchase", SCALAR, {True}),
        ),
        # Alternatives that all guard the same field: the union of their keys.
        (
            {
                "any": [
                    {"field": "event.staff", "op": "eq", "value": "a"},
                    {"all": [{"field": "event.staff", "op": "in", "value": ["ab", "ba"]}]},
                ]
            },
            ("event.staff", SCALAR, {"a", "ab", "ba"}),
        ),
        # Alternatives on different fields, negations, ranges: no guard.
        (
            {
                "any": [
                    {"field": "event.staff", "op": "eq", "value": "a"},
                    {"field": "event.channel", "op": "eq", "value": "app"},
                ]
            },
            None,
        ),
        ({"not": {"field": "event.staff", "op": "eq", "value": "a"}}, None),
        ({"field": "event.amount", "op": "between", "value": [1, 2]}, None),
        ({"field": "event.staff", "op": "ne", "value": "a"}, None),
    ],
)
def test_guards_found_in_condition_trees(tree, expected):
    guard = compile_(tree).guard
    found = None if guard is None else (guard.field, guard.mode, set(guard.keys))
    assert found == expected


def test_an_event_meets_only_the_rules_its_values_name():
    def rule(n, tree):
        return Rule(n, n, f"r{n}", frozenset({"purchase"}), compile_(tree), (), START)

    sku = {"field": "event.lines.sku", "op": "contains", "value": "ab"}
    staff = {"field": "event.staff", "op": "eq", "value": "a"}
    broad = {"field": "event.amount", "op": "gte", "value": 0}
    index = RuleIndex([rule(1, sku), rule(2, staff), rule(3, broad), rule(4, staff)])
    plain = with_value(BASE, "event.staff", "ba")
    assert [r.version_id for r in index.candidates(plain)] == [3]
    served = with_value(with_value(BASE, "event.staff", "a"), "event.lines.sku", ["ab", "x"])
    assert [r.version_id for r in index.candidates(served)] == [1, 2, 3, 4]
    assert [r.version_id for r in index.for_trigger("purchase")] == [1, 2, 3, 4]
    assert index.candidates(replace(plain, event=replace(plain.event, type="visit"))) == ()
