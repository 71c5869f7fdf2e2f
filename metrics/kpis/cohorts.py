"""Cohort retention: of the members who joined in month M, the share who purchased in month
M + k (k = 0, 1, 2, ...); the dashboard's cohort table (join month x months since join).

One snapshot per cohort and month: kpi `cohort_retention`, period `month`, period_start the
first day of month M + k, segment `cohort:<M as YYYY-MM>`; numerator the cohort's members who
purchased in that month (distinct members, whatever they bought or later returned),
denominator and n the cohort size (everyone who joined in M, withdrawn members included: a
cohort's size never changes), details `{"months_since_join": k}`. Months are local
(TIME_ZONE), as everywhere in the snapshots; a month not over yet is measured up to the
run's cutoff (`Window.as_of`), its cohort and its purchases so far.

Only monthly windows produce rows: the cohort table is by month whatever period the dashboard
shows. Two grouped queries per month, whatever the number of members; the nightly run's
current month reads the member state's totals instead (metrics.kpis.state.cohorts).
"""

import datetime as dt
from decimal import Decimal

from django.db.models import Count
from django.db.models.functions import TruncMonth
from django.utils.translation import gettext_noop

from metrics.formulas.cohorts import retention

from . import state
from .base import Kpi, Value, Window, register
from .segments import label, local_midnight


def cohort_retention(window: Window) -> list[Value]:
    from loyalty.models import Purchase
    from members.models import Member

    if window.period != "month":
        return []
    kept = state.cohorts(window.start, window.as_of)
    if kept is not None:  # the current month of the member state
        sizes = {_month(segment): size for segment, (size, _kept) in kept.items()}
        retained = {_month(segment): bought for segment, (_size, bought) in kept.items()}
        return _values(window, sizes, retained)
    # A month not over yet is measured up to the run's cutoff (its cohort still growing).
    start, end = local_midnight(window.start), local_midnight(window.as_of)
    sizes = dict(
        Member.objects.filter(joined_at__lt=end)
        .annotate(cohort=TruncMonth("joined_at"))
        .order_by()
        .values("cohort")
        .annotate(size=Count("pk"))
        .values_list("cohort", "size")
    )
    retained = dict(
        Purchase.objects.filter(
            occurred_at__gte=start, occurred_at__lt=end, member__joined_at__lt=end
        )
        .annotate(cohort=TruncMonth("member__joined_at"))
        .order_by()
        .values("cohort")
        .annotate(members=Count("member", distinct=True))
        .values_list("cohort", "members")
    )
    return _values(window, sizes, retained)


def _month(segment: str) -> dt.date:
    """The first day of the month of a "cohort:YYYY-MM" segment."""
    return dt.date.fromisoformat(segment.removeprefix("cohort:") + "-01")


def _values(window: Window, sizes: dict, retained: dict) -> list[Value]:
    values = []
    for cohort, size in sorted(sizes.items()):
        months = (window.start.year - cohort.year) * 12 + window.start.month - cohort.month
        kept = retained.get(cohort, 0)
        values.append(
            Value(
                segment=label("cohort", cohort),
                value=retention(kept, size),
                numerator=Decimal(kept),
                denominator=Decimal(size),
                n=size,
                details={"months_since_join": months},
            )
        )
    return values


COHORT_RETENTION = register(
    Kpi(
        code="cohort_retention",
        label=gettext_noop("Cohort retention"),
        unit="percent",
        compute=cohort_retention,
        higher_is_better=True,
        group="behaviour",
        dimensions=("cohort",),
    )
)
