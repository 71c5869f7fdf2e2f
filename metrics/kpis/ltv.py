"""Customer lifetime value (docs/metrics.md, "LTV").

LTV = average order value x LOYALTY_MARGIN x purchases per year x retention years, all over
the trailing year Y = [as_of - 12 months, as_of):
- average order value and purchases per year: net sales / purchases and purchases / buyers
  of the purchases in Y counting at as_of (as purchase_frequency and average_order_value);
- retention years: 1 / the churn observed over Y (churn.py with Y as the period: members
  active at its start, lost by its end), at most LOYALTY_LTV_MAX_YEARS; no member lost gives
  the cap, nobody active at the start of Y leaves LTV undefined (None).
Per segment, each part is the segment's own: spend by the members' dimensions on the last
measured day, churn by their dimensions at the start of Y (as the churn KPI). Per join
cohort this is the LTV of the cohort. The parts are in `details`.
"""

from decimal import Decimal

from django.conf import settings
from django.utils.translation import gettext_noop

from ..formulas import behaviour
from .base import Kpi, Value, Window, register
from .churn import churn_counts
from .purchases import buyer_rollup, year_before
from .rollup import whole
from .segments import DIMENSIONS


def ltv_compute(window: Window) -> list[Value]:
    start = year_before(window.as_of)
    spend = {
        segment: row
        for segment, row in buyer_rollup(start=start, end=window.as_of).items()
        if not segment.startswith("channel:")
    }
    churn = churn_counts(start, window.as_of)
    margin, cap = settings.LOYALTY_MARGIN, settings.LOYALTY_LTV_MAX_YEARS
    values = []
    for segment in sorted(spend.keys() | churn.keys(), key=lambda s: (s != "all", s)):
        row = spend.get(segment, {})
        buyers, purchases, net = (whole(row.get(k)) for k in ("buyers", "purchases", "net"))
        base, lost = churn.get(segment, (0, 0))
        result = behaviour.ltv(
            net_sales=net,
            purchases=purchases,
            buyers=buyers,
            lost=lost,
            active_at_start=base,
            margin=margin,
            max_years=cap,
        )
        values.append(
            Value(
                segment=segment,
                value=result.value,
                n=buyers,
                details={
                    "average_order_value": _text(result.average_order_value),
                    "purchase_frequency": _text(result.purchase_frequency),
                    "retention_years": _text(result.retention_years),
                    "margin": str(margin),
                    "max_years": cap,
                    "annual_churn": _text(behaviour.churn_rate(lost=lost, active_at_start=base)),
                    "buyers": buyers,
                    "purchases": purchases,
                    "net_sales": net,
                    "active_at_start": base,
                    "lost": lost,
                },
            )
        )
    return values


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


LTV = register(
    Kpi(
        code="ltv",
        label=gettext_noop("LTV (customer lifetime value)"),
        unit="yen",
        compute=ltv_compute,
        group="behaviour",
        dimensions=DIMENSIONS,
        point_in_time=True,
    )
)
