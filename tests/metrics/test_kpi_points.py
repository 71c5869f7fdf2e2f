"""Points outstanding (liability) and points expired, from the ledger (docs/metrics.md,
"Points"). Policy: 1 point per 100 yen, points expire 12 months after the purchase (at the
purchase's time of day), no pending period.

    X (gold) 2025-03-10 buys 10,000 -> lot 1: 100 points, expires 2026-03-10 12:00
             2025-06-01 buys 5,000  -> lot 2: 50 points, expires 2026-06-01 12:00
             2025-07-01 spends 30 (from lot 1, which expires first: 70 left)
             the expiry job runs 2026-03-11 00:20 and expires lot 1's 70
    Y        2025-03-20 buys 2,000  -> lot 3: 20 points, expires 2026-03-20 12:00
             (the job does not run again in March: lot 3 stays unexpired in the ledger)
             2026-03-05 buys 3,000  -> 30 points; 2026-03-06 returns 1,000 -> 10 reversed
    Z        2026-02-01 buys 1,000  -> 10 points; withdraws 2026-02-15 (points stay until
             they expire)
"""

from decimal import Decimal

import pytest

from loyalty.ledger import points_expire_due, points_spend
from members.models import Member
from tests.members.factories import TierFactory

from .kpi_support import at, buy, d, give_back, member, value_of, values, window, withdraw

pytestmark = pytest.mark.django_db
FEBRUARY = window("month", "2026-02-01", "2026-03-01")
MARCH = window("month", "2026-03-01", "2026-04-01")


@pytest.fixture
def world(settings):
    settings.LOYALTY_EXPIRY_POLICY = "rolling"
    settings.LOYALTY_EXPIRY_MONTHS = 12
    settings.LOYALTY_PENDING_DAYS = 0
    x = member("2025-01-01", tier=TierFactory(code="gold"))
    y, z = member("2025-01-01"), member("2025-01-01")
    buy(x, "2025-03-10", 10_000)
    buy(x, "2025-06-01", 5_000)
    points_spend(member=x, points=30, reference="shop-1", now=at(d("2025-07-01")))
    points_expire_due(now=at(d("2026-03-11"), 0).replace(minute=20))
    buy(y, "2025-03-20", 2_000)
    give_back(buy(y, "2026-03-05", 3_000), "2026-03-06", 1_000)
    buy(z, "2026-02-01", 1_000)
    withdraw(z, "2026-02-15")
    return {"x": x, "y": y, "z": z}


def test_outstanding_before_anything_expires(world):
    # At 1 March: X 100 - 30 + 50 = 120, Y 20, Z 10 (withdrawn, not expired) = 150.
    found = values("points_outstanding", FEBRUARY)
    assert (found["all"].value, found["all"].n) == (Decimal(150), 3)
    assert found["tier:gold"].value == Decimal(120)


def test_outstanding_the_night_a_lot_expires(world):
    # At 11 March 00:00 lot 1 (70 left) has expired (10 March 12:00) but the job writes its
    # entry at 00:20: the ledger still holds it at midnight, the KPI must not.
    # X 120 - 70 = 50; Y 20 + 30 - 10 = 40; Z 10 -> 100.
    day = window("day", "2026-03-10", "2026-03-11")
    assert value_of("points_outstanding", day) == Decimal(100)
    # The day before, lot 1 is still valid: X 120, Y 20 + 30 - 10, Z 10 = 170.
    assert value_of("points_outstanding", window("day", "2026-03-09", "2026-03-10")) == 170


def test_outstanding_with_a_lot_the_job_never_expired(world):
    # At 1 April: X 50 (lot 1 expired by the job); Y's lot 3 expired on 20 March but no job
    # wrote it: 40 - 20 = 20; Z 10 -> 80, held by 3 members.
    found = values("points_outstanding", MARCH)
    assert (found["all"].value, found["all"].n) == (Decimal(80), 3)
    # The cached balances say otherwise (Y's unexpired 40): the KPI reads the ledger.
    assert sum(Member.objects.values_list("points_available", flat=True)) == 100
    # The job catching up in April changes nothing at 1 April.
    points_expire_due(now=at(d("2026-04-02"), 1))
    assert value_of("points_outstanding", MARCH) == Decimal(80)


def test_points_expired_by_expiry_date(world):
    # March: lot 1's 70 (expired 10 March, written 11 March). Lot 3 expired on 20 March but
    # the ledger has no entry for it yet.
    found = values("points_expired", MARCH)
    assert (found["all"].value, found["all"].n) == (Decimal(70), 1)
    assert found["tier:gold"].value == Decimal(70)
    assert value_of("points_expired", FEBRUARY) == Decimal(0)
    # The job writing lot 3's 20 on 2 April is still March's expiry (its expires_at).
    points_expire_due(now=at(d("2026-04-02"), 1))
    assert value_of("points_expired", MARCH) == Decimal(90)
    assert value_of("points_expired", window("month", "2026-04-01", "2026-05-01")) == 0
    # The day it expired, not the day it was written.
    assert value_of("points_expired", window("day", "2026-03-10", "2026-03-11")) == 70
    assert value_of("points_expired", window("day", "2026-03-11", "2026-03-12")) == 0


@pytest.mark.parametrize("code", ["points_outstanding", "points_expired"])
def test_no_points(code):
    member("2025-01-01")
    found = values(code, MARCH)
    assert list(found) == ["all"]
    assert (found["all"].value, found["all"].n) == (Decimal(0), 0)
