"""What the rule evaluator sees: plain frozen data, loaded in bulk by the Django layer.

No Django imports here or in fields.py, conditions.py and evaluator.py: the evaluator is pure
Python over these values, so it is fast and property-testable.
"""

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

EMPTY: Mapping[str, Any] = MappingProxyType({})


def _empty() -> Mapping[str, Any]:
    # dataclasses refuse an unhashable default (a mappingproxy) as "mutable"; this is read-only.
    return EMPTY


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEATHER_CONDITIONS = ("clear", "cloudy", "rain", "snow")
CHANNELS = ("store", "online", "app")
GENDERS = ("female", "male", "other", "unspecified")  # members.Member.Gender values


@dataclass(frozen=True, slots=True)
class LineFacts:
    sku: str
    category: str
    quantity: int
    unit_price: int


@dataclass(frozen=True, slots=True)
class WeatherFacts:
    condition: str  # one of WEATHER_CONDITIONS
    precipitation_mm: float = 0.0


@dataclass(frozen=True, slots=True)
class EventFacts:
    type: str  # event type code: purchase, visit, sns_follow, ... or a custom type
    occurred_at: dt.datetime  # aware
    local_date: dt.date  # occurred_at in the programme's time zone
    weekday: str  # one of WEEKDAYS, of local_date
    hour: int  # 0..23, local
    is_holiday: bool = False  # a public holiday at the store (or the programme's country)
    store: str | None = None  # store code
    channel: str | None = None  # one of CHANNELS (purchases)
    staff: str | None = None  # staff code (purchases)
    amount: int | None = None  # yen, purchases and returns
    lines: tuple[LineFacts, ...] = ()
    # Validated against the event type's schema.
    payload: Mapping[str, Any] = field(default_factory=_empty)
    weather: WeatherFacts | None = None  # at the store that day (or given with the event)


@dataclass(frozen=True, slots=True)
class MemberFacts:
    tier: str | None  # tier code
    age: int | None  # whole years on the event's local date; None without a birth date
    gender: str  # one of GENDERS
    days_since_joined: int  # local_date - joined date, in days (0 on the joining day)
    birthday_month: int | None  # 1..12; None without a birth date
    home_store: str | None
    is_first_purchase: bool  # this event is the member's first purchase ever
    days_since_last_purchase: int | None = None  # before this event; None: never bought
    new_skus: frozenset[str] = frozenset()  # SKUs in this event the member never bought before
    new_categories: frozenset[str] = frozenset()
    # Counts before this event, loaded by the Django layer; see fields.COUNTERS for the names.
    counters: Mapping[str, int] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True)
class Facts:
    event: EventFacts
    member: MemberFacts
    extra: Mapping[str, Any] = field(default_factory=_empty)
