"""Challenge effectiveness (docs/metrics.md, "Challenges"): one value per challenge, segment
"challenge:<code>", and "all" for the programme's challenges together.

Everything is dated by the business time of the event the challenge answered
(Event.occurred_at, copied onto each Award as its occurred_at), so a late-processed or
staff-verified award counts when its event happened.
- challenge_joiners: distinct members with an award of the challenge for an event in the
  period, or whose progress towards its goal started in the period (GoalProgress.started_at,
  the time of the event that first made progress): a member on the way to a goal has
  joined; one who started before the period and neither completed nor started a new window
  in it has not joined in this period.
- challenge_completions: times it fired (events that produced points or a coupon); n is
  the distinct members who completed it.
- challenge_points: points granted (before any reversal by a return; what the budget
  counts); challenge_coupons: coupons issued, and in details those of its coupons used in
  the period.
- challenge_budget_used: points (and coupons) granted from the start up to the end of the
  period / the budget of its current version x 100; with both budgets the higher share.
  None without a budget.
- challenge_repeat_completers / challenge_repeat_others: the share who made a purchase in
  the FOLLOW_UP_DAYS (90) days after the period, among the members active at the end of the
  period who completed the challenge in it, and among those who did not (the comparable
  non-completers: the same active population, minus the completers). Details carry the
  other group's rate and the lift (completers - others, in points). Computed once the period
  is over, up to the cutoff while the follow-up runs (details: follow_up_through,
  complete); the nightly run recomputes a window until its follow-up is complete.
Rows: every challenge that was running during the period (a version overlapping it, not a
draft) or has awards (joiners: or started goals) in it, so a challenge nobody joined shows 0.
"""

import datetime as dt
from decimal import Decimal

from django.db.models import Case, Count, F, IntegerField, Max, Q, Sum, When
from django.db.models import Value as V
from django.utils.translation import gettext_noop

from ..formulas import behaviour
from . import activity, state
from .base import Kpi, Value, Window, register, shared
from .rollup import compiled, rollup
from .segments import local_midnight

FOLLOW_UP_DAYS = 90
FIRED = ("points", "coupon")
PREFIX = "challenge:"
CODE = "version__challenge__code"


def _segment(code: str | None) -> str:
    return "all" if code is None else f"{PREFIX}{code}"


def running_challenges(start: dt.datetime, end: dt.datetime) -> set[str]:
    from challenges.models import ChallengeVersion

    return set(
        ChallengeVersion.objects.filter(starts_at__lt=end)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=start))
        .exclude(challenge__status="draft")
        .values_list("challenge__code", flat=True)
        .distinct()
    )


def awards_between(start: dt.datetime, end: dt.datetime):
    from challenges.models import Award

    return Award.objects.filter(occurred_at__gte=start, occurred_at__lt=end)


def _grouped(queryset, **aggregates) -> dict[str, dict]:
    """{segment: totals} for "all" and per challenge code: two grouped queries."""
    rows = {"all": queryset.aggregate(**aggregates)}
    for row in queryset.order_by().values(challenge_code=F(CODE)).annotate(**aggregates):
        rows[_segment(row.pop("challenge_code"))] = row
    return rows


def _rows_for(window: Window, found: dict[str, dict]) -> list[str]:
    start, end = local_midnight(window.start), local_midnight(window.as_of)
    codes = {_segment(code) for code in running_challenges(start, end)}
    return ["all", *sorted((codes | found.keys()) - {"all"})]


def _activity(window: Window) -> tuple[list[str], dict[str, dict]]:
    """Segments and award totals of the period: shared by completions, points, coupons and
    budget (and joiners' segments) within a run step."""
    return shared(("challenge_activity", window.start, window.as_of), lambda: _awards(window))


def _awards(window: Window) -> tuple[list[str], dict[str, dict]]:
    start, end = local_midnight(window.start), local_midnight(window.as_of)
    found = _grouped(
        awards_between(start, end),
        completions=Count("event", distinct=True, filter=Q(kind__in=FIRED)),
        completers=Count("member", distinct=True, filter=Q(kind__in=FIRED)),
        points=Sum("points", filter=Q(kind="points"), default=0),
        coupons=Count("pk", filter=Q(kind="coupon")),
    )
    # A completion is one challenge firing on one event: the programme's total is the sum
    # over challenges (one event may complete several).
    found["all"]["completions"] = sum(
        row["completions"] for segment, row in found.items() if segment != "all"
    )
    return _rows_for(window, found), found


def _count(segment: str, value: int, n: int | None = None, **details) -> Value:
    return Value(
        segment=segment, value=Decimal(value), n=value if n is None else n, details=details
    )


def _joiners(window: Window) -> dict[str, int]:
    """{segment: joiners}: the (member, challenge) pairs of the period's awards and of the
    goals started in it, counted distinct in one statement ("all" and per challenge)."""
    from challenges.models import GoalProgress

    start, end = local_midnight(window.start), local_midnight(window.as_of)
    awarded = awards_between(start, end).order_by().values("member_id", code=F(CODE))
    started = (
        GoalProgress.objects.filter(started_at__gte=start, started_at__lt=end)
        .order_by()
        .values("member_id", code=F("challenge__code"))
    )
    rows = rollup(
        facts=awarded.union(started, all=True),
        aggregates={"joiners": "COUNT(DISTINCT {member_id})"},
        at=None,
        dims=(),
        fact_dims=("code",),
    )
    return {segment: row["joiners"] for segment, row in _by_challenge(rows).items()}


def _by_challenge(rows: dict[str, dict]) -> dict[str, dict]:
    """rollup's groups by the fact column "code" ("code:<value>") as challenge segments."""
    return {
        segment if segment == "all" else _segment(segment.split(":", 1)[1]): row
        for segment, row in rows.items()
    }


def joiners_compute(window: Window) -> list[Value]:
    segments, _found = _activity(window)
    joiners = _joiners(window)
    segments = ["all", *sorted((set(segments) | joiners.keys()) - {"all"})]
    return [_count(s, joiners.get(s, 0)) for s in segments]


def completions_compute(window: Window) -> list[Value]:
    segments, found = _activity(window)
    return [
        _count(s, found.get(s, {}).get("completions", 0), found.get(s, {}).get("completers", 0))
        for s in segments
    ]


def points_compute(window: Window) -> list[Value]:
    segments, found = _activity(window)
    return [
        _count(s, found.get(s, {}).get("points", 0), found.get(s, {}).get("completers", 0))
        for s in segments
    ]


def coupons_compute(window: Window) -> list[Value]:
    from loyalty.models import Coupon

    segments, found = _activity(window)
    start, end = local_midnight(window.start), local_midnight(window.as_of)
    used = Coupon.objects.filter(
        challenge_version__isnull=False, used_at__gte=start, used_at__lt=end
    )
    used_by = {"all": used.count()}
    for row in (
        used.order_by()
        .values(challenge_code=F("challenge_version__challenge__code"))
        .annotate(n=Count("pk"))
    ):
        used_by[_segment(row["challenge_code"])] = row["n"]
    return [
        _count(s, found.get(s, {}).get("coupons", 0), used_in_period=used_by.get(s, 0))
        for s in segments
    ]


def budget_used_compute(window: Window) -> list[Value]:
    from challenges.models import Challenge

    end = local_midnight(window.as_of)
    # Everything granted up to the end: the same for every window measured at that date.
    granted = shared(("challenge_granted", end), lambda: _granted(end))
    budgets = {
        code: (points, coupons)
        for code, points, coupons in Challenge.objects.filter(
            current_version__isnull=False
        ).values_list("code", "current_version__budget_points", "current_version__budget_coupons")
    }
    segments, _found = _activity(window)
    values = []
    for segment in segments:
        if segment == "all":
            continue
        code = segment[len(PREFIX) :]
        points = granted.get(code, {}).get("points", 0)
        coupons = granted.get(code, {}).get("coupons", 0)
        points_budget, coupons_budget = budgets.get(code, (None, None))
        shares = {
            "points": behaviour.budget_used(granted=points, budget=points_budget),
            "coupons": behaviour.budget_used(granted=coupons, budget=coupons_budget),
        }
        defined = [share for share in shares.values() if share is not None]
        values.append(
            Value(
                segment=segment,
                value=max(defined) if defined else None,
                n=granted.get(code, {}).get("fired", 0),
                details={
                    "points_granted": points,
                    "points_budget": points_budget,
                    "points_used": _text(shares["points"]),
                    "coupons_granted": coupons,
                    "coupons_budget": coupons_budget,
                    "coupons_used": _text(shares["coupons"]),
                },
            )
        )
    return values


def _granted(end: dt.datetime) -> dict[str, dict]:
    from challenges.models import Award

    return {
        row["challenge_code"]: row
        for row in Award.objects.filter(occurred_at__lt=end)
        .order_by()
        .values(challenge_code=F(CODE))
        .annotate(
            points=Sum("points", filter=Q(kind="points"), default=0),
            coupons=Count("pk", filter=Q(kind="coupon")),
            fired=Count("event", distinct=True, filter=Q(kind__in=FIRED)),
        )
    }


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def repeat_comparison(window: Window) -> list[tuple[str, dict]]:
    """(segment, counts and rates) of completers and comparable non-completers; empty while
    the period is not over. Shared by the two KPIs within a run step."""
    return shared(("challenge_repeat", window), lambda: _repeat_comparison(window))


def _repeat_comparison(window: Window) -> list[tuple[str, dict]]:
    from members.models import Member

    if not window.finished:
        return []
    end = local_midnight(window.end)
    follow_up_end_day = window.end + dt.timedelta(days=FOLLOW_UP_DAYS)
    through = min(follow_up_end_day, window.cutoff or follow_up_end_day)
    follow_up_end = local_midnight(through)
    kept = state.follow_up(end, through)
    covering = None
    if kept is not None:  # the member state's active spans and last purchases
        base, repeaters, totals_of, covering = kept
    else:
        follow_up = activity.purchases_counted(end, follow_up_end, at=follow_up_end)
        base = activity.active_purchases(end).values("member_id")
        # Uncorrelated membership tests: the database hashes the follow-up's buyers once.
        repeaters = follow_up.values("member_id")

        def totals_of():
            return Member.objects.filter(pk__in=base).aggregate(
                members=Count("pk"), repeat=Count("pk", filter=Q(pk__in=repeaters))
            )

    # The comparable population depends on the end and the follow-up only: a day and the
    # week it closes share it.
    totals = shared(("challenge_repeat_totals", end, follow_up_end), totals_of)
    # One row per (completer, challenge), then distinct completers and repeaters for "all"
    # and per challenge in one statement.
    awards = awards_between(local_midnight(window.start), end).filter(kind__in=FIRED).order_by()
    if covering is not None:
        # Joined, not tested for membership: each completer's span covering the end is
        # probed by member, where a membership test hashed the hundreds of thousands of
        # members active then for every window.
        sql, params = compiled(awards.values("member_id", code=F(CODE)))
        spans_sql, spans_params = covering
        completed = (
            "SELECT a.member_id, a.code, MAX(f.bought) AS repeater"  # noqa: S608
            f" FROM ({sql}) a INNER JOIN ({spans_sql}) f ON f.member_id = a.member_id"
            " GROUP BY a.member_id, a.code",
            [*params, *spans_params],
        )
    else:
        completed = (
            awards.filter(member_id__in=base)
            .values("member_id", code=F(CODE))
            .annotate(
                repeater=Max(
                    Case(When(member_id__in=repeaters, then=V(1)), default=V(0)),
                    output_field=IntegerField(),
                )
            )
        )
    found = _by_challenge(
        rollup(
            facts=completed,
            aggregates={
                "completers": "COUNT(DISTINCT {member_id})",
                "repeat": "COUNT(DISTINCT CASE WHEN {repeater} = 1 THEN {member_id} END)",
            },
            at=None,
            dims=(),
            fact_dims=("code",),
        )
    )
    details = {
        "follow_up_days": FOLLOW_UP_DAYS,
        "follow_up_through": (through - dt.timedelta(days=1)).isoformat(),
        "complete": through == follow_up_end_day,
    }
    out = []
    for segment in _rows_for(window, found):
        completers = found.get(segment, {}).get("completers", 0)
        repeat = found.get(segment, {}).get("repeat", 0)
        others = totals["members"] - completers
        others_repeat = totals["repeat"] - repeat
        completers_rate = behaviour.percent(repeat, completers)
        others_rate = behaviour.percent(others_repeat, others)
        out.append(
            (
                segment,
                {
                    "completers": (completers_rate, repeat, completers),
                    "others": (others_rate, others_repeat, others),
                    "lift": behaviour.difference(completers_rate, others_rate),
                    **details,
                },
            )
        )
    return out


def _repeat_values(window: Window, group: str, other: str) -> list[Value]:
    values = []
    for segment, row in repeat_comparison(window):
        rate, repeat, members = row[group]
        values.append(
            Value(
                segment=segment,
                value=rate,
                numerator=Decimal(repeat),
                denominator=Decimal(members),
                n=members,
                details={
                    f"{other}_rate": _text(row[other][0]),
                    "lift": _text(row["lift"]),
                    "follow_up_days": row["follow_up_days"],
                    "follow_up_through": row["follow_up_through"],
                    "complete": row["complete"],
                },
            )
        )
    return values


def repeat_completers_compute(window: Window) -> list[Value]:
    return _repeat_values(window, "completers", "others")


def repeat_others_compute(window: Window) -> list[Value]:
    return _repeat_values(window, "others", "completers")


def _challenge_kpi(code: str, label: str, unit: str, compute, **extra) -> Kpi:
    return register(
        Kpi(
            code=code,
            label=label,
            unit=unit,
            compute=compute,
            group="challenges",
            dimensions=("challenge",),
            **extra,
        )
    )


JOINERS = _challenge_kpi(
    "challenge_joiners", gettext_noop("Challenge joiners"), "count", joiners_compute
)
COMPLETIONS = _challenge_kpi(
    "challenge_completions", gettext_noop("Challenge completions"), "count", completions_compute
)
POINTS = _challenge_kpi(
    "challenge_points", gettext_noop("Challenge points granted"), "points", points_compute
)
COUPONS = _challenge_kpi(
    "challenge_coupons", gettext_noop("Challenge coupons issued"), "count", coupons_compute
)
BUDGET_USED = _challenge_kpi(
    "challenge_budget_used",
    gettext_noop("Challenge budget used"),
    "percent",
    budget_used_compute,
    higher_is_better=False,
)
REPEAT_COMPLETERS = _challenge_kpi(
    "challenge_repeat_completers",
    gettext_noop("Repeat purchase within 90 days: completers"),
    "percent",
    repeat_completers_compute,
    follow_up_days=FOLLOW_UP_DAYS,
)
REPEAT_OTHERS = _challenge_kpi(
    "challenge_repeat_others",
    gettext_noop("Repeat purchase within 90 days: comparable non-completers"),
    "percent",
    repeat_others_compute,
    follow_up_days=FOLLOW_UP_DAYS,
)
