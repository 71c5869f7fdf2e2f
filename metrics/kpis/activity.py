"""What counts as a purchase, what it is worth and who is an active member, at an instant.

The definitions every behavioural KPI shares (docs/metrics.md, "Definitions"); all instants
are programme-local midnights (`loyalty.localtime.local_midnight`), all ranges half-open [from, to).

- A purchase **counts at instant T** unless it had been returned in full before T (the sum
  of its returns with occurred_at < T reaches its total). Returns count at their own date: a
  purchase returned after the period still counts in the period, so recomputing a closed
  period later gives what the nightly run gave.
- Its **net amount at T** is its total minus what was returned before T.
- A member is **active at T** when they had joined before T, had not withdrawn before T and
  have a purchase counting at T within the lapse window [T - LOYALTY_CHURN_LAPSE_DAYS, T).
  Suspended members are members (they can come back); withdrawn ones are not.
"""

import datetime as dt

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db.models import (
    BigIntegerField,
    Case,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    When,
)
from django.db.models import Value as V
from django.db.models.functions import Cast, Coalesce

from .segments import local_midnight


def lapse_days() -> int:
    return settings.LOYALTY_CHURN_LAPSE_DAYS


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day `months` earlier (the month's last day when it has fewer days)."""
    return day - relativedelta(months=months)


def _returns_since(at: dt.datetime, purchase: str = "pk"):
    from loyalty.models import PurchaseReturn

    return PurchaseReturn.objects.filter(purchase=OuterRef(purchase), occurred_at__gte=at)


def counted_at(at: dt.datetime, prefix: str = "") -> Q:
    """Purchases (through `prefix`, e.g. "purchase__") that count at `at`: not returned in
    full before it. A purchase returned in full today was returned in full before `at` unless
    one of its returns happened at or after `at`; only those few fully returned purchases are
    probed (the cheap conditions come first)."""
    p = prefix
    return (
        Q(**{f"{p}returned_total__lt": F(f"{p}total")})
        | Q(**{f"{p}total": 0})
        | Q(Exists(_returns_since(at, f"{p}pk" if p else "pk")))
    )


def net_amount_at(at: dt.datetime):
    """A purchase's total minus what was returned before `at` (its returns since `at` are
    added back to today's returned_total; probed only for purchases with returns)."""
    late = (
        _returns_since(at)
        .order_by()
        .values("purchase")
        .annotate(amount=Sum("amount"))
        .values("amount")
    )
    # Whole yen as bigint throughout: SUM of a bigint column is `numeric` in PostgreSQL, and
    # the CASE would then turn every purchase's amount into numeric, whose arithmetic is far
    # slower than bigint's in the sums over millions of purchases.
    return Case(
        When(returned_total=0, then=F("total")),
        default=F("total")
        - F("returned_total")
        + Coalesce(Cast(Subquery(late), BigIntegerField()), V(0)),
        output_field=BigIntegerField(),
    )


def member_was_member(at: dt.datetime, prefix: str = "") -> Q:
    """Joined before `at` and not withdrawn before it."""
    p = prefix
    return Q(**{f"{p}joined_at__lt": at}) & (
        Q(**{f"{p}withdrawn_at__isnull": True}) | Q(**{f"{p}withdrawn_at__gte": at})
    )


def purchases_counted(start: dt.datetime, end: dt.datetime, *, at: dt.datetime) -> QuerySet:
    """Purchases that occurred in [start, end) and count at `at`."""
    from loyalty.models import Purchase

    return (
        Purchase.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
        .filter(counted_at(at))
        .order_by()
    )


def active_purchases(at: dt.datetime) -> QuerySet:
    """The purchases that make their members active at `at`: counting at `at`, within the
    lapse window before it, by members who were members at `at`."""
    return purchases_counted(at - dt.timedelta(days=lapse_days()), at, at=at).filter(
        member_was_member(at, "member__")
    )


def day_start(day: dt.date) -> dt.datetime:
    return local_midnight(day)
