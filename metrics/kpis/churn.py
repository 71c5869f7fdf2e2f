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
from . import activity
from .base import Kpi, Value, Window, register, shared
from .rollup import rollup, whole
from .segments import DIMENSIONS, local_midnight

AGGREGATES = {
    "base": "SUM(CASE WHEN {before} > 0 THEN 1 ELSE 0 END)",
    "lost": "SUM(CASE WHEN {before} > 0 AND ({withdrew} = 1 OR {recent} = 0) THEN 1 ELSE 0 END)",
}


def churn_counts(start: dt.date, end: dt.date) -> dict[str, tuple[int, int]]:
    """{segment: (active at the start, lost by the end)} for the period [start, end); shared
    within a run step (LTV reads the churn of the trailing year)."""
    return shared(("churn", start, end), lambda: _churn_counts(start, end))


def _churn_counts(start: dt.date, end: dt.date) -> dict[str, tuple[int, int]]:
    from loyalty.models import Purchase

    lapse = dt.timedelta(days=activity.lapse_days())
    s, e = local_midnight(start), local_midnight(end)
    facts = (
        Purchase.objects.filter(occurred_at__gte=s - lapse, occurred_at__lt=e)
        .filter(activity.member_was_member(s, "member__"))
        .order_by()
        .values("member_id")
        .annotate(
            before=Count("id", filter=Q(occurred_at__lt=s) & activity.counted_at(s)),
            recent=Count("id", filter=Q(occurred_at__gte=e - lapse) & activity.counted_at(e)),
            withdrew=Max(
                Case(
                    When(member__withdrawn_at__lt=e, then=V(1)),
                    default=V(0),
                    output_field=IntegerField(),
                )
            ),
        )
        .filter(before__gt=0)
    )
    rows = rollup(facts=facts, aggregates=AGGREGATES, at=start - dt.timedelta(days=1))
    return {segment: (whole(row["base"]), whole(row["lost"])) for segment, row in rows.items()}


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
