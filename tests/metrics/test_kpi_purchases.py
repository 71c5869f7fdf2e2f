"""Average order value, purchase frequency, repeat rate and LTV on a hand-made world
(docs/metrics.md, "Purchases", "Repeat rate", "LTV").

The period is April 2026 [1 Apr, 1 May); the trailing year for repeat rate, frequency and
LTV is [1 May 2025, 1 May 2026). Purchases (yen, channel):

    P joined 2024-01-01, gold: 2025-03-01 500; 2025-06-10 3,000; 2026-04-05 1,000;
                              2026-04-20 2,000 online
    Q joined 2024-02-01:       2025-04-15 800; 2026-04-10 5,000, 1,000 returned 2026-04-12
    R joined 2024-03-01:       2025-02-01 700; 2025-09-01 1,000 app;
                              2026-04-15 3,000, returned in full 2026-04-16
    S joined 2026-04-10:       2026-04-11 600 app (joined mid-period)
    T joined 2024-05-01:       2026-04-25 900, returned in full 2026-05-03 (after the period)
    W joined 2024-06-01:       2025-10-01 1,500; 2025-11-01 500; withdrew 2026-01-15
Channel "store" unless said.
"""

from decimal import Decimal

import pytest

from tests.members.factories import TierFactory

from .kpi_support import buy, give_back, member, value_of, values, window, withdraw

pytestmark = pytest.mark.django_db
APRIL = window("month", "2026-04-01", "2026-05-01")


@pytest.fixture
def world():
    gold = TierFactory(code="gold")
    p = member("2024-01-01", tier=gold)
    q, r = member("2024-02-01"), member("2024-03-01")
    s, t, w = member("2026-04-10"), member("2024-05-01"), member("2024-06-01")
    buy(p, "2025-03-01", 500)
    buy(p, "2025-06-10", 3000)
    buy(p, "2026-04-05", 1000)
    buy(p, "2026-04-20", 2000, channel="online")
    buy(q, "2025-04-15", 800)
    give_back(buy(q, "2026-04-10", 5000), "2026-04-12", 1000)
    buy(r, "2025-02-01", 700)
    buy(r, "2025-09-01", 1000, channel="app")
    give_back(buy(r, "2026-04-15", 3000), "2026-04-16", 3000)
    buy(s, "2026-04-11", 600, channel="app")
    give_back(buy(t, "2026-04-25", 900), "2026-05-03", 900)
    buy(w, "2025-10-01", 1500)
    buy(w, "2025-11-01", 500)
    withdraw(w, "2026-01-15")


def test_average_order_value(world):
    # April purchases counting at 1 May: P 1,000 + 2,000, Q 5,000 - 1,000 = 4,000, S 600,
    # T 900 (its return is on 3 May, after the period). R's 3,000 was returned in full: no
    # purchase. 5 purchases, 8,500 yen: 1,700.
    found = values("average_order_value", APRIL)
    all_ = found["all"]
    assert (all_.value, all_.numerator, all_.denominator, all_.n) == (
        Decimal("1700.0000"),
        8500,
        5,
        5,
    )
    assert all_.details == {"buyers": 4}
    # By channel: store P 1,000, Q 4,000, T 900 = 5,900 / 3; online 2,000; app 600.
    assert found["channel:store"].value == Decimal("1966.6667")
    assert found["channel:online"].value == Decimal("2000.0000")
    assert found["channel:app"].value == Decimal("600.0000")
    # Gold (P): 3,000 / 2 = 1,500, not the programme's 1,700.
    assert found["tier:gold"].value == Decimal("1500.0000")
    assert found["segment:new"].value == Decimal("600.0000")  # S


def test_a_return_after_the_period_does_not_change_it(world):
    # T's return on 3 May counts from 3 May: in May's figures T's purchase no longer counts.
    may = window("month", "2026-05-01", "2026-06-01")
    assert values("average_order_value", may)["all"].n == 0
    # Measured at 4 May (a recompute of April would still use 1 May): the trailing year
    # ending 4 May sees T's purchase as returned in full.
    assert values("repeat_rate", window("day", "2026-05-03", "2026-05-04"))["all"].n == 5


def test_repeat_rate(world):
    # Purchases in [1 May 2025, 1 May 2026) counting at 1 May 2026:
    # P 3 (Jun, 5 Apr, 20 Apr), Q 1 (its April 2025 one is older), R 1 (Sep; April's was
    # returned), S 1, T 1, W 2 (withdrawn since, but the purchases were made) -> 6 buyers,
    # 2 repeaters (P, W): 33.3333 %.
    found = values("repeat_rate", APRIL)
    assert (found["all"].value, found["all"].numerator, found["all"].denominator) == (
        Decimal("33.3333"),
        2,
        6,
    )
    assert found["all"].details == {"months": 12}
    # Store only: P 2 (Jun, 5 Apr), Q 1, T 1, W 2 -> 2 of 4 = 50 %. App: R 1, S 1 -> 0 %.
    assert found["channel:store"].value == Decimal("50.0000")
    assert found["channel:app"].value == Decimal("0.0000")
    assert found["channel:online"].value == Decimal("0.0000")
    assert found["tier:gold"].value == Decimal("100.0000")


def test_repeat_rate_window_is_a_setting(world, settings):
    # 24 months [1 May 2024, 1 May 2026): P 4, Q 2, R 2, S 1, T 1, W 2 -> 4 of 6.
    settings.LOYALTY_REPEAT_MONTHS = 24
    found = values("repeat_rate", APRIL)["all"]
    assert (found.value, found.details) == (Decimal("66.6667"), {"months": 24})


def test_purchase_frequency(world):
    # Same trailing year: 3 + 1 + 1 + 1 + 1 + 2 = 9 purchases by 6 buyers = 1.5 a year.
    found = values("purchase_frequency", APRIL)
    assert (found["all"].value, found["all"].n) == (Decimal("1.5000"), 6)
    assert found["tier:gold"].value == Decimal("3.0000")
    # Store: P 2, Q 1, T 1, W 2 = 6 by 4 -> 1.5; app: R, S -> 1.
    assert found["channel:store"].value == Decimal("1.5000")
    assert found["channel:app"].value == Decimal("1.0000")


def test_ltv(world):
    # Trailing year Y = [1 May 2025, 1 May 2026).
    # Spend: 9 purchases, net P 6,000 + Q 4,000 + R 1,000 + S 600 + T 900 + W 2,000 =
    # 14,500 yen, 6 buyers: AOV 1,611.11.., 1.5 purchases a year.
    # Churn over Y: active on 1 May 2025 (a purchase in [2 Nov 2024, 1 May 2025)): P (Mar),
    # Q (Apr), R (Feb) = 3; lost by 1 May 2026 (nothing counting in [2 Nov 2025, 1 May
    # 2026)): R (its April purchase was returned in full) = 1 -> churn 1/3 -> 3 years.
    # LTV = 14,500/9 x 0.30 x 9/6 x 3 = 2,175.
    found = values("ltv", APRIL)
    all_ = found["all"]
    assert all_.value == Decimal("2175.0000")
    assert all_.n == 6
    assert all_.details == {
        "average_order_value": "1611.1111",
        "purchase_frequency": "1.5000",
        "retention_years": "3.0000",
        "margin": "0.30",
        "max_years": 10,
        "annual_churn": "33.3333",
        "buyers": 6,
        "purchases": 9,
        "net_sales": 14500,
        "active_at_start": 3,
        "lost": 1,
    }
    # Gold = P alone: 6,000 yen in 3 purchases, nobody lost -> the 10-year cap:
    # 2,000 x 0.30 x 3 x 10 = 18,000.
    assert found["tier:gold"].value == Decimal("18000.0000")
    assert found["tier:gold"].details["retention_years"] == "10.0000"
    # A segment with buyers but nobody active at the start of Y: undefined (S joined in
    # April 2026: cohort 2026-04).
    assert found["cohort:2026-04"].value is None
    assert found["cohort:2026-04"].details["average_order_value"] == "600.0000"


def test_ltv_settings(world, settings):
    # Margin 0.5: 14,500/6 x 0.5 x 3 = 3,625.
    settings.LOYALTY_MARGIN = Decimal("0.5")
    assert value_of("ltv", APRIL) == Decimal("3625.0000")
    # A 400-day lapse window: R's September purchase keeps it active, nobody is lost, so
    # retention is the cap, here 5 years: 14,500/6 x 0.5 x 5 = 6,041.6667.
    settings.LOYALTY_CHURN_LAPSE_DAYS = 400
    settings.LOYALTY_LTV_MAX_YEARS = 5
    found = values("ltv", APRIL)["all"]
    assert found.value == Decimal("6041.6667")
    assert (found.details["active_at_start"], found.details["lost"]) == (3, 0)


@pytest.mark.parametrize(
    "code", ["average_order_value", "repeat_rate", "purchase_frequency", "ltv"]
)
def test_no_buyers(code):
    # A member but no purchase: every value undefined, n 0 (never a fake 0).
    member("2024-01-01")
    found = values(code, APRIL)
    assert list(found) == ["all"]
    assert (found["all"].value, found["all"].n) == (None, 0)
