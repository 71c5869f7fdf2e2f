"""Member dimensions KPIs are sliced by, as SQL expressions evaluated at a date.

`member_dimension(name, at)` is an expression to annotate a Member queryset (or, through
`prefix`, any queryset reaching Member, e.g. "member__" from Purchase) with the member's value
of the dimension on the local date `at`; group by it with `.values(...)` and aggregate.
`label(name, raw)` turns a grouped raw value into the segment string of a snapshot.

Dimensions: segment (new / existing / dormant, as challenges' audiences define them), tier
and store (the home store) on the date, from the changes recorded since (TierChange,
HomeStoreChange), cohort (join month), age (band on the date), gender (current: personal
data that withdrawal erases, so no history of it is kept). Channel is a purchase dimension
(Purchase.channel), not a member one: calculators over purchases group by it directly.
"""

import datetime as dt
import operator
from functools import reduce

from django.db.models import Case, CharField, Exists, F, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce, TruncMonth

from challenges.evaluator import DORMANT_AFTER_DAYS, NEW_MEMBER_DAYS
from loyalty.localtime import local_midnight

DIMENSIONS = ("segment", "tier", "store", "cohort", "age", "gender")
MEMBER_DIMENSIONS = DIMENSIONS
AGE_BANDS = (
    (0, 19, "-19"),
    (20, 29, "20-29"),
    (30, 39, "30-39"),
    (40, 49, "40-49"),
    (50, 59, "50-59"),
    (60, 200, "60+"),
)


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # Feb 29 in a year without one
        return day.replace(year=day.year - years, day=28)


def age_band_moved(before: dt.date, after: dt.date) -> Q:
    """The members whose age band on `after` may differ from theirs on `before` (not later):
    a birth date between the two dates' bounds of a band, by the `age` dimension's own
    comparisons (`_years_before` never goes back as the date goes on): about one birthday
    in ten."""
    edges = sorted({bound for low, high, _band in AGE_BANDS for bound in (low, high + 1)})
    return reduce(
        operator.or_,
        (
            Q(
                birth_date__gt=_years_before(before, years),
                birth_date__lte=_years_before(after, years),
            )
            for years in edges
        ),
    )


def member_dimension(name: str, at: dt.date, prefix: str = "", among=None, active=False):
    """The expression for dimension `name` of the member on local date `at` (the state at
    the end of that day). `among`, a queryset of member ids, narrows the sets the expression
    looks members up in to those members (the member state recomputing a few: unless
    `active`, each probes its own recent purchases for the segment). `active`: the members
    are all active at the end of `at` (churn's base)."""
    p = prefix
    end = local_midnight(at + dt.timedelta(days=1))
    if name == "segment" and active and lapse_covered_by_dormancy():
        # Active at the end means a purchase within the lapse window before it, so within
        # the dormancy window too: not dormant. No purchases need reading.
        return Case(
            When(
                **{f"{p}joined_at__gte": end - dt.timedelta(days=NEW_MEMBER_DAYS)},
                then=Value("new"),
            ),
            default=Value("existing"),
            output_field=CharField(),
        )
    if name == "segment":
        from loyalty.models import Purchase

        recent = Purchase.objects.filter(
            occurred_at__lt=end, occurred_at__gte=end - dt.timedelta(days=DORMANT_AFTER_DAYS)
        )
        if among is None or active:
            # Uncorrelated, so the database reads the recent purchases once into a hash and
            # probes it per member (churn's base: hundreds of thousands of members).
            if among is not None:
                recent = recent.filter(member_id__in=among)
            bought = Q(**{f"{p}pk__in": recent.values("member_id")})
        else:
            # A few members (a night's touched ones): each probes the purchase index
            # (member, time) for one. The hash read half a year of everyone's purchases
            # (0.7 s for a night's 55,000 members at a million; the probes 0.25 s).
            bought = Exists(recent.filter(member=OuterRef(f"{p}pk" if p else "pk")))
        return Case(
            When(
                **{f"{p}joined_at__gte": end - dt.timedelta(days=NEW_MEMBER_DAYS)},
                then=Value("new"),
            ),
            When(bought, then=Value("existing")),
            default=Value("dormant"),
            output_field=CharField(),
        )
    if name == "tier":
        from members.models import TierChange

        now = Coalesce(F(f"{p}tier__code"), Value(""))
        return as_then(TierChange, "from_tier", now, end=end, prefix=p, among=among)
    if name == "store":
        from members.models import HomeStoreChange

        now = Coalesce(F(f"{p}home_store__code"), Value(""))
        return as_then(HomeStoreChange, "from_store", now, end=end, prefix=p, among=among)
    if name == "cohort":
        return TruncMonth(f"{p}joined_at")
    if name == "gender":
        return F(f"{p}gender")
    if name == "age":
        whens = [
            When(
                Q(**{f"{p}birth_date__lte": _years_before(at, low)})
                & Q(**{f"{p}birth_date__gt": _years_before(at, high + 1)}),
                then=Value(band),
            )
            for low, high, band in AGE_BANDS
        ]
        return Case(*whens, default=Value(""), output_field=CharField())
    raise ValueError(f"unknown dimension {name!r}")


def as_then(changes, left: str, current, *, end: dt.datetime, prefix: str = "", among=None):
    """The code of the member's tier or home store before `end`: `current` (an expression
    of the code now), unless it changed since; then the one the first later change left
    (`changes`, a model with member, changed_at and the field `left`). Only members with a
    later change (a hashed set) look their change up."""
    later = changes.objects.filter(changed_at__gte=end)
    if among is not None:
        later = later.filter(member_id__in=among)
    first_later = (
        later.filter(member=OuterRef(f"{prefix}pk") if prefix else OuterRef("pk"))
        .order_by("changed_at", "id")
        .values(f"{left}__code")[:1]
    )
    return Case(
        When(
            **{f"{prefix}pk__in": later.values("member_id")},
            then=Coalesce(Subquery(first_later), Value("")),
        ),
        default=current,
        output_field=CharField(),
    )


def lapse_covered_by_dormancy() -> bool:
    """Whether every active member (a purchase within the churn lapse window) has bought
    within the dormancy window of the segment dimension too (the default: both 180 days)."""
    from django.conf import settings

    return settings.LOYALTY_CHURN_LAPSE_DAYS <= DORMANT_AFTER_DAYS


def label(name: str, raw) -> str:
    """The snapshot segment for a grouped value: "tier:gold", "cohort:2026-01", "age:"
    (unknown) becomes "age:unknown"."""
    if name == "cohort":
        value = raw.strftime("%Y-%m") if raw is not None else "unknown"
    else:
        value = str(raw) if raw not in (None, "") else "unknown"
    return f"{name}:{value}"
