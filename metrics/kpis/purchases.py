"""Purchase frequency and average order value (docs/metrics.md, "Purchases").

- purchase_frequency: purchases per buying member per year, over the trailing year
  [as_of - 12 months, as_of): purchases counting at as_of / members who made one.
- average_order_value: over the period [start, as_of): net sales (totals minus what was
  returned before as_of) / purchases counting at as_of. A purchase returned in full does not
  count (neither its amount nor as a purchase); a partly returned one counts once, for what
  was kept.

Purchases of withdrawn members count: they were made. Sliced by the member's dimensions on
the last measured day and by the purchase channel (online, store, app).
"""

import datetime as dt
from decimal import Decimal

from django.db.models import Count, Sum
from django.utils.translation import gettext_noop

from ..formulas import behaviour
from . import activity, state
from .base import Kpi, Value, Window, register, shared
from .rollup import rollup, whole
from .segments import DIMENSIONS, local_midnight

CHANNEL = ("channel",)
PURCHASE_DIMENSIONS = (*DIMENSIONS, *CHANNEL)
_DAY = dt.timedelta(days=1)


AGGREGATES = {
    "buyers": "COUNT(*)",
    "purchases": "SUM({purchases})",
    "net": "SUM({net})",
    "repeaters": "SUM(CASE WHEN {purchases} >= 2 THEN 1 ELSE 0 END)",
}


def buyer_rollup(*, start: dt.date, end: dt.date) -> dict[str, dict]:
    """Purchases in [start, end) counting at `end`: buyers, purchases, net sales and
    repeaters (members with 2+), by the member dimensions on the day before `end` (one fact
    row per member) and by channel (one per member and channel). Shared within a run step:
    frequency, repeat rate (over 12 months) and LTV read the same trailing year."""
    kept = state.buyers(start, end)
    if kept is not None:
        return kept
    return shared(("buyers", start, end), lambda: _buyer_rollup(start, end))


def _buyer_rollup(start: dt.date, end: dt.date) -> dict[str, dict]:
    at = local_midnight(end)
    purchases = activity.purchases_counted(local_midnight(start), at, at=at)
    per = {"purchases": Count("id"), "net": Sum(activity.net_amount_at(at))}
    rows = rollup(
        facts=purchases.values("member_id").annotate(**per),
        aggregates=AGGREGATES,
        at=end - _DAY,
    )
    by_channel = rollup(
        facts=purchases.values("member_id", "channel").annotate(**per),
        aggregates=AGGREGATES,
        at=None,
        dims=(),
        fact_dims=CHANNEL,
    )
    by_channel.pop("all")
    return {**rows, **by_channel}


def year_before(day: dt.date) -> dt.date:
    return activity.months_before(day, 12)


def purchase_frequency_compute(window: Window) -> list[Value]:
    rows = buyer_rollup(start=year_before(window.as_of), end=window.as_of)
    values = []
    for segment, row in rows.items():
        buyers, purchases = whole(row["buyers"]), whole(row["purchases"])
        values.append(
            Value(
                segment=segment,
                value=behaviour.purchase_frequency(purchases=purchases, buyers=buyers),
                numerator=Decimal(purchases),
                denominator=Decimal(buyers),
                n=buyers,
            )
        )
    return values


def average_order_value_compute(window: Window) -> list[Value]:
    rows = buyer_rollup(start=window.start, end=window.as_of)
    values = []
    for segment, row in rows.items():
        purchases, net = whole(row["purchases"]), whole(row["net"])
        values.append(
            Value(
                segment=segment,
                value=behaviour.average_order_value(net_sales=net, purchases=purchases),
                numerator=Decimal(net),
                denominator=Decimal(purchases),
                n=purchases,
                details={"buyers": whole(row["buyers"])},
            )
        )
    return values


PURCHASE_FREQUENCY = register(
    Kpi(
        code="purchase_frequency",
        label=gettext_noop("Purchase frequency (per member per year)"),
        unit="per_year",
        compute=purchase_frequency_compute,
        group="behaviour",
        dimensions=PURCHASE_DIMENSIONS,
        point_in_time=True,
    )
)
AVERAGE_ORDER_VALUE = register(
    Kpi(
        code="average_order_value",
        label=gettext_noop("Average order value"),
        unit="yen",
        compute=average_order_value_compute,
        group="behaviour",
        dimensions=PURCHASE_DIMENSIONS,
    )
)
