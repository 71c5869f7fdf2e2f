"""Helpers for the dashboard, target and KPI API tests: snapshot and target factories, the
headline KPIs' metadata pinned for the tests, users of the dashboard's groups, and a small,
plausible year of snapshots for the browser test and the README screenshot."""

import datetime as dt
import random
from contextlib import contextmanager
from decimal import Decimal

import factory
from django.contrib.auth.models import Group
from django.test import Client

from metrics.kpis.base import REGISTRY, Kpi, Window
from metrics.kpis.cohorts import COHORT_RETENTION, cohort_retention
from metrics.models import KpiSnapshot, KpiTarget
from metrics.periods import period_end, period_shift
from metrics.selectors import kpi_registry
from tests.members.factories import StaffFactory, UserFactory

MARKETERS = "Marketers"
STORE_MANAGERS = "Store managers"
STORE_STAFF = "Store staff"
USER_PASSWORD = "pass-word-123"  # tests.members.factories.UserFactory's


class KpiSnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = KpiSnapshot

    kpi = "members"
    segment = "all"
    period = "month"
    period_start = dt.date(2026, 5, 1)
    value = Decimal("0")
    n = 0


class KpiTargetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = KpiTarget

    kpi = "nps"
    segment = "all"
    period = "month"
    period_start = dt.date(2026, 5, 1)
    kind = KpiTarget.Kind.ABSOLUTE
    value = Decimal("0")


def snap(kpi: str, start: dt.date, value, *, segment: str = "all", period: str = "month", **kw):
    return KpiSnapshotFactory(
        kpi=kpi,
        segment=segment,
        period=period,
        period_start=start,
        value=None if value is None else Decimal(str(value)),
        **kw,
    )


def _unused(window):  # the tests' KPIs are never computed, only read
    raise AssertionError("not computed in these tests")


# The metadata the tests pin, whatever the calculators register (pinned_registry).
TEST_KPIS = {
    "members": Kpi("members", "Members", "count", _unused),
    "active_members": Kpi("active_members", "Active members", "count", _unused),
    "repeat_rate": Kpi("repeat_rate", "Repeat rate", "percent", _unused),
    "churn_rate": Kpi("churn_rate", "Churn rate", "percent", _unused, higher_is_better=False),
    "ltv": Kpi("ltv", "LTV", "yen", _unused),
    "nps": Kpi("nps", "NPS", "score", _unused, group="survey", min_reliable_n=100),
    "challenge_joiners": Kpi("challenge_joiners", "Joiners", "count", _unused, group="challenges"),
    "challenge_completions": Kpi(
        "challenge_completions", "Completions", "count", _unused, group="challenges"
    ),
}


@contextmanager
def pinned_registry():
    """The registry holds exactly TEST_KPIS and the cohort retention KPI while the block runs,
    whatever the calculators register (every calculator module is imported first, so none
    registers later); then it is restored."""
    kpi_registry()
    saved = dict(REGISTRY)
    REGISTRY.clear()
    REGISTRY.update(TEST_KPIS)
    REGISTRY[COHORT_RETENTION.code] = COHORT_RETENTION
    try:
        yield
    finally:
        REGISTRY.clear()
        REGISTRY.update(saved)


def user_in(group: str, *, username: str, store=None):
    """A staff user in `group` (with a staff profile at `store`, if given); the password is
    UserFactory's, USER_PASSWORD."""
    user = UserFactory(username=username, is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    if store is not None:
        StaffFactory(store=store, user=user)
    return user


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- A plausible year for the browser test and the screenshot --------------------------------

HEADLINE_BASE = {
    # code: (start value, monthly drift, noise)
    "members": (11800, 190, 25),
    "active_members": (5200, 60, 120),
    "repeat_rate": (38.0, 0.25, 1.2),
    "churn_rate": (6.2, -0.08, 0.4),
    "ltv": (41000, 350, 600),
    "nps": (24.0, 0.6, 2.5),
    "purchase_frequency": (5.1, 0.03, 0.15),
    "average_order_value": (2350, 8, 40),
    "points_outstanding": (3_100_000, 42_000, 20_000),
    "csat": (78.0, 0.2, 1.2),
}
# Bar charts: each segment's value as a multiple of the programme's.
BAR_FACTORS = {
    "segment": {
        "new": {"members": 0.15, "repeat_rate": 0.6, "churn_rate": 1.4, "ltv": 0.5, "nps": 1.1},
        "existing": {
            "members": 0.55,
            "repeat_rate": 1.3,
            "churn_rate": 0.6,
            "ltv": 1.3,
            "nps": 1.2,
        },
        "dormant": {"members": 0.3, "repeat_rate": 0.3, "churn_rate": 2.4, "ltv": 0.7, "nps": 0.6},
    },
    "tier": {
        "regular": {"members": 0.7, "repeat_rate": 0.8, "churn_rate": 1.3, "ltv": 0.6, "nps": 0.8},
        "silver": {"members": 0.22, "repeat_rate": 1.3, "churn_rate": 0.7, "ltv": 1.6, "nps": 1.3},
        "gold": {"members": 0.08, "repeat_rate": 1.7, "churn_rate": 0.3, "ltv": 3.1, "nps": 1.8},
    },
}
STORE_SHARE = {"TYO01": Decimal("0.42"), "OSA01": Decimal("0.31"), "FUK01": Decimal("0.27")}
INTEGER_KPIS = {"members", "active_members", "ltv", "average_order_value", "points_outstanding"}
COUNT_KPIS = {"members", "active_members", "points_outstanding"}


def _value(code: str, month: int, rng: random.Random, scale: Decimal = Decimal(1)) -> Decimal:
    start, drift, noise = HEADLINE_BASE[code]
    value = Decimal(str(start + drift * month + rng.uniform(-noise, noise)))
    if code in COUNT_KPIS:
        value *= scale
    return value.quantize(Decimal(1) if code in INTEGER_KPIS else Decimal("0.1"))


def demo_snapshots(*, last: dt.date, months: int = 12, seed: int = 7) -> None:
    """Monthly snapshots for `months` months up to the month starting `last`: the headline
    and a few more KPIs for all members and three stores, segments and tiers for the bar
    charts, NPS details, challenge rows, and targets for the last month."""
    rng = random.Random(seed)
    rows = []
    for i in range(months):
        start = period_shift("month", last, i - months + 1)
        for code in HEADLINE_BASE:
            segments = [("all", Decimal(1))] + [
                (f"store:{store}", share) for store, share in STORE_SHARE.items()
            ]
            for segment, share in segments:
                value = _value(code, i, rng, share)
                details = {}
                n = int(_value("members", i, rng, share))
                if code == "nps":
                    n = rng.randint(180, 420) if segment == "all" else rng.randint(40, 160)
                    promoters = Decimal("0.40") + Decimal(str(rng.uniform(-0.03, 0.05)))
                    detractors = promoters - value / 100
                    details = {
                        "promoters": float(promoters.quantize(Decimal("0.001"))),
                        "passives": float((1 - promoters - detractors).quantize(Decimal("0.001"))),
                        "detractors": float(detractors.quantize(Decimal("0.001"))),
                    }
                rows.append(
                    KpiSnapshot(
                        kpi=code,
                        segment=segment,
                        period="month",
                        period_start=start,
                        value=value,
                        n=n,
                        details=details,
                    )
                )
        if i == months - 1:
            for dimension, factors in BAR_FACTORS.items():
                for label, by_kpi in factors.items():
                    for code, factor in by_kpi.items():
                        noise = Decimal(str(1 + rng.uniform(-0.04, 0.04)))
                        value = _value(code, i, rng) * Decimal(str(factor)) * noise
                        rows.append(
                            KpiSnapshot(
                                kpi=code,
                                segment=f"{dimension}:{label}",
                                period="month",
                                period_start=start,
                                value=value.quantize(Decimal("0.1")),
                                n=300,
                            )
                        )
            for code, joiners in (("birthday", 410), ("rainy-day", 260), ("first-matcha", 155)):
                completions = int(joiners * rng.uniform(0.35, 0.8))
                for kpi, value in (
                    ("challenge_joiners", joiners),
                    ("challenge_completions", completions),
                    ("challenge_points", completions * 50),
                    ("challenge_repeat_completers", round(rng.uniform(48, 66), 1)),
                    ("challenge_repeat_others", round(rng.uniform(30, 40), 1)),
                ):
                    rows.append(
                        KpiSnapshot(
                            kpi=kpi,
                            segment=f"challenge:{code}",
                            period="month",
                            period_start=start,
                            value=Decimal(str(value)),
                            n=joiners,
                        )
                    )
    KpiSnapshot.objects.bulk_create(rows)
    KpiTarget.objects.bulk_create(
        [
            KpiTarget(
                kpi="nps",
                period="month",
                period_start=last,
                kind=KpiTarget.Kind.CHANGE,
                value=Decimal(5),
                note="NPS +5",
            ),
            KpiTarget(kpi="repeat_rate", period="month", period_start=last, value=Decimal(42)),
            KpiTarget(kpi="churn_rate", period="month", period_start=last, value=Decimal("5.0")),
        ]
    )


def cohort_snapshots_compute(months: list[dt.date]) -> int:
    """Run the cohort retention calculator (metrics/kpis/cohorts.py) over monthly windows and
    store its values as the snapshot runner does (an upsert per KPI, segment and period)."""
    stored = 0
    for start in months:
        window = Window(period="month", start=start, end=period_end("month", start))
        for value in cohort_retention(window):
            KpiSnapshot.objects.update_or_create(
                kpi="cohort_retention",
                segment=value.segment,
                period="month",
                period_start=start,
                defaults={
                    "value": value.value,
                    "numerator": value.numerator,
                    "denominator": value.denominator,
                    "n": value.n,
                    "details": value.details,
                },
            )
            stored += 1
    return stored
