"""Repeat rate (docs/metrics.md, "Repeat rate").

repeat % = members with 2 or more purchases / members with 1 or more x 100, over the
trailing LOYALTY_REPEAT_MONTHS (12) months [as_of - N months, as_of), counting purchases
that count at as_of (a purchase returned in full is no purchase). By channel: purchases
through that channel only. Sliced by the member's dimensions on the last measured day.
"""

from decimal import Decimal

from django.conf import settings
from django.utils.translation import gettext_noop

from ..formulas import behaviour
from . import activity
from .base import Kpi, Value, Window, register
from .purchases import PURCHASE_DIMENSIONS, buyer_rollup
from .rollup import whole


def repeat_rate_compute(window: Window) -> list[Value]:
    months = settings.LOYALTY_REPEAT_MONTHS
    rows = buyer_rollup(start=activity.months_before(window.as_of, months), end=window.as_of)
    values = []
    for segment, row in rows.items():
        buyers, repeaters = whole(row["buyers"]), whole(row["repeaters"])
        values.append(
            Value(
                segment=segment,
                value=behaviour.repeat_rate(repeaters=repeaters, buyers=buyers),
                numerator=Decimal(repeaters),
                denominator=Decimal(buyers),
                n=buyers,
                details={"months": months},
            )
        )
    return values


REPEAT_RATE = register(
    Kpi(
        code="repeat_rate",
        label=gettext_noop("Repeat rate"),
        unit="percent",
        compute=repeat_rate_compute,
        group="behaviour",
        dimensions=PURCHASE_DIMENSIONS,
        point_in_time=True,
    )
)
