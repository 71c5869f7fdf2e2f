"""Earn and expiry policy: pure functions of the settings, no database access."""

import datetime as dt
import zoneinfo
from decimal import ROUND_DOWN, Decimal

from dateutil.relativedelta import relativedelta
from django.conf import settings


def base_points(*, amount: int, multiplier: Decimal | int = 1) -> int:
    """Points for spending `amount` yen: 1 per LOYALTY_YEN_PER_POINT, rounded down, x tier."""
    if amount <= 0:
        return 0
    base = amount // settings.LOYALTY_YEN_PER_POINT
    return int((Decimal(base) * Decimal(multiplier)).to_integral_value(rounding=ROUND_DOWN))


def expiry_for(earned_at: dt.datetime) -> dt.datetime:
    """When points earned at `earned_at` expire (the first instant they are no longer valid)."""
    if settings.LOYALTY_EXPIRY_POLICY == "end_of_following_year":
        local = earned_at.astimezone(zoneinfo.ZoneInfo(settings.TIME_ZONE))
        # Valid through 31 December of the following year, local time.
        return dt.datetime(local.year + 2, 1, 1, tzinfo=local.tzinfo)
    return earned_at + relativedelta(months=settings.LOYALTY_EXPIRY_MONTHS)


def purchase_available_at(occurred_at: dt.datetime) -> dt.datetime:
    """When purchase points become spendable (after the return window)."""
    return occurred_at + dt.timedelta(days=settings.LOYALTY_PENDING_DAYS)
