"""Cohort retention (metrics/kpis/cohorts.py): members of join month M who purchased in month
M + k over the cohort's size, in local months, hand-computed."""

import datetime as dt
from decimal import Decimal

import pytest

from loyalty.purchases import purchase_record
from members.services import member_withdraw
from metrics.formulas.cohorts import retention
from metrics.kpis.base import REGISTRY, Window
from metrics.kpis.cohorts import cohort_retention
from metrics.models import KpiSnapshot
from metrics.selectors import cohort_retention_matrix, kpi_registry
from tests.members.factories import MemberFactory
from tests.metrics.dashboard_support import cohort_snapshots_compute

JST = dt.timezone(dt.timedelta(hours=9))
JAN, FEB, MAR = dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=JST)


def month(start: dt.date, cutoff: dt.date | None = None) -> Window:
    end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return Window(period="month", start=start, end=end, cutoff=cutoff)


def table(values) -> dict[str, tuple]:
    return {
        v.segment: (v.value, v.numerator, v.denominator, v.n, v.details["months_since_join"])
        for v in values
    }


@pytest.fixture
def world():
    """January: A, B, C (C withdraws later) and F, who joined at 23:30 on 31 January local
    time (14:30 UTC); February: D, E and G, who joined at 00:30 on 1 February local time
    (still 31 January in UTC)."""
    members = {
        "A": MemberFactory(joined_at=at("2026-01-05T10:00")),
        "B": MemberFactory(joined_at=at("2026-01-20T10:00")),
        "C": MemberFactory(joined_at=at("2026-01-25T10:00")),
        "F": MemberFactory(joined_at=at("2026-01-31T23:30")),
        "D": MemberFactory(joined_at=at("2026-02-03T10:00")),
        "E": MemberFactory(joined_at=at("2026-02-10T10:00")),
        "G": MemberFactory(joined_at=at("2026-02-01T00:30")),
    }
    for number, (who, when) in enumerate(
        (
            ("A", "2026-01-10T12:00"),
            ("A", "2026-02-05T12:00"),
            ("A", "2026-02-20T12:00"),  # twice in February: one retained member
            ("B", "2026-02-03T12:00"),
            ("D", "2026-02-14T12:00"),
            ("G", "2026-02-28T23:50"),
            ("C", "2026-03-01T00:10"),  # March in Tokyo (still February in UTC)
        )
    ):
        purchase_record(
            member=members[who], order_reference=f"ORD-{number}", total=1000, occurred_at=at(when)
        )
    member_withdraw(member=members["C"])
    return members


@pytest.mark.django_db
def test_retention_by_cohort_and_month(world):
    assert table(cohort_retention(month(JAN))) == {
        "cohort:2026-01": (Decimal("25.0000"), 1, 4, 4, 0),
    }
    assert table(cohort_retention(month(FEB))) == {
        "cohort:2026-01": (Decimal("50.0000"), 2, 4, 4, 1),
        "cohort:2026-02": (Decimal("66.6667"), 2, 3, 3, 0),
    }
    assert table(cohort_retention(month(MAR))) == {
        "cohort:2026-01": (Decimal("25.0000"), 1, 4, 4, 2),
        "cohort:2026-02": (Decimal("0.0000"), 0, 3, 3, 1),
    }


@pytest.mark.django_db
def test_an_unfinished_month_is_measured_up_to_the_cutoff(world):
    # Cut off on 10 February: E (joined on the 10th) and D's purchase (the 14th) are not in.
    assert table(cohort_retention(month(FEB, cutoff=dt.date(2026, 2, 10)))) == {
        "cohort:2026-01": (Decimal("50.0000"), 2, 4, 4, 1),
        "cohort:2026-02": (Decimal("0.0000"), 0, 2, 2, 0),
    }


@pytest.mark.django_db
def test_only_monthly_windows(world):
    week = Window(period="week", start=dt.date(2026, 2, 2), end=dt.date(2026, 2, 9))
    quarter = Window(period="quarter", start=JAN, end=dt.date(2026, 4, 1))
    assert cohort_retention(week) == cohort_retention(quarter) == []


@pytest.mark.django_db
def test_the_dashboard_matrix_from_computed_snapshots(world):
    assert cohort_snapshots_compute([JAN, FEB, MAR]) == 5
    assert KpiSnapshot.objects.filter(kpi="cohort_retention").count() == 5
    matrix = cohort_retention_matrix(first=JAN, last=MAR)
    assert matrix.months == [0, 1, 2]
    assert [(r.cohort, r.size, r.values) for r in matrix.rows] == [
        ("2026-01", 4, [Decimal("25"), Decimal("50"), Decimal("25")]),
        ("2026-02", 3, [Decimal("66.6667"), Decimal("0")]),
    ]


def test_registered():
    kpi = kpi_registry()["cohort_retention"]
    assert (kpi.unit, kpi.group, kpi.dimensions, kpi.higher_is_better) == (
        "percent",
        "behaviour",
        ("cohort",),
        True,
    )
    assert REGISTRY["cohort_retention"] is kpi


@pytest.mark.parametrize(
    ("retained", "size", "expected"),
    [(12, 40, "30.0000"), (1, 3, "33.3333"), (2, 3, "66.6667"), (0, 5, "0.0000"), (0, 0, None)],
)
def test_retention_formula(retained, size, expected):
    assert retention(retained, size) == (None if expected is None else Decimal(expected))


def test_retention_formula_refuses_more_retained_than_joined():
    with pytest.raises(ValueError, match="retained 5 is not within the cohort size 4"):
        retention(5, 4)
