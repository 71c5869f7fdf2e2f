"""Helpers for the KPI engine tests: members joining, buying, returning and withdrawing on
given days (programme-local, Asia/Tokyo), all through the real services, and reading the
values a calculator gives per segment."""

import datetime as dt
import itertools
from decimal import Decimal

from loyalty.purchases import purchase_record, purchase_return
from members.models import Member
from members.services import member_withdraw
from metrics.kpis.base import REGISTRY, Window
from metrics.snapshots import registry
from tests.members.factories import MemberFactory

JST = dt.timezone(dt.timedelta(hours=9))
_refs = itertools.count(1)


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=JST)


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def member(joined: str, **fields) -> Member:
    return MemberFactory(joined_at=at(d(joined), fields.pop("hour", 9)), **fields)


def buy(who: Member, day: str, total: int = 1000, *, channel: str = "store", hour: int = 12):
    purchase, _created = purchase_record(
        member=who,
        order_reference=f"o-{next(_refs)}",
        total=total,
        occurred_at=at(d(day), hour),
        channel=channel,
    )
    return purchase


def give_back(purchase, day: str, amount: int, *, hour: int = 15):
    returned, _created = purchase_return(
        order_reference=purchase.order_reference,
        return_reference=f"r-{next(_refs)}",
        amount=amount,
        occurred_at=at(d(day), hour),
    )
    return returned


def withdraw(who: Member, day: str, *, hour: int = 18) -> Member:
    return member_withdraw(member=who, now=at(d(day), hour))


def window(period: str, start: str, end: str, cutoff: str | None = None) -> Window:
    return Window(period, d(start), d(end), d(cutoff) if cutoff else None)


def values(code: str, win: Window) -> dict[str, object]:
    """{segment: Value} of one KPI for one window."""
    registry()
    return {v.segment: v for v in REGISTRY[code].compute(win)}


def value_of(code: str, win: Window, segment: str = "all") -> Decimal | None:
    return values(code, win)[segment].value
