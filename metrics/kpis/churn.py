"""Churn rate (docs/metrics.md, "Churn rate").

churn % = lost / active at the start x 100, where
- active at the start S: active at S (activity.py): joined before S, not withdrawn before S,
  a purchase counting at S within [S - lapse, S);
- lost: of those, the members who withdrew during the period, or whose last purchase
  counting at the end E lies before E - lapse (no purchase in [E - lapse, E)): they lapsed
  during the period. In an unfinished period E is the cutoff (lost so far).
Members who joined during the period are not in the base (they were not there at the start);
a member who came back after lapsing is not lost.

Members are sliced by their dimensions at the start of the period (the day before S): "churn
of new members" is the churn of the members who were new when the period began.
"""

import datetime as dt
from decimal import Decimal

from django.db.models import Case, Count, IntegerField, Max, Q, When
from django.db.models import Value as V
from django.utils.translation import gettext_noop

from ..formulas import behaviour
from . import activity, state
from .base import Kpi, Value, Window, register, shared, step_windows
from .rollup import compiled, rollup, temporary_table, whole
from .segments import DIMENSIONS, local_midnight

AGGREGATES = {
    "base": "SUM(CASE WHEN {before} > 0 THEN 1 ELSE 0 END)",
    "lost": "SUM(CASE WHEN {before} > 0 AND ({withdrew} = 1 OR {recent} = 0) THEN 1 ELSE 0 END)",
}


def churn_counts(start: dt.date, end: dt.date) -> dict[str, tuple[int, int]]:
    """{segment: (active at the start, lost by the end)} for the period [start, end); shared
    within a run step (LTV reads the churn of the trailing year)."""
    kept = state.churn(start, end)
    if kept is not None:
        return kept
    return shared(("churn", start, end), lambda: _from_spans_or_books(start, end))


def _from_spans_or_books(start: dt.date, end: dt.date) -> dict[str, tuple[int, int]]:
    kept = state.churn_since(start, end)
    return kept if kept is not None else _churn_counts(start, end)


def _churn_counts(start: dt.date, end: dt.date) -> dict[str, tuple[int, int]]:
    starts = sorted({w.start for w in step_windows() if w.as_of == end})
    if start in starts and len(starts) > 1:
        # Several windows of this run step are measured at `end` (a night's day, week, month
        # and quarter): one pass over the purchases into a temporary table gives every
        # member's counts for all their starts, then each window slices its own.
        name = shared(
            ("churn_facts", end, tuple(starts)),
            lambda: temporary_table(f"kpi_churn_{end:%Y%m%d}", compiled(_facts(starts, end))),
        )
        source, params = name, []
    else:  # a window on its own (or LTV's trailing year)
        starts = [start]
        sql, params = compiled(_facts(starts, end))
        source = f"({sql}) c"
    i = starts.index(start)
    facts = (
        f"SELECT member_id, before_{i} AS before, recent, withdrew FROM {source}"  # noqa: S608
        f" WHERE before_{i} > 0",
        params,
    )
    rows = rollup(facts=facts, aggregates=AGGREGATES, at=start - dt.timedelta(days=1))
    return {segment: (whole(row["base"]), whole(row["lost"])) for segment, row in rows.items()}


def _facts(starts: list[dt.date], end: dt.date):
    """One row per member with a purchase in the widest window: before_<i> (purchases
    counting at starts[i] in its lapse window, while a member then), recent (purchases
    counting at the end in its lapse window) and withdrew (before the end)."""
    from loyalty.models import Purchase

    lapse = dt.timedelta(days=activity.lapse_days())
    e = local_midnight(end)
    befores = {}
    for i, day in enumerate(starts):
        s = local_midnight(day)
        befores[f"before_{i}"] = Count(
            "id",
            filter=Q(occurred_at__gte=s - lapse, occurred_at__lt=s)
            & activity.counted_at(s)
            & activity.member_was_member(s, "member__"),
        )
    withdrew = Case(
        When(member__withdrawn_at__lt=e, then=V(1)), default=V(0), output_field=IntegerField()
    )
    return (
        Purchase.objects.filter(
            occurred_at__gte=local_midnight(starts[0]) - lapse, occurred_at__lt=e
        )
        .order_by()
        .values("member_id")
        .annotate(
            **befores,
            recent=Count("id", filter=Q(occurred_at__gte=e - lapse) & activity.counted_at(e)),
            withdrew=Max(withdrew),
        )
    )


def churn_rate_compute(window: Window) -> list[Value]:
    values = []
    for segment, (base, lost) in churn_counts(window.start, window.as_of).items():
        values.append(
            Value(
                segment=segment,
                value=behaviour.churn_rate(lost=lost, active_at_start=base),
                numerator=Decimal(lost),
                denominator=Decimal(base),
                n=base,
            )
        )
    return values


CHURN_RATE = register(
    Kpi(
        code="churn_rate",
        label=gettext_noop("Churn rate"),
        unit="percent",
        compute=churn_rate_compute,
        higher_is_better=False,
        group="behaviour",
        dimensions=DIMENSIONS,
    )
)
