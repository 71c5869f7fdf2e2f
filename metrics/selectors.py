"""Reads of the KPI snapshots and targets: what the dashboard, its CSV export and the KPI API
show (docs/metrics.md, "Dashboard"). Only KpiSnapshot and KpiTarget are read here, never the
ledger, purchases or answers: those are the calculators' business (metrics/kpis/).

KPI metadata (label, unit, direction, minimum reliable sample) comes from the calculators'
registry (`metrics.kpis.base.REGISTRY`); a snapshot whose KPI is not registered still shows,
under its code.
"""

import datetime as dt
import importlib
import pkgutil
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery
from django.utils.translation import gettext_noop

from .kpis.base import REGISTRY, Kpi
from .models import KpiSnapshot, KpiTarget
from .periods import period_shift, period_starts

ALL = "all"
COHORT_KPI = "cohort_retention"
CHALLENGE_PREFIX = "challenge:"
STORE_PREFIX = "store:"
GROUP_ORDER = ("behaviour", "points", "survey", "challenges")
ONE_DECIMAL = Decimal("0.1")

# The headline tiles, in order. Their metadata comes from the registry like every KPI's; this
# is only what the dashboard shows for one whose calculator is not registered (yet).
HEADLINE_KPIS = ("members", "active_members", "repeat_rate", "churn_rate", "ltv", "nps")
_FALLBACK = {
    "members": (gettext_noop("Members"), "count", True),
    "active_members": (gettext_noop("Active members"), "count", True),
    "repeat_rate": (gettext_noop("Repeat rate"), "percent", True),
    "churn_rate": (gettext_noop("Churn rate"), "percent", False),
    "ltv": (gettext_noop("LTV"), "yen", True),
    "nps": (gettext_noop("NPS"), "score", True),
}


def kpi_registry() -> dict[str, Kpi]:
    """Every registered KPI. Calculator modules register on import: import them all (once;
    later calls find them in sys.modules)."""
    from . import kpis

    for module in pkgutil.iter_modules(kpis.__path__):
        importlib.import_module(f"{kpis.__name__}.{module.name}")
    return REGISTRY


@dataclass(frozen=True)
class KpiMeta:
    code: str
    label: str  # English; translated where shown
    unit: str | None  # percent | yen | count | points | score | years | per_year; None: unknown
    higher_is_better: bool = True
    group: str = ""
    min_reliable_n: int = 0

    def reliable(self, n: int) -> bool:
        return n >= self.min_reliable_n


def kpi_meta(code: str) -> KpiMeta:
    kpi = kpi_registry().get(code)
    if kpi is not None:
        return KpiMeta(
            code=code,
            label=kpi.label,
            unit=kpi.unit,
            higher_is_better=kpi.higher_is_better,
            group=kpi.group,
            min_reliable_n=kpi.min_reliable_n,
        )
    if code in _FALLBACK:
        label, unit, higher = _FALLBACK[code]
        return KpiMeta(code=code, label=label, unit=unit, higher_is_better=higher)
    return KpiMeta(code=code, label=code.replace("_", " ").capitalize(), unit=None)


def kpi_order(codes: Iterable[str]) -> list[str]:
    """Registry order within the groups (behaviour, points, survey, challenges); KPIs not
    registered last, by code."""
    registry = list(kpi_registry())

    def key(code: str):
        if code not in REGISTRY:
            return (len(GROUP_ORDER) + 1, len(registry), code)
        group = REGISTRY[code].group
        rank = GROUP_ORDER.index(group) if group in GROUP_ORDER else len(GROUP_ORDER)
        return (rank, registry.index(code), code)

    return sorted(set(codes), key=key)


# --- Targets -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """A target against this period's value (docs/metrics.md, "Targets")."""

    kind: str  # absolute | change
    target: Decimal  # as the marketer set it: the value, or the change
    goal: Decimal | None  # the value to reach; for a change target: previous + target
    met: bool | None  # None while there is no value (or no previous one for a change target)
    # Percent of the way from the previous period's value (the baseline) to the goal, in the
    # KPI's good direction: 100 or more once met, negative when the KPI moved away from the
    # goal. A baseline already at or beyond the goal: 100 while met, else 0. None without a
    # value or a baseline.
    progress: Decimal | None
    note: str = ""


def target_progress(
    *,
    kind: str,
    target: Decimal,
    current: Decimal | None,
    previous: Decimal | None,
    higher_is_better: bool,
    note: str = "",
) -> Progress:
    """NPS +5 from 30 (goal 35) at 33: 60% of the way, not met. Churn to 2 from 3 at 2.5:
    50%; at 3.5: -50% (moved away). Churn to 5 from 4.8 (already beyond the goal) at 4.6:
    met, 100%; at 5.2: not met, 0%."""
    if kind == KpiTarget.Kind.ABSOLUTE:
        goal = target
    else:
        goal = previous + target if previous is not None else None
    met = progress = None
    if goal is not None and current is not None:
        met = current >= goal if higher_is_better else current <= goal
        if previous is not None:
            # Distances measured in the good direction (up, or down when lower is better).
            sign = 1 if higher_is_better else -1
            required = (goal - previous) * sign
            achieved = (current - previous) * sign
            if required <= 0:
                # Nothing to cover: the baseline already met the goal. Its distance is no
                # yardstick (a share of it would read -100% for a churn rate still falling).
                progress = Decimal(100 if met else 0)
            else:
                share = achieved * 100 / required
                progress = share.quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP)
    return Progress(kind=kind, target=target, goal=goal, met=met, progress=progress, note=note)


# --- Headline tiles --------------------------------------------------------------------------


@dataclass(frozen=True)
class Headline:
    meta: KpiMeta
    period: str
    period_start: dt.date
    value: Decimal | None
    n: int
    details: dict[str, Any]
    previous: Decimal | None
    target: Progress | None

    @property
    def change(self) -> Decimal | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous

    @property
    def reliable(self) -> bool:
        return self.value is None or self.meta.reliable(self.n)

    @property
    def improved(self) -> bool | None:
        """Whether the change is in the KPI's good direction (None: no change to judge)."""
        change = self.change
        if not change:
            return None
        return (change > 0) == self.meta.higher_is_better


def kpi_headlines(
    *, kpis: Sequence[str], segment: str, period: str, period_start: dt.date
) -> list[Headline]:
    """Each KPI's value for the period, the previous period's and its target: two queries."""
    previous_start = period_shift(period, period_start, -1)
    rows = {
        (s.kpi, s.period_start): s
        for s in KpiSnapshot.objects.filter(
            kpi__in=kpis,
            segment=segment,
            period=period,
            period_start__in=[period_start, previous_start],
        )
    }
    targets = {
        t.kpi: t
        for t in KpiTarget.objects.filter(
            kpi__in=kpis, segment=segment, period=period, period_start=period_start
        )
    }
    headlines = []
    for code in kpis:
        meta = kpi_meta(code)
        current, previous = rows.get((code, period_start)), rows.get((code, previous_start))
        value = current.value if current else None
        previous_value = previous.value if previous else None
        target = targets.get(code)
        headlines.append(
            Headline(
                meta=meta,
                period=period,
                period_start=period_start,
                value=value,
                n=current.n if current else 0,
                details=current.details if current else {},
                previous=previous_value,
                target=target_progress(
                    kind=target.kind,
                    target=target.value,
                    current=value,
                    previous=previous_value,
                    higher_is_better=meta.higher_is_better,
                    note=target.note,
                )
                if target
                else None,
            )
        )
    return headlines


def nps_split(details: dict[str, Any]) -> dict[str, Decimal] | None:
    """Promoters, passives and detractors as percent of the three (one decimal), from an NPS
    snapshot's details, whether they hold counts or shares. None when they are missing."""
    keys = ("promoters", "passives", "detractors")
    try:
        parts = {key: Decimal(str(details[key])) for key in keys}
    except (KeyError, ArithmeticError, TypeError, ValueError):
        return None
    total = sum(parts.values())
    if total <= 0:
        return None
    return {
        key: (value * 100 / total).quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP)
        for key, value in parts.items()
    }


# --- Trends ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    meta: KpiMeta
    starts: list[dt.date]
    values: list[Decimal | None]
    n: list[int]
    goals: list[Decimal | None]  # the target's goal in each period that has a target


def kpi_series(
    *,
    segment: str,
    period: str,
    first: dt.date,
    last: dt.date,
    kpis: Sequence[str] | None = None,
    exclude: Iterable[str] = (COHORT_KPI,),
) -> list[Series]:
    """One series per KPI with at least one value for `segment` among the periods from the
    one containing `first` to the one containing `last` (every period listed; None where
    nothing was computed), the headline KPIs first. Two queries."""
    starts = period_starts(period, first, last)
    if not starts:
        return []
    before = period_shift(period, starts[0], -1)  # a change target's first goal needs it
    rows = KpiSnapshot.objects.filter(
        segment=segment, period=period, period_start__gte=before, period_start__lte=starts[-1]
    ).exclude(kpi__in=list(exclude))
    targets = KpiTarget.objects.filter(
        segment=segment, period=period, period_start__gte=starts[0], period_start__lte=starts[-1]
    )
    if kpis is not None:
        rows, targets = rows.filter(kpi__in=kpis), targets.filter(kpi__in=kpis)
    by_kpi: dict[str, dict[dt.date, KpiSnapshot]] = defaultdict(dict)
    for row in rows:
        by_kpi[row.kpi][row.period_start] = row
    target_by: dict[tuple[str, dt.date], KpiTarget] = {(t.kpi, t.period_start): t for t in targets}
    series = []
    headline = [code for code in HEADLINE_KPIS if code in by_kpi]
    for code in headline + [code for code in kpi_order(by_kpi) if code not in headline]:
        snapshots = by_kpi[code]
        if not any(start in snapshots for start in starts):
            continue  # only the period before the range
        meta = kpi_meta(code)
        values = [snapshots[s].value if s in snapshots else None for s in starts]
        goals = []
        for start in starts:
            target = target_by.get((code, start))
            previous = snapshots.get(period_shift(period, start, -1))
            goals.append(
                target_progress(
                    kind=target.kind,
                    target=target.value,
                    current=None,
                    previous=previous.value if previous else None,
                    higher_is_better=meta.higher_is_better,
                ).goal
                if target
                else None
            )
        series.append(
            Series(
                meta=meta,
                starts=starts,
                values=values,
                n=[snapshots[s].n if s in snapshots else 0 for s in starts],
                goals=goals,
            )
        )
    return series


# --- Segments --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentValue:
    segment: str  # "tier:gold"
    value_label: str  # "gold"
    value: Decimal | None
    n: int


def kpi_by_dimension(
    *, kpis: Sequence[str], dimension: str, period: str, period_start: dt.date
) -> dict[str, list[SegmentValue]]:
    """Each KPI's values for every segment of `dimension` ("tier" -> tier:gold, tier:silver,
    ...) in one period, by segment name; KPIs without any left out. One query."""
    rows = KpiSnapshot.objects.filter(
        kpi__in=kpis,
        period=period,
        period_start=period_start,
        segment__startswith=f"{dimension}:",
    ).order_by("segment")
    found: dict[str, list[SegmentValue]] = defaultdict(list)
    for row in rows:
        found[row.kpi].append(
            SegmentValue(
                segment=row.segment,
                value_label=row.segment.split(":", 1)[1],
                value=row.value,
                n=row.n,
            )
        )
    return {code: found[code] for code in kpis if code in found}


def segments_available(*, period: str, first: dt.date, last: dt.date) -> list[str]:
    """The segments with snapshots in the range that one can filter by: every
    "<dimension>:<value>" but stores (their own filter) and challenges (their own table)."""
    segments = (
        KpiSnapshot.objects.filter(period=period, period_start__gte=first, period_start__lte=last)
        .exclude(segment=ALL)
        .exclude(segment__startswith=STORE_PREFIX)
        .exclude(segment__startswith=CHALLENGE_PREFIX)
        .exclude(kpi=COHORT_KPI)
        .order_by("segment")
        .values_list("segment", flat=True)
        .distinct()
    )
    return list(segments)


# --- Cohorts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CohortRow:
    cohort: str  # "2026-01"
    size: int
    values: list[Decimal | None]  # by months since join: values[k]; None: not computed


@dataclass(frozen=True)
class CohortMatrix:
    months: list[int]  # 0 .. the oldest cohort's age in months
    rows: list[CohortRow] = field(default_factory=list)


def cohort_retention_matrix(*, first: dt.date, last: dt.date) -> CohortMatrix:
    """Retention of the cohorts who joined from the month of `first` to the month of `last`,
    for every month from joining up to the month of `last` (metrics/kpis/cohorts.py). One
    query."""
    months = period_starts("month", first, last)
    if not months:
        return CohortMatrix(months=[])
    labels = {f"cohort:{m:%Y-%m}": m for m in months}
    rows = KpiSnapshot.objects.filter(
        kpi=COHORT_KPI,
        period="month",
        segment__in=list(labels),
        period_start__gte=months[0],
        period_start__lte=months[-1],
    )
    cells: dict[str, dict[int, KpiSnapshot]] = defaultdict(dict)
    for row in rows:
        joined = labels[row.segment]
        k = (row.period_start.year - joined.year) * 12 + row.period_start.month - joined.month
        if k >= 0:
            cells[row.segment][k] = row
    matrix = []
    for segment, joined in labels.items():
        if segment not in cells:
            continue
        found = cells[segment]
        size = max((int(r.denominator or r.n) for r in found.values()), default=0)
        age = (months[-1].year - joined.year) * 12 + months[-1].month - joined.month
        matrix.append(
            CohortRow(
                cohort=segment.split(":", 1)[1],
                size=size,
                values=[found[k].value if k in found else None for k in range(age + 1)],
            )
        )
    width = max((len(r.values) for r in matrix), default=0)
    return CohortMatrix(months=list(range(width)), rows=matrix)


# --- Challenges ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChallengeRow:
    code: str
    values: dict[str, Decimal | None]  # by KPI code


def challenge_effectiveness(
    *, period: str, period_start: dt.date
) -> tuple[list[KpiMeta], list[ChallengeRow]]:
    """The challenge KPIs (segments "challenge:<code>") of one period: the columns (every KPI
    found, registry order) and one row per challenge, by code. One query."""
    rows = KpiSnapshot.objects.filter(
        period=period, period_start=period_start, segment__startswith=CHALLENGE_PREFIX
    )
    by_code: dict[str, dict[str, Decimal | None]] = defaultdict(dict)
    for row in rows:
        by_code[row.segment[len(CHALLENGE_PREFIX) :]][row.kpi] = row.value
    columns = kpi_order({kpi for values in by_code.values() for kpi in values})
    return (
        [kpi_meta(code) for code in columns],
        [ChallengeRow(code=code, values=by_code[code]) for code in sorted(by_code)],
    )


# --- The API's list --------------------------------------------------------------------------


def kpi_snapshots_with_targets() -> QuerySet[KpiSnapshot]:
    """Every snapshot with its target's kind, value and note (target_kind etc.; None without
    one), in a stable order."""
    target = KpiTarget.objects.filter(
        kpi=OuterRef("kpi"),
        segment=OuterRef("segment"),
        period=OuterRef("period"),
        period_start=OuterRef("period_start"),
    )
    return KpiSnapshot.objects.annotate(
        target_kind=Subquery(target.values("kind")[:1]),
        target_value=Subquery(target.values("value")[:1]),
        target_note=Subquery(target.values("note")[:1]),
    ).order_by("kpi", "segment", "period", "period_start", "pk")
