"""Which rules fire for an event, and what they grant: pure Python, no queries.

The Django layer (challenges/processing.py) loads everything an evaluation needs in bulk (the
active rules, the members, their limit counters, budgets and goal progress), calls `evaluate`
for each event in order and writes the outcomes. Dry-run calls the same function on a copy of
the state and writes nothing, so "what would happen" and "what happened" cannot drift apart.

Order and stacking: rules are tried by priority (highest first, then oldest challenge). A rule
that fires (grants, completes its goal, or waits for staff verification) and is exclusive
stops every lower-priority rule for that event. Goal progress alone does not count as firing.
"""

import datetime as dt
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Protocol

from .conditions import ELEMENTS
from .facts import Facts

# Member segments an audience may name (also used by the KPI slices).
NEW_MEMBER_DAYS = 90
DORMANT_AFTER_DAYS = 180
SEGMENTS = ("new", "existing", "dormant")

PROGRESS_EFFECT_INDEX = 255  # the Award slot that records one event's goal progress


class Predicate(Protocol):
    def __call__(self, facts: Facts) -> bool: ...

    def explain(self, facts: Facts): ...


@dataclass(frozen=True, slots=True)
class Effect:
    kind: str  # points | points_per_amount | multiplier | coupon
    points: int = 0  # points; points_per_amount: points per `per` yen
    per: int = 0  # points_per_amount: yen
    factor: Decimal = Decimal(1)  # multiplier of the purchase's base points (2 = double)
    template: str = ""  # coupon template code


@dataclass(frozen=True, slots=True)
class Goal:
    kind: str  # count | total_spend | streak_weeks
    target: int
    window: str = "campaign"  # campaign | month | week | day (streaks: campaign)


@dataclass(frozen=True, slots=True)
class Rule:
    version_id: int
    challenge_id: int
    name: str
    triggers: frozenset[str]
    predicate: Predicate
    effects: tuple[Effect, ...]
    starts_at: dt.datetime
    ends_at: dt.datetime | None = None
    goal: Goal | None = None
    limit_count: int | None = None
    limit_period: str = "campaign"
    budget_points: int | None = None
    budget_coupons: int | None = None
    priority: int = 0
    exclusive: bool = False
    audience_tiers: frozenset[str] = frozenset()
    audience_stores: frozenset[str] = frozenset()
    audience_segments: frozenset[str] = frozenset()
    requires_verification: bool = False


@dataclass(slots=True)
class Progress:
    value: int = 0
    last_step: str = ""
    completed: bool = False


@dataclass(slots=True)
class State:
    """What evaluation reads and advances; the Django layer loads it for a batch and writes
    back what changed. Keys: limits (member, challenge, period), progress (member, challenge,
    window); budgets per challenge."""

    limits: dict[tuple[int, int, str], int] = field(default_factory=dict)
    points_granted: dict[int, int] = field(default_factory=dict)
    coupons_granted: dict[int, int] = field(default_factory=dict)
    progress: dict[tuple[int, int, str], Progress] = field(default_factory=dict)

    def copy(self) -> "State":
        return State(
            limits=dict(self.limits),
            points_granted=dict(self.points_granted),
            coupons_granted=dict(self.coupons_granted),
            progress={key: replace(value) for key, value in self.progress.items()},
        )


@dataclass(frozen=True, slots=True)
class Grant:
    effect_index: int
    kind: str  # points | coupon
    points: int = 0
    template: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    rule: Rule
    fired: bool
    reason: str
    grants: tuple[Grant, ...] = ()
    needs_verification: bool = False
    progress: Progress | None = None  # the goal's state after this event
    progress_window: str = ""
    failed_path: str = ""  # the condition leaf that failed, when that is the reason

    @property
    def stage(self) -> str:
        """Short machine-readable cause, for the API and tests."""
        return self.reason.split(":", 1)[0]


def period_key(period: str, day: dt.date) -> str:
    if period == "day":
        return day.isoformat()
    if period == "week":
        year, week, _weekday = day.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{day.year}-{day.month:02d}"
    return "campaign"


def _previous_week(key: str) -> str:
    year, week = int(key[:4]), int(key[6:])
    monday = dt.date.fromisocalendar(year, week, 1) - dt.timedelta(days=7)
    return period_key("week", monday)


def member_segment(facts: Facts) -> str:
    member = facts.member
    if member.days_since_joined < NEW_MEMBER_DAYS:
        return "new"
    last = member.days_since_last_purchase
    if last is None or last >= DORMANT_AFTER_DAYS:
        return "dormant"
    return "existing"


def effect_grants(rule: Rule, facts: Facts, *, base_points: int) -> tuple[Grant, ...]:
    """The grants the rule's effects are worth for this event (zero-point grants dropped)."""
    grants = []
    amount = facts.event.amount or 0
    for index, effect in enumerate(rule.effects):
        if effect.kind == "coupon":
            grants.append(Grant(index, "coupon", template=effect.template))
            continue
        if effect.kind == "points":
            points = effect.points
        elif effect.kind == "points_per_amount":
            points = (amount // effect.per) * effect.points if effect.per > 0 else 0
        elif effect.kind == "multiplier":
            points = math.floor(base_points * (effect.factor - 1))
        else:  # validated when the version is saved; never reached with stored rules
            raise ValueError(f"unknown effect kind {effect.kind!r}")
        if points > 0:
            grants.append(Grant(index, "points", points=points))
    return tuple(grants)


def _audience_refusal(rule: Rule, facts: Facts) -> str:
    member = facts.member
    if rule.audience_tiers and member.tier not in rule.audience_tiers:
        return f"audience: tier {member.tier or '-'} is not one of {sorted(rule.audience_tiers)}"
    if rule.audience_stores and member.home_store not in rule.audience_stores:
        return (
            f"audience: home store {member.home_store or '-'} is not one of "
            f"{sorted(rule.audience_stores)}"
        )
    if rule.audience_segments:
        segment = member_segment(facts)
        if segment not in rule.audience_segments:
            return f"audience: segment {segment} is not one of {sorted(rule.audience_segments)}"
    return ""


def budget_refusal(rule: Rule, grants: Iterable[Grant], state: State) -> str:
    points = sum(g.points for g in grants)
    coupons = sum(1 for g in grants if g.kind == "coupon")
    if rule.budget_points is not None and points:
        used = state.points_granted.get(rule.challenge_id, 0)
        if used + points > rule.budget_points:
            return f"budget: points budget {rule.budget_points} has {used} used, needs {points}"
    if rule.budget_coupons is not None and coupons:
        used = state.coupons_granted.get(rule.challenge_id, 0)
        if used + coupons > rule.budget_coupons:
            return f"budget: coupon budget {rule.budget_coupons} has {used} used, needs {coupons}"
    return ""


def _advance(goal: Goal, progress: Progress, facts: Facts) -> Progress:
    new = replace(progress)
    if goal.kind == "count":
        new.value += 1
    elif goal.kind == "total_spend":
        new.value += facts.event.amount or 0
    elif goal.kind == "streak_weeks":
        week = period_key("week", facts.event.local_date)
        if week != progress.last_step:
            consecutive = progress.last_step and _previous_week(week) == progress.last_step
            new.value = progress.value + 1 if consecutive else 1
            new.last_step = week
    return new


def _try_rule(
    rule: Rule, facts: Facts, member_id: int, state: State, base_points: int, explain: bool
) -> Outcome:
    event = facts.event
    if event.type not in rule.triggers:
        return Outcome(rule, False, f"trigger: not triggered by {event.type}")
    if event.occurred_at < rule.starts_at or (rule.ends_at and event.occurred_at >= rule.ends_at):
        return Outcome(rule, False, "period: the event is outside the challenge period")
    refusal = _audience_refusal(rule, facts)
    if refusal:
        return Outcome(rule, False, refusal)
    if not rule.predicate(facts):
        if not explain:
            return Outcome(rule, False, "condition: not met")
        explanation = rule.predicate.explain(facts)
        where = f"{explanation.path}: " if explanation.path else ""
        return Outcome(
            rule,
            False,
            f"condition: {where}{explanation.reason}",
            failed_path=explanation.path,
        )
    day = event.local_date
    limit_key = (member_id, rule.challenge_id, period_key(rule.limit_period, day))
    if rule.limit_count is not None and state.limits.get(limit_key, 0) >= rule.limit_count:
        return Outcome(
            rule, False, f"limit: already {rule.limit_count} time(s) ({rule.limit_period})"
        )
    progress_after, window = None, ""
    if rule.goal is not None:
        window = period_key(rule.goal.window, day)
        before = state.progress.get((member_id, rule.challenge_id, window), Progress())
        if before.completed:
            return Outcome(rule, False, f"goal: already completed ({window})")
        progress_after = _advance(rule.goal, before, facts)
        if progress_after.value < rule.goal.target:
            return Outcome(
                rule,
                False,
                f"goal: progress {progress_after.value} of {rule.goal.target}",
                progress=progress_after,
                progress_window=window,
            )
        progress_after.completed = True
    grants = effect_grants(rule, facts, base_points=base_points)
    refusal = budget_refusal(rule, grants, state)
    if refusal:
        # The goal is met but unpaid: keep the progress, not the completion, so a later
        # budget increase pays at the next matching event.
        if progress_after is not None:
            progress_after.completed = False
        return Outcome(rule, False, refusal, progress=progress_after, progress_window=window)
    if rule.requires_verification:
        return Outcome(
            rule,
            True,
            "verification: waiting for staff",
            grants=grants,
            needs_verification=True,
            progress=progress_after,
            progress_window=window,
        )
    return Outcome(
        rule,
        True,
        "fired",
        grants=grants,
        progress=progress_after,
        progress_window=window,
    )


def apply(outcome: Outcome, member_id: int, day: dt.date, state: State) -> None:
    """Count what an outcome used: limits, budgets, progress."""
    rule = outcome.rule
    if outcome.progress is not None:
        state.progress[(member_id, rule.challenge_id, outcome.progress_window)] = outcome.progress
    if not outcome.fired or outcome.needs_verification:
        return
    record_grants(rule, outcome.grants, member_id, day, state)


def record_grants(
    rule: Rule, grants: Iterable[Grant], member_id: int, day: dt.date, state: State
) -> None:
    grants = tuple(grants)
    key = (member_id, rule.challenge_id, period_key(rule.limit_period, day))
    state.limits[key] = state.limits.get(key, 0) + 1
    cid = rule.challenge_id
    state.points_granted[cid] = state.points_granted.get(cid, 0) + sum(g.points for g in grants)
    coupons = sum(1 for g in grants if g.kind == "coupon")
    state.coupons_granted[cid] = state.coupons_granted.get(cid, 0) + coupons


def evaluate(
    facts: Facts,
    *,
    member_id: int,
    rules: Iterable[Rule],
    state: State,
    base_points: int = 0,
    on_outcome: Callable[[Outcome], None] | None = None,
    explain: bool = True,
) -> list[Outcome]:
    """Evaluate one event against `rules`, given in evaluation order (see `in_order` and
    `RuleIndex`), advancing `state`. Returns an outcome for every rule; with
    `explain=False` (the worker) a failed condition is not explained, which is most of the
    cost of a rule that does not fire."""
    outcomes = []
    stopped_by = None
    for rule in rules:
        if stopped_by is not None:
            outcome = Outcome(rule, False, f"stacking: exclusive rule {stopped_by!r} fired first")
        else:
            outcome = _try_rule(rule, facts, member_id, state, base_points, explain)
            apply(outcome, member_id, facts.event.local_date, state)
            if outcome.fired and rule.exclusive:
                stopped_by = rule.name
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes


def _rule_order(rule: Rule) -> tuple[int, int]:
    return (-rule.priority, rule.challenge_id)


def in_order(rules: Iterable[Rule]) -> list[Rule]:
    return sorted(rules, key=_rule_order)


class RuleIndex:
    """Rules per event type, each list in evaluation order, and for the worker a lookup of
    the rules an event can possibly fire: a rule whose condition has a guard (an equality-like
    leaf every match needs, see conditions.Guard) is filed under the guard's keys, so an event
    meets only the rules its own values name plus the rules without a guard. Evaluation cost
    then grows with the rules that concern an event, not with every active rule.

    Skipping a rule this way changes nothing the worker writes: its condition would have
    failed, and a rule whose condition fails neither grants, counts nor stops other rules."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        by_trigger: dict[str, list[Rule]] = {}
        for rule in sorted(rules, key=_rule_order):
            for trigger in rule.triggers:
                by_trigger.setdefault(trigger, []).append(rule)
        self._rules = {trigger: tuple(found) for trigger, found in by_trigger.items()}
        self._lookups = {trigger: _TriggerLookup(found) for trigger, found in by_trigger.items()}

    def for_trigger(self, event_type: str) -> tuple[Rule, ...]:
        """Every rule an event of this type triggers, in evaluation order (dry-run, loading)."""
        return self._rules.get(event_type, ())

    def candidates(self, facts: Facts) -> Sequence[Rule]:
        """The rules `facts` can fire, in evaluation order: a subsequence of for_trigger."""
        lookup = self._lookups.get(facts.event.type)
        return lookup.candidates(facts) if lookup is not None else ()


class _TriggerLookup:
    __slots__ = ("rules", "slots", "unguarded", "unguarded_positions")

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = tuple(rules)
        tables: dict[tuple[str, str, str], tuple[Callable, bool, dict]] = {}
        unguarded = []
        for position, rule in enumerate(rules):
            guard = getattr(rule.predicate, "guard", None)
            if guard is None:
                unguarded.append(position)
                continue
            getter, elements, table = tables.setdefault(
                guard.slot, (guard.getter, guard.mode == ELEMENTS, {})
            )
            for key in guard.keys:
                table.setdefault(key, []).append(position)
        self.slots = tuple(tables.values())
        self.unguarded_positions = tuple(unguarded)
        self.unguarded = tuple(self.rules[p] for p in unguarded)

    def candidates(self, facts: Facts) -> Sequence[Rule]:
        hits: list[int] = []
        for getter, elements, table in self.slots:
            value = getter(facts)
            if value is None:
                continue
            if elements:
                for element in value:
                    found = table.get(element)
                    if found:
                        hits.extend(found)
            else:
                found = table.get(value)
                if found:
                    hits.extend(found)
        if not hits:
            return self.unguarded
        rules = self.rules
        return [rules[p] for p in sorted({*self.unguarded_positions, *hits})]
