"""Member counts and churn on a hand-made world (docs/metrics.md, "Members", "Churn rate").

The world, March 2026 as the period: S = 1 March 00:00, E = 1 April 00:00 (Asia/Tokyo).
Lapse window 180 days: active at S needs a purchase in [2 Sep 2025, S), at E one in
[3 Oct 2025, E). "New" = joined less than 90 days before (on or after 1 Jan 2026 at E).

    A joined 2025-01-10, gold; bought 2025-12-01 and 2026-03-05 (store)
    B joined 2025-02-01; bought 2025-08-01
    C joined 2026-03-15 (mid-period); never bought
    D joined 2025-06-01, gold; bought 2026-02-10; withdrew 2026-03-20
    E joined 2025-05-01; bought 2026-01-05, returned in full 2026-01-10
    F joined 2026-03-10 (mid-period); bought 2026-03-12 (online)
    H joined 2025-01-01; bought 2025-09-15
    I joined 2025-03-01; bought 2026-02-20, returned in full 2026-03-25
    J joined 2025-04-01; bought 2025-12-20 for 2,000, 500 returned 2026-03-03
"""

from decimal import Decimal

import pytest

from members.models import HomeStoreChange, TierChange
from members.services import member_home_store_change
from metrics.kpis.base import Window
from metrics.models import KpiSnapshot
from metrics.periods import period_end
from metrics.snapshots import kpis_nightly
from tests.members.factories import StoreFactory, TierFactory

from .kpi_support import at, buy, d, give_back, member, value_of, values, window, withdraw

pytestmark = pytest.mark.django_db
MARCH = window("month", "2026-03-01", "2026-04-01")


@pytest.fixture
def world():
    gold = TierFactory(code="gold")
    tokyo = StoreFactory(code="TYO01")
    people = {
        "A": member("2025-01-10", tier=gold, home_store=tokyo, gender="female"),
        "B": member("2025-02-01", gender="male"),
        "C": member("2026-03-15"),
        "D": member("2025-06-01", tier=gold),
        "E": member("2025-05-01"),
        "F": member("2026-03-10"),
        "H": member("2025-01-01"),
        "I": member("2025-03-01"),
        "J": member("2025-04-01"),
    }
    buy(people["A"], "2025-12-01")
    buy(people["A"], "2026-03-05")
    buy(people["B"], "2025-08-01")
    buy(people["D"], "2026-02-10")
    give_back(buy(people["E"], "2026-01-05"), "2026-01-10", 1000)
    buy(people["F"], "2026-03-12", channel="online")
    buy(people["H"], "2025-09-15")
    give_back(buy(people["I"], "2026-02-20"), "2026-03-25", 1000)
    give_back(buy(people["J"], "2025-12-20", 2000), "2026-03-03", 500)
    withdraw(people["D"], "2026-03-20")
    return people


def counts(code, win=MARCH):
    return {segment: v.value for segment, v in values(code, win).items()}


def test_members_at_the_end(world):
    # Everyone but D (withdrew on 20 March): A B C E F H I J = 8.
    found = counts("members")
    assert found["all"] == 8
    assert found["tier:gold"] == 1  # A (D, also gold, has withdrawn)
    assert found["cohort:2025-01"] == 2  # A, H
    assert found["store:TYO01"] == 1
    assert found["gender:female"] == 1
    # Dimension slices add up to "all".
    assert sum(v for s, v in found.items() if s.startswith("tier:")) == 8


def test_members_sliced_by_the_tier_they_had_then(world):
    # Tier changes after March: A gold -> silver on 2 April (the end of March is still
    # gold), B none -> gold on 10 April and silver -> gold on 20 April for H (H had silver
    # then). The current tiers (A silver, B gold, H gold) must not rewrite March.
    silver = TierFactory(code="silver")
    gold = world["A"].tier
    changes = [
        (world["A"], gold, silver, "2026-04-02"),
        (world["B"], None, gold, "2026-04-10"),
        (world["H"], silver, gold, "2026-04-20"),
    ]
    for who, before, after, day in changes:
        who.tier = after
        who.save(update_fields=["tier"])
        TierChange.objects.create(
            member=who, from_tier=before, to_tier=after, window_spend=0, changed_at=at(d(day), 3)
        )
    found = counts("members")
    # End of March: A gold, H silver, B and the five others none (D has withdrawn).
    assert {s: v for s, v in found.items() if s.startswith("tier:")} == {
        "tier:gold": 1,
        "tier:silver": 1,
        "tier:unknown": 6,
    }
    # At the end of April the changes have happened: A silver, B and H gold.
    april = {
        s: v.value
        for s, v in values("members", window("month", "2026-04-01", "2026-05-01")).items()
    }
    assert {s: v for s, v in april.items() if s.startswith("tier:")} == {
        "tier:gold": 2,
        "tier:silver": 1,
        "tier:unknown": 5,
    }


def test_members_sliced_by_the_home_store_they_had_then(world):
    # A moves TYO01 -> OSA01 on 3 April, B gets OSA01 on 12 April: the end of March still
    # has A at TYO01 and B without a store; the end of April has both at OSA01.
    osaka = StoreFactory(code="OSA01")
    for who, day in ((world["A"], "2026-04-03"), (world["B"], "2026-04-12")):
        member_home_store_change(member=who, store=osaka, now=at(d(day), 15))
    assert list(HomeStoreChange.objects.values_list("from_store__code", "to_store__code")) == [
        (None, "OSA01"),
        ("TYO01", "OSA01"),
    ]
    found = counts("members")
    assert {s: v for s, v in found.items() if s.startswith("store:")} == {
        "store:TYO01": 1,
        "store:unknown": 7,
    }
    april = {
        s: v.value
        for s, v in values("members", window("month", "2026-04-01", "2026-05-01")).items()
    }
    assert {s: v for s, v in april.items() if s.startswith("store:")} == {
        "store:OSA01": 2,
        "store:unknown": 6,
    }


def test_active_members_at_the_end(world):
    # A (5 March), F (12 March), J (20 Dec, partly returned: still a purchase) = 3.
    # Not: B, H (last purchase before 3 Oct), E and I (returned in full), C (never), D (gone).
    found = counts("active_members")
    assert found["all"] == 3
    assert found["channel:store"] == 2  # A, J
    assert found["channel:online"] == 1  # F
    assert found["tier:gold"] == 1  # A
    assert found["segment:new"] == 1  # F joined 10 March
    assert found["segment:existing"] == 2
    assert values("active_members", MARCH)["all"].n == 3


def test_new_members_joined_in_the_period(world):
    # C (15 March) and F (10 March); a withdrawal later would not undo a sign-up.
    found = counts("new_members")
    assert found == {
        "all": 2,
        "segment:new": 2,
        "tier:unknown": 2,
        "store:unknown": 2,
        "cohort:2026-03": 2,
        "age:unknown": 2,
        "gender:unspecified": 2,
    }


def test_dormant_members(world):
    # Past the new stage, not withdrawn, no purchase counting in [3 Oct, 1 Apr):
    # B (Aug), E (returned in full), H (Sep), I (returned in full on 25 March) = 4.
    # members 8 = active 3 + dormant 4 + new without a purchase (C) 1.
    found = counts("dormant_members")
    assert found["all"] == 4
    assert found["cohort:2025-01"] == 1  # H
    assert found["gender:male"] == 1  # B


def test_churn_rate(world):
    # Active at 1 March: A (Dec), D (Feb), H (15 Sep >= 2 Sep), I (Feb, its return came
    # later), J (Dec, partly returned) = 5. Not in the base: B (Aug), E (returned before),
    # C and F (joined during March).
    # Lost by 1 April: D (withdrew), H (no purchase since 3 Oct), I (its only purchase was
    # returned in full during March) = 3. A bought again, J's purchase still counts.
    # 3 / 5 = 60 %.
    found = values("churn_rate", MARCH)
    assert (found["all"].value, found["all"].numerator, found["all"].denominator) == (
        Decimal("60.0000"),
        3,
        5,
    )
    assert found["all"].n == 5
    # Sliced by the members' state at the start: gold = A, D -> D lost: 50 %;
    # no tier = H, I, J -> 2 lost: 66.6667 %. Cohort 2025-01 = A, H -> 50 %.
    assert found["tier:gold"].value == Decimal("50.0000")
    assert found["tier:unknown"].value == Decimal("66.6667")
    assert found["cohort:2025-01"].value == Decimal("50.0000")
    assert found["segment:existing"].value == Decimal("60.0000")
    assert "segment:new" not in found  # C and F were not members at the start


def test_churn_of_a_nights_windows_in_one_pass_equals_each_alone(world):
    # The night of 1 April measures the day 31 March, the week from 30 March, March and the
    # first quarter, all at the cutoff 1 April: the run computes their churn facts in one
    # pass (one member row with a count per window start). Each stored value must be what
    # the window computed on its own gives, March's the 3 / 5 of test_churn_rate.
    kpis_nightly(today=d("2026-04-01"))
    stored = {
        (row.period, row.period_start.isoformat(), row.segment): (row.numerator, row.denominator)
        for row in KpiSnapshot.objects.filter(kpi="churn_rate")
    }
    assert stored[("month", "2026-03-01", "all")] == (3, 5)
    for period, start in (
        ("day", "2026-03-31"),
        ("week", "2026-03-30"),
        ("month", "2026-03-01"),
        ("quarter", "2026-01-01"),
    ):
        first = d(start)
        alone = values(
            "churn_rate", Window(period, first, period_end(period, first), d("2026-04-01"))
        )
        assert {
            segment: value for (p, s, segment), value in stored.items() if (p, s) == (period, start)
        } == {segment: (v.numerator, v.denominator) for segment, v in alone.items()}


def test_churn_lapse_lands_on_the_exact_day(world):
    # K bought on 3 Sep 2025: on 2 March (S = 2 Mar, lapse start 3 Sep 00:00) K is active;
    # at the end of 2 March (3 Mar, lapse start 4 Sep) K has lapsed: lost that day.
    k = member("2025-01-05")
    buy(k, "2025-09-03")
    day = values("churn_rate", window("day", "2026-03-02", "2026-03-03"))
    # Base on 2 March: A, D, H (lapses on 14 March), I, J, K = 6; K is the one lost.
    assert (day["all"].numerator, day["all"].denominator) == (1, 6)
    assert day["all"].value == Decimal("16.6667")
    # The day before, nobody lapses or withdraws.
    assert value_of("churn_rate", window("day", "2026-03-01", "2026-03-02")) == Decimal("0.0000")


def test_unfinished_period_is_measured_at_the_cutoff(world):
    # March measured on 12 March (cutoff 12 March: up to 11 March inclusive, lapse start
    # 13 Sep 2025). D has not withdrawn yet; members = 8 + D - C (joins on the 15th) = 8;
    # active = A (5 Mar), D (Feb), H (15 Sep: lapses at the end of 14 March), I (Feb, not
    # returned yet), J = 5; F's purchase on 12 March is after the cutoff.
    partial = window("month", "2026-03-01", "2026-04-01", cutoff="2026-03-12")
    assert value_of("members", partial) == 8
    assert value_of("active_members", partial) == 5
    assert value_of("new_members", partial) == 1  # F on 10 March; C is still to come
    # Nobody lost yet: D withdraws on the 20th, H lapses on the 14th, I returns on the 25th.
    assert value_of("churn_rate", partial) == Decimal("0.0000")
    # The same stock as the day window ending at the cutoff.
    assert value_of("active_members", window("day", "2026-03-11", "2026-03-12")) == 5


@pytest.mark.parametrize(
    "code", ["members", "active_members", "new_members", "dormant_members", "churn_rate"]
)
def test_nobody_there(code):
    # No member at all: counts are 0 with n 0, the churn rate is undefined.
    found = values(code, MARCH)
    assert list(found) == ["all"]
    expected = None if code == "churn_rate" else 0
    assert (found["all"].value, found["all"].n) == (expected, 0)
