"""Load a deterministic demo data set for trying the engine out.

    manage.py demo_data --members 2000 --months 12 --seed 42

Stores, staff, tiers, coupon templates and demo logins, one active challenge per preset of
challenges.presets (fitted to this world: its SKUs, staff, SNS account, survey and in-store
event) and a year of weather with rainy days, then members with a history of purchases,
visits, returns, point spends, coupons and app events. Planning is pure: `plan_member` turns
(seed, member index) into a MemberPlan with its own random.Random, so a member's plan does not
depend on how many others are loaded. Loading writes a member's plan through the services,
in chronological order with `now` set to each event's time; ledger rows are never written
directly. One transaction per COMMIT_EVERY members, a savepoint per member.

Challenge events: every purchase and return becomes an event as it is recorded
(event_for_purchase / event_for_return, as through the API); after them, in one intake call
per member, the member's check-ins, SNS follows, survey answers, event attendance and app
opens (events_ingest, source "demo"), each stream in time order (one call per purchase to
interleave them costs too much). The worker claims batches in id order and evaluates each in
occurred_at order, so only a member whose events straddle two batches sees the two streams
meet out of order at that boundary; no preset relates them. Nothing is processed while
loading (events_processing_deferred): at the end every pending event is processed in this
process (events_process_pending, which evaluates each batch in occurred_at order); then the
nightly scheduler is run for every day of the history (birthdays, anniversaries, win-back),
as it would have run each night, and its events are processed too. The run prints events per second.

Safe to run again: a completed load (the last planned member exists) only prints the logins;
an interrupted one resumes, skipping members already present. Nothing is ever deleted.
"""

import dataclasses
import datetime as dt
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone
from tqdm import tqdm

from challenges.intake import (
    event_for_purchase,
    event_for_return,
    events_ingest,
    events_processing_deferred,
)
from challenges.models import Award, Challenge, Verification, WeatherObservation
from challenges.models import Event as EngineEvent
from challenges.presets import PRESETS
from challenges.processing import events_process_pending
from challenges.scheduled import scheduled_events_create
from challenges.services import challenge_create
from challenges.weather import weather_observations_import
from loyalty.coupons import coupon_issue, coupon_redeem, coupon_void, coupons_expire_due
from loyalty.ledger import points_expire_due, points_release_due, points_spend
from loyalty.models import Coupon, CouponTemplate, LedgerEntry, PointLot, Purchase, PurchaseReturn
from loyalty.models.ledger import EntrySource, EntryState
from loyalty.models.purchases import Channel
from loyalty.purchases import Line, purchase_record, purchase_return
from members.api_keys import SCOPES, api_key_create, api_key_revoke
from members.contact import normalize_email, normalize_phone
from members.models import ApiKey, Member, Staff, Store, Tier, Visit
from members.numbers import MEMBER_NUMBER_LENGTH, luhn_check_digit
from members.passwords import member_login_create
from members.services import member_withdraw, tiers_recalculate
from metrics.models import KpiSnapshot, Question, Survey
from metrics.periods import period_shift, period_starts
from metrics.selectors import kpi_registry
from metrics.services import survey_answer
from metrics.snapshots import (
    kpi_snapshots_write,
    kpis_compute,
    kpis_nightly,
    window_containing,
)

# Demo-only passwords, printed at the end of every run.
LOGINS = {
    "admin": "demo-admin-pass",
    "staff": "demo-staff-pass",
    "marketer": "demo-marketer-pass",
    "member": "demo-member-pass",
}
STAFF_LOGIN_PROFILE = "TYO01-01"

STORES = (
    # code, name, prefecture, city, latitude, longitude, weight as a home store
    ("TYO01", "Demo Coffee Shibuya", "Tokyo", "Shibuya-ku", "35.658034", "139.701636", 5),
    ("OSA01", "Demo Coffee Umeda", "Osaka", "Osaka-shi Kita-ku", "34.702485", "135.495951", 3),
    ("FUK01", "Demo Coffee Tenjin", "Fukuoka", "Fukuoka-shi Chuo-ku", "33.591181", "130.398768", 2),
)
STAFF = (
    ("TYO01-01", "Sato Haruka", "TYO01"),
    ("TYO01-02", "Kato Ren", "TYO01"),
    ("OSA01-01", "Yamamoto Aoi", "OSA01"),
    ("OSA01-02", "Nakamura Sota", "OSA01"),
    ("FUK01-01", "Inoue Mei", "FUK01"),
    ("FUK01-02", "Kimura Daiki", "FUK01"),
)
TIERS = (
    # code, name, rank, threshold spend (yen), earn multiplier
    ("regular", "Regular", 0, 0, "1.00"),
    ("silver", "Silver", 1, 50_000, "1.50"),
    ("gold", "Gold", 2, 150_000, "2.00"),
)
CATALOGUE = (
    # sku, category, unit price (yen), weight in a store basket, weight in an online basket
    ("COF-001", "coffee", 450, 30, 0),  # drip coffee
    ("COF-002", "coffee", 560, 20, 0),  # cafe latte
    ("TEA-001", "tea", 520, 12, 0),  # matcha latte
    ("SWE-001", "sweets", 380, 12, 4),  # dorayaki
    ("SWE-002", "sweets", 1_600, 4, 8),  # baked gift box
    ("BEA-001", "beans", 1_800, 8, 30),  # house blend 200 g
    ("BEA-002", "beans", 2_600, 5, 20),  # single origin 200 g
    ("TEA-101", "tea_leaves", 1_500, 4, 15),  # sencha 100 g
    ("GDS-001", "goods", 2_800, 2, 8),  # mug
    ("GDS-002", "goods", 6_800, 1, 4),  # drip kettle
)
FAMILY_NAMES = (
    "Sato Suzuki Takahashi Tanaka Watanabe Ito Yamamoto Nakamura Kobayashi Kato Yoshida "
    "Yamada Sasaki Yamaguchi Matsumoto Inoue Kimura Hayashi Shimizu Saito Mori Ikeda Hashimoto"
).split()
GIVEN_NAMES = {
    Member.Gender.FEMALE: "Yui Aoi Hina Sakura Yuna Mei Haruka Yuki Misaki Nanami Emi Rin".split(),
    Member.Gender.MALE: "Haruto Sota Yuto Ren Riku Kaito Takumi Daiki Kenta Shota Hiroshi".split(),
    Member.Gender.OTHER: "Akira Hikaru Makoto Kaoru Nao Tsubasa".split(),
    Member.Gender.UNSPECIFIED: "Akira Hikaru Makoto Kaoru Nao Yuki Haru".split(),
}
GENDER_WEIGHTS = {
    Member.Gender.FEMALE: 46,
    Member.Gender.MALE: 44,
    Member.Gender.OTHER: 2,
    Member.Gender.UNSPECIFIED: 8,
}


@dataclass(frozen=True)
class Profile:
    """How a kind of member shops."""

    name: str
    share: float
    purchases_per_month: tuple[float, float]
    basket_lines: tuple[int, int]
    spend_chance: float  # per purchase: points are spent right after it
    active_days: tuple[int, int] | None = None  # dormant members stop buying after this


PROFILES = (
    Profile("frequent", 0.10, (4.0, 8.0), (1, 4), 0.12),
    Profile("regular", 0.28, (1.2, 2.5), (1, 3), 0.08),
    Profile("occasional", 0.40, (0.3, 1.0), (1, 3), 0.05),
    Profile("dormant", 0.22, (0.7, 2.0), (1, 2), 0.02, active_days=(20, 90)),
)
JOINED_BEFORE_SHARE = 0.15  # members who joined before the history window...
LEAD_IN = relativedelta(months=6)  # ...also buy up to this long before it, so points expire
WITHDRAW_CHANCE = 0.03
PHONE_CHANCE = 0.6
RETURN_CHANCE = 0.015  # per purchase of 1,000 yen or more
SPEND_CHOICES = (100, 200, 300, 500)
# Members per transaction: one commit (an fsync on SQLite) per member cost a third of the run.
COMMIT_EVERY = 50

# The challenge side of the demo world. Presets are parameterised from DEMO_PRESET_VALUES by
# parameter name (any preset taking `sku` gets FIRST_TRY_SKU, ...); a preset added later with
# a required parameter missing here is skipped with a note.
DEMO_SOURCE = "demo"  # events_ingest source key of the demo's events
FIRST_TRY_SKU = "BEA-001"  # house blend beans: rewarded the first time a member buys them
AMBASSADOR = "TYO01-01"  # the staff login's own profile
SNS_PLATFORM, SNS_ACCOUNT = "instagram", "@demo_coffee"
SURVEY = "demo-satisfaction"
EVENT_CODE, EVENT_STORE = "DEMO-TASTING", "TYO01"  # a coffee tasting at Shibuya
DEMO_PRESET_VALUES = {
    "sku": FIRST_TRY_SKU,
    "staff_code": AMBASSADOR,
    "platform": SNS_PLATFORM,
    "account": SNS_ACCOUNT,
    "survey": SURVEY,
    "event_code": EVENT_CODE,
}
RAIN_SHARE, CLOUDY_SHARE = 0.2, 0.3  # of store days; the rest are clear
APP_USER_SHARE = 0.5
APP_OPENS_PER_MONTH = (0.2, 1.0)
SNS_FOLLOW_CHANCE = 0.25
OTHER_PLATFORMS = ("x", "line")  # followers elsewhere: not what the SNS challenge asks for
SURVEY_CHANCE = 0.35
NPS_WEIGHTS = (1, 1, 1, 2, 2, 4, 6, 10, 14, 12, 9)  # scores 0-10
# The survey's other questions, by how the member scored NPS (high 9-10, mid 7-8, low 0-6):
# weights of NRS 1-5, CSAT 1-5, CES 0-10 (lower: less effort) and DWB 1-5 (1: definitely).
SURVEY_WEIGHTS = {
    "high": {
        "nrs": (0, 0, 1, 4, 8),
        "csat": (0, 0, 1, 4, 8),
        "ces": (10, 10, 8, 5, 3, 2, 1, 1, 0, 0, 0),
        "dwb": (8, 4, 1, 0, 0),
    },
    "mid": {
        "nrs": (0, 1, 3, 6, 3),
        "csat": (0, 1, 3, 7, 3),
        "ces": (4, 6, 8, 8, 6, 4, 3, 2, 1, 1, 0),
        "dwb": (3, 6, 3, 1, 0),
    },
    "low": {
        "nrs": (2, 3, 4, 2, 1),
        "csat": (2, 4, 4, 2, 0),
        "ces": (1, 2, 3, 4, 5, 5, 4, 3, 2, 2, 1),
        "dwb": (1, 2, 4, 3, 2),
    },
}
COMMENT_CHANCE = 0.3
COMMENTS = {
    "high": ("Great coffee and friendly staff.", "Love the house blend.", "Always a nice stop."),
    "mid": ("Good, but often crowded.", "Nice drinks, a bit pricey.", "Fine, nothing special."),
    "low": ("Waited too long at the till.", "My latte was cold.", "Too expensive for what it is."),
}
ATTEND_CHANCE = 0.2  # of active members whose home store hosts the event
KPI_MONTHS = 13  # the current month and the 12 finished ones the dashboard opens on
KPI_WEEKS = 9  # the current week and the 8 finished ones (the dashboard's week view)

WELCOME, SEASON, BIRTHDAY, STORE_ONLY = (
    "demo-welcome-500",
    "demo-season-10pct",
    "demo-birthday-coffee",
    "demo-umeda-300",
)


def coupon_templates(anchor: dt.datetime) -> dict[str, dict]:
    """Field values of the demo coupon templates (created only when absent)."""
    kind = CouponTemplate.Kind
    return {
        WELCOME: {
            "name": "Welcome: 500 yen off",
            "kind": kind.AMOUNT_OFF,
            "amount_off": 500,
            "valid_days": 30,
        },
        SEASON: {
            "name": "Season sale: 10% off",
            "kind": kind.PERCENT_OFF,
            "percent_off": 10,
            "valid_from": anchor - dt.timedelta(days=40),
            "valid_until": anchor + dt.timedelta(days=20),
        },
        BIRTHDAY: {
            "name": "Birthday coffee",
            "kind": kind.FREE_ITEM,
            "free_item_sku": "COF-001",
            "valid_days": 14,
            "per_member_limit": None,
        },
        STORE_ONLY: {
            "name": "Umeda store only: 300 yen off",
            "kind": kind.AMOUNT_OFF,
            "amount_off": 300,
            "valid_days": 60,
            "stores": ["OSA01"],
        },
    }


# --- Planning: pure, no database ----------------------------------------------------------


@dataclass(frozen=True)
class CouponRule:
    """When and where a template's coupons can be used (read from the template)."""

    valid_days: int | None = None
    valid_from: dt.datetime | None = None
    valid_until: dt.datetime | None = None
    stores: frozenset[str] = frozenset()

    def usable(self, issued_at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        start = max(issued_at, self.valid_from) if self.valid_from else issued_at
        if self.valid_days:
            return start, issued_at + dt.timedelta(days=self.valid_days)
        return start, self.valid_until


@dataclass(frozen=True)
class World:
    """Everything a member's plan depends on besides its index."""

    seed: int
    months: int
    anchor: dt.datetime  # the end of the simulated history (aware, local midnight)
    coupons: dict[str, CouponRule]

    @property
    def start(self) -> dt.datetime:
        return self.anchor - relativedelta(months=self.months)

    @property
    def tasting_at(self) -> dt.datetime:
        """The demo's in-store event: the Saturday after the middle of the history, 14:00."""
        middle = (self.start + (self.anchor - self.start) / 2).date()
        day = middle + dt.timedelta(days=(5 - middle.weekday()) % 7)
        return dt.datetime.combine(day, dt.time(14), tzinfo=self.anchor.tzinfo)


@dataclass(frozen=True)
class PlannedPurchase:
    reference: str
    at: dt.datetime
    channel: str
    store: str | None
    staff: str | None
    lines: tuple[Line, ...]

    @property
    def total(self) -> int:
        return sum(line.quantity * line.unit_price for line in self.lines)


# Event kinds, in the order they happen when two share a time.
ISSUE, PURCHASE, REDEEM, SPEND, RETURN, VOID, WITHDRAW = (
    "issue",
    "purchase",
    "redeem",
    "spend",
    "return",
    "void",
    "withdraw",
)
EVENT_ORDER = {kind: n for n, kind in enumerate([ISSUE, PURCHASE, REDEEM, SPEND, RETURN, VOID])}
EVENT_ORDER[WITHDRAW] = 99


@dataclass(frozen=True)
class Event:
    at: dt.datetime
    kind: str
    reference: str = ""  # order, spend, return or (for an issue) the coupon's plan key
    purchase: PlannedPurchase | None = None
    amount: int = 0  # yen returned or points to spend
    template: str = ""
    coupon: str = ""  # the issue event's reference
    store: str | None = None


@dataclass(frozen=True)
class Activity:
    """A challenge event other than a purchase or return, sent through events_ingest."""

    at: dt.datetime
    type: str
    client_id: str
    store: str | None = None
    payload: tuple[tuple[str, object], ...] = ()  # a dict's items (the plan stays hashable)

    def item(self, member_number: str) -> dict:
        """The event as an integration would send it to POST /api/v1/events."""
        return {
            "client_id": self.client_id,
            "type": self.type,
            "member_number": member_number,
            "occurred_at": self.at.isoformat(),
            "store_code": self.store or "",
            "payload": dict(self.payload),
        }


@dataclass(frozen=True)
class MemberPlan:
    index: int
    member_number: str
    name: str
    email: str
    phone: str | None
    birth_date: dt.date
    gender: str
    home_store: str
    joined_at: dt.datetime
    profile: str
    events: tuple[Event, ...]
    activities: tuple[Activity, ...]  # check-ins, SNS, surveys, attendance, app opens

    @property
    def withdrawn(self) -> bool:
        return bool(self.events) and self.events[-1].kind == WITHDRAW


def _member_rng(seed: int, index: int) -> random.Random:
    # A string seed is hashed with SHA-512: stable across runs and Python processes.
    return random.Random(f"demo-data:{seed}:{index}")


def _member_number(rng: random.Random) -> str:
    payload = str(rng.randint(1, 9)) + "".join(
        str(rng.randrange(10)) for _ in range(MEMBER_NUMBER_LENGTH - 2)
    )
    return payload + luhn_check_digit(payload)


def member_number_for(seed: int, index: int) -> str:
    """The member number plan_member gives member `index` (its rng's first draws)."""
    return _member_number(_member_rng(seed, index))


def _phone(rng: random.Random, index: int) -> str:
    # 8 digits after 70/80/90, first one non-zero (a valid JP mobile); unique per index
    # because 48271 is coprime with 90,000,000.
    subscriber = 10_000_000 + (index * 48_271) % 90_000_000
    return f"+81{rng.choice((70, 80, 90))}{subscriber}"


def _between(rng: random.Random, start: dt.datetime, end: dt.datetime) -> dt.datetime:
    return (start + (end - start) * rng.random()).replace(microsecond=0)


def _basket(rng: random.Random, channel: str, lines: tuple[int, int]) -> tuple[Line, ...]:
    column = 3 if channel == Channel.STORE else 4
    items = rng.choices(
        CATALOGUE, weights=[item[column] for item in CATALOGUE], k=rng.randint(*lines)
    )
    quantities: Counter = Counter()
    for item in items:
        quantities[item] += rng.choices((1, 2, 3), weights=(80, 15, 5))[0]
    return tuple(
        Line(sku=sku, category=category, quantity=qty, unit_price=price)
        for (sku, category, price, *_w), qty in sorted(quantities.items())
    )


def _plan_purchases(
    rng: random.Random,
    world: World,
    index: int,
    profile: Profile,
    home_store: str,
    start: dt.datetime,
    end: dt.datetime,
) -> list[PlannedPurchase]:
    tz = world.anchor.tzinfo
    per_day = rng.uniform(*profile.purchases_per_month) / 30.4
    raw = []
    clock = start
    while True:
        clock += dt.timedelta(days=rng.expovariate(per_day))
        if clock >= end:
            break
        # Opening hours 10:00-21:00 local on the drawn day.
        day = clock.astimezone(tz).date()
        at = dt.datetime.combine(day, dt.time(10), tzinfo=tz)
        at += dt.timedelta(minutes=rng.randrange(11 * 60), seconds=rng.randrange(60))
        channel = rng.choices((Channel.STORE, Channel.ONLINE, Channel.APP), weights=(70, 15, 15))[0]
        store = staff = None
        if channel == Channel.STORE:
            store = home_store if rng.random() < 0.85 else rng.choice(STORES)[0]
            if rng.random() < 0.9:
                staff = rng.choice([s[0] for s in STAFF if s[2] == store])
        lines = _basket(rng, channel, profile.basket_lines)
        if start < at < end:  # the drawn day's hours may fall before joining or after the end
            raw.append((at, channel, store, staff, lines))
    raw.sort(key=lambda row: row[0])
    return [
        PlannedPurchase(f"DEMO-{index:06d}-{n:04d}", *row) for n, row in enumerate(raw, start=1)
    ]


def _plan_coupons(
    rng: random.Random,
    world: World,
    index: int,
    *,
    birth_month: int,
    home_store: str,
    first: dt.datetime,
    end: dt.datetime,
    purchases: list[PlannedPurchase],
) -> list[Event]:
    """Coupons issued between `first` and `end`; some used at a later purchase, a few voided."""
    tz = world.anchor.tzinfo
    issues: list[tuple[str, dt.datetime]] = []
    if first >= world.start and rng.random() < 0.7:
        issues.append((WELCOME, first + dt.timedelta(minutes=1)))
    season = world.coupons[SEASON]
    if season.valid_from and rng.random() < 0.4:
        issues.append(
            (SEASON, max(season.valid_from, first) + dt.timedelta(hours=rng.uniform(0, 120)))
        )
    for year in range(world.start.year, world.anchor.year + 1):
        issues.append((BIRTHDAY, dt.datetime(year, birth_month, 1, 9, tzinfo=tz)))
    if home_store in world.coupons[STORE_ONLY].stores and rng.random() < 0.5:
        issues.append((STORE_ONLY, _between(rng, first, end)))

    events = []
    for n, (template, issued_at) in enumerate(sorted(issues, key=lambda i: i[1]), start=1):
        rule = world.coupons[template]
        if not (max(first, world.start) <= issued_at < end):
            continue
        if rule.valid_until is not None and issued_at >= rule.valid_until:
            continue
        key = f"DEMO-CPN-{index:06d}-{n:02d}"
        events.append(Event(issued_at, ISSUE, reference=key, template=template))
        usable_from, usable_until = rule.usable(issued_at)
        usable = [
            p
            for p in purchases
            if usable_from <= p.at < usable_until and (not rule.stores or p.store in rule.stores)
        ]
        if usable and rng.random() < 0.6:
            p = usable[0]
            events.append(Event(p.at, REDEEM, reference=p.reference, coupon=key, store=p.store))
        elif rng.random() < 0.08 and issued_at + dt.timedelta(days=1) < end:
            events.append(Event(issued_at + dt.timedelta(days=1), VOID, coupon=key))
    return events


def plan_member(world: World, index: int) -> MemberPlan:
    """The demo member number `index` (1-based) and everything that happens to them."""
    rng = _member_rng(world.seed, index)
    number = _member_number(rng)  # first: member_number_for relies on it
    profile = rng.choices(PROFILES, weights=[p.share for p in PROFILES])[0]
    gender = rng.choices(list(GENDER_WEIGHTS), weights=list(GENDER_WEIGHTS.values()))[0]
    name = f"{rng.choice(FAMILY_NAMES)} {rng.choice(GIVEN_NAMES[gender])}"
    phone = _phone(rng, index) if rng.random() < PHONE_CHANCE else None
    age = rng.randint(18, 80)
    birth_date = (
        world.anchor.date() - relativedelta(years=age) - dt.timedelta(days=rng.randrange(365))
    )
    home_store = rng.choices([s[0] for s in STORES], weights=[s[6] for s in STORES])[0]
    if rng.random() < JOINED_BEFORE_SHARE:
        joined_at = _between(rng, world.start - relativedelta(years=2), world.start)
    else:
        joined_at = _between(rng, world.start, world.anchor - dt.timedelta(hours=1))
    end = world.anchor
    withdraw_from = max(joined_at + dt.timedelta(days=30), world.start)
    if rng.random() < WITHDRAW_CHANCE and withdraw_from < world.anchor:
        end = _between(rng, withdraw_from, world.anchor)

    first = max(joined_at, world.start - LEAD_IN)
    last = end
    if profile.active_days:
        last = min(end, first + dt.timedelta(days=rng.uniform(*profile.active_days)))
    purchases = _plan_purchases(rng, world, index, profile, home_store, first, last)

    events: list[Event] = []
    spends = returns = 0
    for p in purchases:
        events.append(Event(p.at, PURCHASE, reference=p.reference, purchase=p))
        spend_at = p.at + dt.timedelta(minutes=2)
        if rng.random() < profile.spend_chance and spend_at < end:
            spends += 1
            events.append(
                Event(
                    spend_at,
                    SPEND,
                    reference=f"DEMO-SPEND-{index:06d}-{spends:03d}",
                    amount=rng.choice(SPEND_CHOICES),
                )
            )
        return_at = (p.at + dt.timedelta(days=rng.uniform(1, 10))).replace(microsecond=0)
        if p.total >= 1000 and rng.random() < RETURN_CHANCE and return_at < end:
            returns += 1
            events.append(
                Event(
                    return_at,
                    RETURN,
                    reference=f"DEMO-RET-{index:06d}-{returns:03d}",
                    purchase=p,
                    # A whole order, or one item of it.
                    amount=p.lines[0].unit_price if rng.random() < 0.4 else p.total,
                )
            )
    events += _plan_coupons(
        rng,
        world,
        index,
        birth_month=birth_date.month,
        home_store=home_store,
        first=joined_at,
        end=end,
        purchases=purchases,
    )
    events.sort(key=lambda e: (e.at, EVENT_ORDER[e.kind]))
    if end < world.anchor:
        events.append(Event(end, WITHDRAW))

    # A check-in at every store purchase, and now and then one just to look around.
    visits = [(p.at, p.store) for p in purchases if p.store]
    for p in purchases:
        browse_at = p.at - dt.timedelta(days=rng.uniform(2, 20))
        if p.store and rng.random() < 0.3 and browse_at > first:
            visits.append((browse_at.replace(microsecond=0), home_store))
    # Drawn last, so that adding them left every earlier draw (and so the rest of the plan) as
    # it was. App events only while the member is engaged (a dormant one stops at `last`).
    activities = _plan_activities(
        rng,
        world,
        index,
        visits=visits,
        home_store=home_store,
        start=max(joined_at, world.start),
        end=last,
        purchases=purchases,
    )
    return MemberPlan(
        index=index,
        member_number=number,
        name=name,
        email=f"member{index:05d}@example.com",
        phone=phone,
        birth_date=birth_date,
        gender=gender,
        home_store=home_store,
        joined_at=joined_at,
        profile=profile.name,
        events=tuple(events),
        activities=activities,
    )


def _plan_activities(
    rng: random.Random,
    world: World,
    index: int,
    *,
    visits: list[tuple[dt.datetime, str]],
    home_store: str,
    start: dt.datetime,
    end: dt.datetime,
    purchases: list[PlannedPurchase],
) -> tuple[Activity, ...]:
    """Check-ins (`visits`), and between `start` and `end`: app opens (half the members, a
    few a month), an SNS follow (a quarter; most on the platform the challenge asks for), a
    survey answer a day or so after a purchase (about a third) and the tasting event (a fifth
    of the host store's regulars)."""
    activities = [
        Activity(at, "visit", f"DEMO-VIS-{index:06d}-{n:04d}", store=code)
        for n, (at, code) in enumerate(sorted(visits), start=1)
    ]
    if start >= end:
        return tuple(activities)
    if rng.random() < APP_USER_SHARE:
        per_day = rng.uniform(*APP_OPENS_PER_MONTH) / 30.4
        clock, n = start, 0
        while True:
            clock += dt.timedelta(days=rng.expovariate(per_day))
            if clock >= end:
                break
            n += 1
            at = clock.replace(microsecond=0)
            activities.append(Activity(at, "app_open", f"DEMO-APP-{index:06d}-{n:03d}"))
    if rng.random() < SNS_FOLLOW_CHANCE:
        platform = SNS_PLATFORM if rng.random() < 0.8 else rng.choice(OTHER_PLATFORMS)
        activities.append(
            Activity(
                _between(rng, start, end),
                "sns_follow",
                f"DEMO-SNS-{index:06d}",
                payload=(("platform", platform), ("account", SNS_ACCOUNT)),
            )
        )
    bought = [p for p in purchases if start <= p.at < end]
    survey = None
    if bought and rng.random() < SURVEY_CHANCE:
        after = rng.choice(bought)
        at = (after.at + dt.timedelta(hours=rng.uniform(1, 48))).replace(microsecond=0)
        score = rng.choices(range(11), weights=NPS_WEIGHTS)[0]
        if at < end:
            survey = Activity(
                at,
                "survey_answered",
                f"DEMO-SVY-{index:06d}",
                store=after.store,  # the store of the purchase asked about (None: online)
                payload=(("survey", SURVEY), ("score", score)),
            )
    if home_store == EVENT_STORE and rng.random() < ATTEND_CHANCE:
        at = world.tasting_at + dt.timedelta(minutes=rng.randrange(120))
        if start <= at < end:
            activities.append(
                Activity(
                    at,
                    "event_attendance",
                    f"DEMO-ATT-{index:06d}",
                    store=EVENT_STORE,
                    payload=(("event_code", EVENT_CODE),),
                )
            )
    if survey is not None:
        # The survey's other answers: drawn last, so that every earlier draw is as it was.
        nps = dict(survey.payload)["score"]
        payload = survey.payload + _survey_answers(rng, nps)
        activities.append(dataclasses.replace(survey, payload=payload))
    return tuple(sorted(activities, key=lambda a: (a.at, a.client_id)))


def _survey_answers(rng: random.Random, nps: int) -> tuple[tuple[str, object], ...]:
    """The rest of a demo-satisfaction answer, in line with its NPS score (a promoter mostly
    rates high, a detractor low): NRS, CSAT (5-point), CES, DWB and, now and then, a comment."""
    mood = "high" if nps >= 9 else "mid" if nps >= 7 else "low"
    weights = SURVEY_WEIGHTS[mood]
    answers = [
        ("nrs", rng.choices(range(1, 6), weights=weights["nrs"])[0]),
        ("csat", rng.choices(range(1, 6), weights=weights["csat"])[0]),
        ("ces", rng.choices(range(11), weights=weights["ces"])[0]),
        ("dwb", rng.choices(range(1, 6), weights=weights["dwb"])[0]),
    ]
    if rng.random() < COMMENT_CHANCE:
        answers.append(("comment", rng.choice(COMMENTS[mood])))
    return tuple(answers)


# --- Loading: through the services --------------------------------------------------------


@dataclass
class Refs:
    stores: dict[str, Store]
    staff: dict[str, Staff]
    templates: dict[str, CouponTemplate]
    entry_tier: Tier | None
    survey: Survey | None = None
    questions: dict[str, int] = dataclasses.field(default_factory=dict)  # plan key -> id


def reference_data_ensure(*, anchor: dt.datetime) -> Refs:
    """Stores, staff, tiers and coupon templates, each created only when absent."""
    stores = {}
    for code, name, prefecture, city, lat, lon, _weight in STORES:
        stores[code], _ = Store.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "prefecture": prefecture,
                "city": city,
                "latitude": lat,
                "longitude": lon,
            },
        )
    staff = {
        code: Staff.objects.get_or_create(code=code, defaults={"name": name, "store": stores[s]})[0]
        for code, name, s in STAFF
    }
    if not Tier.objects.exists():
        Tier.objects.bulk_create(
            Tier(code=c, name=n, rank=r, threshold_spend=t, earn_multiplier=m)
            for c, n, r, t, m in TIERS
        )
    templates = {}
    for code, fields in coupon_templates(anchor).items():
        store_codes = fields.pop("stores", [])
        template, created = CouponTemplate.objects.get_or_create(code=code, defaults=fields)
        if created and store_codes:
            template.stores.set([stores[c] for c in store_codes])
        templates[code] = template
    survey = survey_ensure()
    questions = {
        key: q.pk
        for q in survey.questions.all()
        for key, (kind, *_rest) in SURVEY_QUESTIONS.items()
        if q.kind == kind
    }
    return Refs(stores, staff, templates, Tier.objects.order_by("rank").first(), survey, questions)


# The demo survey's questions: plan payload key -> (kind, text, CSAT scale, required).
SURVEY_QUESTIONS = {
    "score": (
        Question.Kind.NPS,
        "How likely are you to recommend Demo Coffee to a friend?",
        None,
        True,
    ),
    "nrs": (Question.Kind.NRS, "Will you still be buying from us a year from now?", None, True),
    "csat": (Question.Kind.CSAT, "How satisfied were you with your visit?", 5, True),
    "ces": (Question.Kind.CES, "How much effort did it take to get what you wanted?", None, True),
    "dwb": (Question.Kind.DWB, "Would you buy from us again?", None, True),
    "comment": (Question.Kind.TEXT, "Anything you would like to tell us?", None, False),
}


def survey_ensure() -> Survey:
    """The demo-satisfaction survey and its questions (created only when absent)."""
    survey, created = Survey.objects.get_or_create(
        code=SURVEY,
        defaults={
            "title": "Demo Coffee satisfaction",
            "description": "A few questions after a purchase (demo data).",
        },
    )
    if created:
        Question.objects.bulk_create(
            Question(survey=survey, position=n, kind=kind, text=text, scale=scale, required=req)
            for n, (kind, text, scale, req) in enumerate(SURVEY_QUESTIONS.values(), start=1)
        )
    return survey


def challenge_code(preset_key: str) -> str:
    return "demo-" + preset_key.replace("_", "-")


def challenges_ensure(*, starts_at: dt.datetime) -> tuple[list[str], list[str]]:
    """One active challenge per preset (code demo-<preset>), from the start of the history,
    each created only when absent. Returns (created codes, notes on presets skipped)."""
    created, skipped = [], []
    for key, preset in PRESETS.items():
        code = challenge_code(key)
        if Challenge.objects.filter(code=code).exists():
            continue
        params = {
            name: DEMO_PRESET_VALUES[name] for name in preset.params if name in DEMO_PRESET_VALUES
        }
        try:
            definition = preset.definition(**params)
        except ValueError as exc:  # a newer preset needs a value this demo does not give yet
            skipped.append(f"{key}: {exc}")
            continue
        definition["starts_at"] = starts_at
        challenge_create(
            code=code, definition=definition, status=Challenge.Status.ACTIVE, preset=key
        )
        created.append(code)
    return created, skipped


def weather_rows(world: World) -> list[dict[str, str]]:
    """Every demo store's weather for every day of the history not known yet, as import rows:
    about RAIN_SHARE rainy days, drawn per (seed, store, day) so a day's weather does not
    depend on when the demo is loaded. Days already observed (imported, fetched) are kept."""
    known = set(
        WeatherObservation.objects.filter(date__gte=world.start.date()).values_list(
            "store__code", "date"
        )
    )
    rows = []
    day, last = world.start.date(), world.anchor.date()
    while day < last:
        for code, *_rest in STORES:
            if (code, day) in known:
                continue
            rng = random.Random(f"demo-weather:{world.seed}:{code}:{day.isoformat()}")
            roll = rng.random()
            if roll < RAIN_SHARE:
                condition, mm = "rain", f"{rng.uniform(0.5, 30):.1f}"
            else:
                condition, mm = ("cloudy" if roll < RAIN_SHARE + CLOUDY_SHARE else "clear"), "0"
            rows.append(
                {
                    "store_code": code,
                    "date": day.isoformat(),
                    "condition": condition,
                    "precipitation_mm": mm,
                }
            )
        day += dt.timedelta(days=1)
    return rows


def coupon_rules(templates: dict[str, CouponTemplate]) -> dict[str, CouponRule]:
    return {
        code: CouponRule(
            valid_days=t.valid_days,
            valid_from=t.valid_from,
            valid_until=t.valid_until,
            stores=frozenset(t.stores.values_list("code", flat=True)),
        )
        for code, t in templates.items()
    }


def _spendable(member: Member, at: dt.datetime) -> int:
    """Points the member could spend at `at` (lots past expiry are not spendable)."""
    return PointLot.objects.filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=at),
        member=member,
        state=EntryState.AVAILABLE,
        remaining__gt=0,
    ).aggregate(s=Sum("remaining", default=0))["s"]


def member_load(plan: MemberPlan, refs: Refs) -> Member:
    """Write one member's plan, event by event, in one transaction."""
    with transaction.atomic():
        try:
            # Not member_register: it draws the number from `secrets`, and demo numbers must
            # follow the seed. Contacts are normalised the same way; the DB keeps them unique.
            with transaction.atomic():
                member = Member.objects.create(
                    member_number=plan.member_number,
                    name=plan.name,
                    email=normalize_email(plan.email),
                    phone=normalize_phone(plan.phone),
                    birth_date=plan.birth_date,
                    gender=plan.gender,
                    home_store=refs.stores[plan.home_store],
                    joined_at=plan.joined_at,
                    tier=refs.entry_tier,
                )
        except IntegrityError as exc:
            raise CommandError(
                f"cannot create demo member {plan.index} ({plan.email}): {exc}. Another data set "
                "(a different --seed?) is probably loaded; use a fresh database."
            ) from exc
        coupons: dict[str, Coupon] = {}
        for event in plan.events:
            if event.kind == WITHDRAW:  # intake refuses events of a withdrawn member
                _send(member, plan.activities, refs)
            _apply(event, member=member, refs=refs, coupons=coupons)
        if not plan.withdrawn:
            _send(member, plan.activities, refs)
    return member


def _send(member: Member, activities: tuple[Activity, ...], refs: Refs) -> None:
    """Survey answers through the survey service (it stores the response and emits the
    survey_answered event, source "surveys"); the other activities in one intake call."""
    for activity in activities:
        if activity.type == "survey_answered":
            survey_answer(
                member=member,
                survey=refs.survey,
                answers=[
                    {"question": refs.questions[key], "text" if key == "comment" else "score": v}
                    for key, v in activity.payload
                    if key in refs.questions
                ],
                store=refs.stores.get(activity.store),
                answered_at=activity.at,
            )
    items = [
        activity.item(member.member_number)
        for activity in activities
        if activity.type != "survey_answered"
    ]
    if not items:
        return
    for result in events_ingest(source_key=DEMO_SOURCE, items=items):
        if result.result != "accepted":  # pragma: no cover - a planning bug
            raise CommandError(f"demo event {result.client_id} {result.result}: {result.errors}")


def _apply(event: Event, *, member: Member, refs: Refs, coupons: dict[str, Coupon]) -> None:
    if event.kind == PURCHASE:
        p = event.purchase
        purchase, _created = purchase_record(
            member=member,
            order_reference=p.reference,
            total=p.total,
            occurred_at=p.at,
            lines=list(p.lines),
            store=refs.stores.get(p.store),
            staff=refs.staff.get(p.staff),
            channel=p.channel,
            # As the POS records them: the challenge worker takes a purchase's base points
            # (what a multiplier multiplies) from its purchase-source earn entry.
            source=EntrySource.PURCHASE,
            now=p.at,
        )
        event_for_purchase(purchase=purchase)
    elif event.kind == SPEND:
        if settings.LOYALTY_PENDING_DAYS:
            points_release_due(now=event.at)  # what the nightly job would have done by then
        points = min(event.amount, _spendable(member, event.at) // 100 * 100)
        if points:
            points_spend(
                member=member,
                points=points,
                reference=event.reference,
                source=EntrySource.DEMO,
                reason="demo: points used at the till",
                now=event.at,
            )
    elif event.kind == RETURN:
        returned, _created = purchase_return(
            order_reference=event.purchase.reference,
            return_reference=event.reference,
            amount=event.amount,
            occurred_at=event.at,
        )
        event_for_return(purchase_return=returned)
    elif event.kind == ISSUE:
        coupons[event.reference] = coupon_issue(
            template=refs.templates[event.template],
            member=member,
            issued_via=Coupon.IssuedVia.DEMO,
            now=event.at,
        )
    elif event.kind == REDEEM:
        coupon_redeem(
            code=coupons[event.coupon].code,
            order_reference=event.reference,
            store=refs.stores.get(event.store),
            now=event.at,
        )
    elif event.kind == VOID:
        coupon_void(coupon=coupons[event.coupon], reason="demo: issued by mistake", now=event.at)
    elif event.kind == WITHDRAW:
        member_withdraw(member=member, now=event.at)
    else:  # pragma: no cover - a planning bug
        raise ValueError(f"unknown demo event {event.kind!r}")


def app_member_find(world: World, members: int) -> Member | None:
    """The member given the app login: the first frequent shopper who did not withdraw."""
    for index in range(1, members + 1):
        plan = plan_member(world, index)
        if plan.profile == "frequent" and not plan.withdrawn:
            return Member.objects.filter(member_number=plan.member_number).first()
    return Member.objects.filter(status=Member.Status.ACTIVE).order_by("pk").first()


def _user_ensure(username: str, *, group: str | None = None, **flags) -> bool:
    """Create a demo login with its demo password unless the username exists. True if created."""
    user, created = get_user_model().objects.get_or_create(username=username, defaults=flags)
    if created:
        user.set_password(LOGINS[username])
        user.save(update_fields=["password"])
        if group:
            user.groups.add(Group.objects.get(name=group))
    return created


DEMO_KEY_NAME = "Demo POS"


def demo_api_key_rotate() -> str:
    """A fresh integration key for the demo; the previous demo key is revoked."""
    for key in ApiKey.objects.filter(name=DEMO_KEY_NAME, revoked_at__isnull=True):
        api_key_revoke(key=key)
    _key, raw = api_key_create(name=DEMO_KEY_NAME, scopes=sorted(SCOPES))
    return raw


def logins_ensure(*, member: Member | None) -> set[str]:
    """The demo logins; returns the usernames that existed already (passwords untouched)."""
    existing = set()
    specs = {
        "admin": {"is_staff": True, "is_superuser": True},
        "staff": {"is_staff": True, "group": "Store staff"},
        "marketer": {"is_staff": True, "group": "Marketers"},
    }
    for username, flags in specs.items():
        if not _user_ensure(username, **flags):
            existing.add(username)
    if "staff" not in existing:
        user = get_user_model().objects.get(username="staff")
        Staff.objects.filter(code=STAFF_LOGIN_PROFILE, user__isnull=True).update(user=user)
    if member is not None:
        if get_user_model().objects.filter(username="member").exists() or member.user_id:
            existing.add("member")
        else:
            # The same app login the API gives a member registered with a password.
            member_login_create(member=member, password=LOGINS["member"], username="member")
    return existing


def counts() -> dict[str, int]:
    coupons = dict(Coupon.objects.values_list("status").annotate(n=Count("id")))
    return {
        "members": Member.objects.count(),
        "withdrawn": Member.objects.filter(status=Member.Status.WITHDRAWN).count(),
        "purchases": Purchase.objects.count(),
        "returns": PurchaseReturn.objects.count(),
        "visits": Visit.objects.count(),
        "ledger entries": LedgerEntry.objects.count(),
        "point lots": PointLot.objects.count(),
        "coupons": sum(coupons.values()),
        **{f"coupons {status}": coupons.get(status, 0) for status in Coupon.Status.values},
        "challenges": Challenge.objects.count(),
        "events": EngineEvent.objects.count(),
        "events pending": EngineEvent.objects.filter(status=EngineEvent.Status.PENDING).count(),
        "awards": Award.objects.count(),
        "verifications pending": Verification.objects.filter(
            status=Verification.Status.PENDING
        ).count(),
        "weather observations": WeatherObservation.objects.count(),
    }


def history_scheduled_events(world: World) -> int:
    """What the nightly scheduler would have created on each day of the history (birthdays,
    anniversaries, win-back after N days away), as of that day; returns how many. About
    20 ms a day for 2,000 members on SQLite."""
    created = 0
    last = world.anchor.date()
    day = world.start.date()
    while day < last:
        created += sum(scheduled_events_create(day=day).values())
        day += dt.timedelta(days=1)
    return created


@dataclass
class Processed:
    events: int
    seconds: float
    scheduled: int
    awards: int
    points: int

    @property
    def line(self) -> str:
        rate = self.events / self.seconds if self.seconds else 0
        return (
            f"challenge events: {self.events:,} processed in {self.seconds:.1f} s "
            f"({rate:,.0f} events/s), {self.awards:,} awards, {self.points:,} points granted"
        )


def demo_events_process(world: World) -> Processed:
    """Process every pending event in this process; then create the scheduler's events of the
    history (win-back reads the check-ins, which exist once their events are processed) and
    process those. Only the processing is timed."""
    batch_size = settings.LOYALTY_EVENT_BATCH_SIZE
    before = Award.objects.aggregate(n=Count("id"), points=Sum("points", default=0))
    started = time.perf_counter()
    events = events_process_pending(batch_size=batch_size)
    seconds = time.perf_counter() - started
    with events_processing_deferred(), transaction.atomic():
        scheduled = history_scheduled_events(world)
    started = time.perf_counter()
    events += events_process_pending(batch_size=batch_size)
    seconds += time.perf_counter() - started
    after = Award.objects.aggregate(n=Count("id"), points=Sum("points", default=0))
    return Processed(
        events=events,
        seconds=seconds,
        scheduled=scheduled,
        awards=after["n"] - before["n"],
        points=after["points"] - before["points"],
    )


@dataclass
class Snapshots:
    rows: int
    seconds: float
    months: int

    @property
    def line(self) -> str:
        return (
            f"KPI snapshots: {self.rows:,} rows in {self.seconds:.1f} s (monthly for the last "
            f"{self.months} months, every quarter of the history, the last {KPI_WEEKS} weeks "
            "and the nightly run for yesterday)"
        )


def demo_kpi_snapshots(world: World) -> Snapshots:
    """KPI snapshots for the dashboard, cheaply: the nightly run for yesterday (its day, week,
    month and quarter), every month of the history's last KPI_MONTHS months, every quarter
    of the history and the last KPI_WEEKS weeks (the dashboard opens each period kind on its
    last finished period; a window is a few grouped queries per KPI; the days of the whole
    history would cost far more: `manage.py kpis recompute` does them), each measured up to
    today."""
    started, began = time.perf_counter(), timezone.now()
    today = timezone.localdate()
    yesterday = today - dt.timedelta(days=1)
    kpis_nightly(today=today)
    done = {
        window_containing(period, yesterday, cutoff=today)
        for period in ("week", "month", "quarter")
    }
    first = max(world.start.date(), period_shift("month", today.replace(day=1), 1 - KPI_MONTHS))
    first_week = max(world.start.date(), today - dt.timedelta(weeks=KPI_WEEKS - 1))
    windows = [
        window_containing(period, start, cutoff=today)
        for period, since in (
            ("month", first),
            ("quarter", world.start.date()),
            ("week", first_week),
        )
        for start in period_starts(period, since, today)
    ]
    codes, cache = list(kpi_registry()), {}
    for window in windows:
        if window not in done:
            computed = kpis_compute(window=window, kpis=codes, cache=cache)
            kpi_snapshots_write(rows=computed, computed=[(c, window) for c in codes])
    months = len(period_starts("month", first, today))
    # Rows, not writes: a follow-up KPI's nightly windows may include a month written again.
    rows = KpiSnapshot.objects.filter(computed_at__gte=began).count()
    return Snapshots(rows=rows, seconds=time.perf_counter() - started, months=months)


def awards_by_challenge() -> dict[str, int]:
    rows = Award.objects.filter(version__challenge__code__startswith="demo-").values_list(
        "version__challenge__code"
    )
    found = dict(rows.annotate(n=Count("id")))
    codes = Challenge.objects.filter(code__startswith="demo-").order_by("code")
    return {code: found.get(code, 0) for code in codes.values_list("code", flat=True)}


def demo_tiers_recalculate(world: World, *, now: dt.datetime) -> int:
    """The tier job at the start of every month of the history, then now: tier changes dated
    through the history (the KPIs' tier on a past date reads them), not all on the load's
    day. Monthly, where production runs it nightly: the same tiers at a twelfth of the cost."""
    changes, month = 0, world.start + relativedelta(months=1)
    while month < now:
        changes += tiers_recalculate(now=month)
        month += relativedelta(months=1)
    return changes + tiers_recalculate(now=now)


class Command(BaseCommand):
    help = "Load deterministic demo data (stores, members, purchases, points, coupons, logins)."

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, default=2000)
        parser.add_argument(
            "--months",
            type=int,
            default=12,
            help="months of history (members who joined earlier also buy in the 6 months before, "
            "so that some points expire)",
        )
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument(
            "--url",
            default="http://127.0.0.1:8000",
            help="where the engine is served, for the printed admin URL (make demo sets it)",
        )
        parser.add_argument(
            "--defer-processing",
            action="store_true",
            help="leave the challenge events pending and create no scheduler events (for "
            "bench/demo_events.py, which processes them itself)",
        )

    def handle(
        self,
        *args,
        members: int,
        months: int,
        seed: int,
        url: str,
        defer_processing: bool = False,
        **options,
    ):
        self.base_url = url.rstrip("/")
        if members < 1 or months < 1:
            raise CommandError("--members and --months must be at least 1")
        if Member.objects.filter(member_number=member_number_for(seed, members)).exists():
            self.stdout.write(
                f"demo data already loaded (seed {seed}, {members} members); nothing changed."
            )
            self._report(existing=set())
            return
        first_present = Member.objects.filter(member_number=member_number_for(seed, 1)).exists()
        demo_present = Purchase.objects.filter(order_reference__startswith="DEMO-").exists()
        if not first_present and demo_present:
            raise CommandError(
                f"demo data from another --seed is loaded (member 1 of seed {seed} is absent); "
                "use a fresh database."
            )

        self.stdout.write(
            f"loading {members:,} members with {months} months of history "
            "(about 85 ms a member on SQLite, a quarter of it the challenge engine)..."
        )
        self.stdout.flush()
        started = time.monotonic()
        anchor = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
        with transaction.atomic():
            refs = reference_data_ensure(anchor=anchor)
        world = World(seed=seed, months=months, anchor=anchor, coupons=coupon_rules(refs.templates))
        with transaction.atomic():
            created, skipped = challenges_ensure(starts_at=world.start)
            weather = weather_observations_import(rows=weather_rows(world), source=DEMO_SOURCE)
        loaded = present = 0
        progress = tqdm(total=members, desc="demo members", file=sys.stderr, disable=None)
        with events_processing_deferred():
            for first in range(1, members + 1, COMMIT_EVERY):
                with transaction.atomic():
                    for index in range(first, min(first + COMMIT_EVERY, members + 1)):
                        number = member_number_for(seed, index)
                        if Member.objects.filter(member_number=number).exists():
                            present += 1  # loaded by an interrupted earlier run
                        else:
                            member_load(plan_member(world, index), refs)
                            loaded += 1
                        progress.update()
        progress.close()
        processed = None if defer_processing else demo_events_process(world)

        # After the events: challenge points of long ago expire, pending ones are released.
        now = timezone.now()
        jobs = {
            "pending lots released": points_release_due(now=now),
            "lots expired": points_expire_due(now=now),
            "tier changes": demo_tiers_recalculate(world, now=now),
            "coupons expired": coupons_expire_due(now=now),
        }
        # Last: the KPIs read what the events and jobs left (none while the events wait).
        snapshots = None if defer_processing else demo_kpi_snapshots(world)
        with transaction.atomic():
            existing = logins_ensure(member=app_member_find(world, members))
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"demo data loaded in {elapsed:.1f} s: {loaded} members"
                + (f" ({present} already present)" if present else "")
                + f", {months} months of history, seed {seed}"
            )
        )
        self.stdout.write(
            f"challenges: {len(created)} created from the presets"
            + (f" ({', '.join(created)})" if created else "")
            + f"; weather: {weather.created} store days imported"
        )
        for note in skipped:
            self.stdout.write(self.style.WARNING(f"preset skipped (no demo value): {note}"))
        if processed is None:
            pending = EngineEvent.objects.filter(status=EngineEvent.Status.PENDING).count()
            self.stdout.write(f"challenge events: {pending:,} left pending (--defer-processing)")
        else:
            self.stdout.write(
                processed.line
                + f" ({processed.scheduled:,} of the events from the nightly scheduler)"
            )
            self.stdout.write(
                "awards by challenge: "
                + ", ".join(f"{code} {n:,}" for code, n in awards_by_challenge().items())
            )
        self.stdout.write("jobs run at now: " + ", ".join(f"{k} {v}" for k, v in jobs.items()))
        if snapshots is None:
            self.stdout.write("KPI snapshots: none computed (--defer-processing)")
        else:
            self.stdout.write(snapshots.line)
        if not settings.LOYALTY_PENDING_DAYS:
            self.stdout.write(
                "Note: LOYALTY_PENDING_DAYS is 0, so purchase points were available at once; "
                "load with e.g. LOYALTY_PENDING_DAYS=14 to see pending points."
            )
        self._report(existing=existing)

    def _report(self, *, existing: set[str]) -> None:
        write = self.stdout.write
        write(f"Admin: {self.base_url}/admin/")
        for username, what in (
            ("admin", "superuser"),
            ("staff", f'group "Store staff", staff profile {STAFF_LOGIN_PROFILE}'),
            ("marketer", 'group "Marketers"'),
        ):
            write(self._login_line(username, what, existing))
        member = Member.objects.filter(user__username="member").first()
        if member is not None:
            # Members log in with their number (or e-mail), not the user name "member".
            what = f"member app login (POST /api/v1/auth/token) for {member.name}"
            write(self._login_line("member", what, existing, login=member.member_number))
        elif get_user_model().objects.filter(username="member").exists():
            write('  user "member" exists but is not linked to a demo member')
        write(f"Integration API key ({DEMO_KEY_NAME}, all scopes): {demo_api_key_rotate()}")
        write("  (only its hash is stored: each run revokes the last demo key, prints a new one)")
        write("Counts: " + ", ".join(f"{k} {v:,}" for k, v in counts().items()))

    @staticmethod
    def _login_line(username: str, what: str, existing: set[str], *, login: str = "") -> str:
        """`login`: what the user types, when it is not the user name."""
        shown = login or username
        user = get_user_model().objects.filter(username=username).first()
        if user is not None and not user.check_password(LOGINS[username]):
            return f"  {shown:<9} (password changed since the demo was loaded)  {what}"
        if username in existing:
            return f"  {shown:<9} (existed before; password not changed)  {what}"
        return f"  {shown:<9} / {LOGINS[username]:<19} {what}"
