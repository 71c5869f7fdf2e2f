"""The worker's side of the event flow: claim a batch of pending events, load what the rules
need in bulk, evaluate (challenges/evaluator.py, no queries), write every effect and mark the
events processed, all in one transaction.

Exactly once: an event leaves `pending` only in the transaction that writes its effects, and
claiming uses SELECT ... FOR UPDATE SKIP LOCKED, so two workers never hold the same event; a
worker killed mid-batch rolls the whole batch back and the next run takes it again. Every
effect also carries a unique key (event, rule version, effect index) as a last fence.
Members of the batch are locked (in id order, like every ledger writer) before limits and
budgets are read, so limits hold per member and budgets (their rows locked too) never
overspend across workers.
"""

import datetime as dt
import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache

import holidays as holiday_calendars
from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Max, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from loyalty import policy
from loyalty.coupons import coupon_issue
from loyalty.errors import LoyaltyError
from loyalty.ledger import Credit, points_credit_many
from loyalty.localtime import programme_zone
from loyalty.models import Coupon, CouponTemplate, LedgerEntry, Purchase, PurchaseLine
from loyalty.models.ledger import EntryKind, EntrySource
from members.models import Member, Visit

from . import evaluator
from .definitions import rule_for
from .facts import WEEKDAYS, EventFacts, Facts, LineFacts, MemberFacts, WeatherFacts
from .models import (
    Award,
    Challenge,
    ChallengeCounter,
    Event,
    GoalProgress,
    LimitCounter,
    Verification,
    WeatherObservation,
)
from .returns import returns_reverse_awards

log = logging.getLogger(__name__)

# A challenge credit's ledger reference, its identity (one per event, rule version and effect:
# a retried batch cannot credit twice). The ledger's admin links it to the event.
AWARD_REFERENCE = re.compile(r"(?P<event>\d+):(?P<version>\d+):(?P<effect>\d+)")


def award_reference(event_id: int, version_id: int, effect_index: int) -> str:
    return f"{event_id}:{version_id}:{effect_index}"


def active_rules() -> list[evaluator.Rule]:
    """The current version of every active challenge, compiled (cached per version)."""
    versions = Challenge.objects.filter(
        status=Challenge.Status.ACTIVE, current_version__isnull=False
    ).values_list("current_version_id", "current_version__created_at")
    rules = []
    for version_id, created_at in versions:
        try:
            rules.append(rule_for((version_id, created_at)))
        except Exception:  # a rule that no longer compiles must not stop every other rule
            log.exception("challenge version %s does not compile; skipped", version_id)
    return evaluator.in_order(rules)


@lru_cache(maxsize=8)
def _holiday_calendar(country: str, year: int):
    return holiday_calendars.country_holidays(country, years=year) if country else {}


@dataclass
class MemberHistory:
    """What the batch knows of a member's past, advanced as the batch's events are evaluated."""

    last_purchase: dt.datetime | None = None
    purchases: int = 0
    skus: set[str] = field(default_factory=set)
    categories: set[str] = field(default_factory=set)
    counters: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class Batch:
    """One claimed batch: the bulk-loaded context and the writes it collects."""

    def __init__(
        self, events: list[Event], *, now: dt.datetime, rules: list[evaluator.Rule] | None = None
    ):
        """`rules`: the active challenges by default; dry-run and verification pass their own."""
        self.events = events
        self.now = now
        self.zone = programme_zone()
        self.rules = active_rules() if rules is None else evaluator.in_order(rules)
        self.index = evaluator.RuleIndex(self.rules)
        self.by_challenge = {rule.challenge_id: rule for rule in self.rules}
        self.state = evaluator.State()
        self.members: dict[int, Member] = {}
        self.history: dict[int, MemberHistory] = defaultdict(MemberHistory)
        self.base_points: dict[int, int] = {}
        self.lines: dict[int, list[LineFacts]] = defaultdict(list)
        self.weather: dict[tuple[int, dt.date], WeatherFacts] = {}
        self.credits: list[tuple[Credit, Award]] = []
        self.coupons: list[tuple[Award, str, int]] = []
        self.verifications: list[Verification] = []
        self.touched_limits: set[tuple[int, int, str]] = set()
        self.touched_progress: set[tuple[int, int, str]] = set()
        # Event times (occurred_at) of the goals' first progress in this batch and of their
        # completion; written only to new rows and to rows completed now, respectively.
        self.progress_started: dict[tuple[int, int, str], dt.datetime] = {}
        self.progress_completed: dict[tuple[int, int, str], dt.datetime] = {}
        self.weather_snapshots: list[Event] = []
        self.granted: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def local_date(self, event: Event) -> dt.date:
        return event.occurred_at.astimezone(self.zone).date()

    # --- loading -------------------------------------------------------------------------
    def load(self) -> None:
        member_ids = sorted({e.member_id for e in self.events})
        self.members = {
            m.pk: m
            for m in Member.objects.select_for_update(of=("self",))
            .select_related("tier", "home_store")
            .filter(pk__in=member_ids)
            .order_by("pk")
        }
        challenge_ids = sorted(
            {r.challenge_id for e in self.events for r in self.index.for_trigger(e.type.code)}
        )
        budgeted = [
            cid
            for cid in challenge_ids
            if self.by_challenge[cid].budget_points is not None
            or self.by_challenge[cid].budget_coupons is not None
        ]
        counters = ChallengeCounter.objects.filter(challenge_id__in=budgeted)
        for counter in counters.select_for_update().order_by("challenge_id"):
            self.state.points_granted[counter.challenge_id] = counter.points_granted
            self.state.coupons_granted[counter.challenge_id] = counter.coupons_granted
        self._load_limits_and_progress(member_ids, challenge_ids)
        self._load_purchases(member_ids)
        self._load_counters(member_ids)
        self._load_weather()

    def _period_keys(self) -> set[str]:
        keys = {"campaign"}
        for event in self.events:
            day = self.local_date(event)
            keys.update(evaluator.period_key(p, day) for p in ("day", "week", "month"))
        return keys

    def _load_limits_and_progress(self, member_ids, challenge_ids) -> None:
        if not challenge_ids:
            return
        keys = self._period_keys()
        for row in LimitCounter.objects.filter(
            member_id__in=member_ids, challenge_id__in=challenge_ids, period__in=keys
        ).values_list("member_id", "challenge_id", "period", "count"):
            self.state.limits[row[:3]] = row[3]
        for row in GoalProgress.objects.filter(
            member_id__in=member_ids, challenge_id__in=challenge_ids, window__in=keys
        ).values_list("member_id", "challenge_id", "window", "value", "last_step", "completed_at"):
            self.state.progress[row[:3]] = evaluator.Progress(
                value=row[3], last_step=row[4], completed=row[5] is not None
            )

    def _load_purchases(self, member_ids) -> None:
        batch_purchases = [e.purchase_id for e in self.events if e.purchase_id]
        for line in PurchaseLine.objects.filter(purchase_id__in=batch_purchases):
            self.lines[line.purchase_id].append(
                LineFacts(line.sku, line.category, line.quantity, line.unit_price)
            )
        # The members' purchase history as the engine has seen it: purchases whose event is
        # still pending (this batch's, or a later batch's of the same member) are not history
        # yet, like the event counters; they become history when they are processed.
        # An uncorrelated subquery over the members' pending events (the pending index), not
        # a NOT EXISTS per purchase: SQLite answered that by scanning every purchase event
        # for each of the members' purchases (70 s a batch at 1,000 members).
        waiting = Event.objects.filter(
            member_id__in=member_ids,
            status=Event.Status.PENDING,
            type__code="purchase",
            purchase__isnull=False,
        ).values("purchase_id")
        earlier = (
            Purchase.objects.filter(member_id__in=member_ids)
            .exclude(pk__in=batch_purchases)  # a verification re-evaluates processed events
            .exclude(pk__in=waiting)
        )
        for row in earlier.values("member_id").annotate(last=Max("occurred_at"), n=Count("id")):
            history = self.history[row["member_id"]]
            history.last_purchase, history.purchases = row["last"], row["n"]
        skus = {ln.sku for lines in self.lines.values() for ln in lines}
        categories = {ln.category for lines in self.lines.values() for ln in lines if ln.category}
        earlier_lines = PurchaseLine.objects.filter(purchase__in=earlier)
        if skus:
            bought = earlier_lines.filter(sku__in=skus)
            for member_id, sku in bought.values_list("purchase__member_id", "sku").distinct():
                self.history[member_id].skus.add(sku)
        if categories:
            bought = earlier_lines.filter(category__in=categories)
            for member_id, category in bought.values_list(
                "purchase__member_id", "category"
            ).distinct():
                self.history[member_id].categories.add(category)
        for entry in LedgerEntry.objects.filter(
            purchase_id__in=batch_purchases, kind=EntryKind.EARN, source=EntrySource.PURCHASE
        ).values_list("purchase_id", "points"):
            self.base_points[entry[0]] = entry[1]

    def _load_counters(self, member_ids) -> None:
        """Counts of the members' processed events: ever, and in the months of the batch."""
        done = Event.objects.filter(member_id__in=member_ids, status=Event.Status.PROCESSED)
        for row in done.values("member_id", "type__code").annotate(n=Count("id")):
            counters = self.history[row["member_id"]].counters
            if row["type__code"] == "visit":
                counters["visits_ever"] = row["n"]
            elif row["type__code"] == "purchase":
                counters["purchases_ever"] = row["n"]
        days = [self.local_date(e) for e in self.events]
        start = dt.datetime(min(days).year, min(days).month, 1, tzinfo=self.zone)
        # Aggregated in the database: one row per member, type and month, not per event.
        per_month = (
            done.filter(occurred_at__gte=start)
            .annotate(month=TruncMonth("occurred_at", tzinfo=self.zone))
            .values("member_id", "type__code", "month")
            .annotate(n=Count("id"), spend=Sum("purchase__total", default=0))
        )
        for row in per_month:
            month = evaluator.period_key("month", row["month"].date())
            counters = self.history[row["member_id"]].counters
            counters[f"events:{month}"] += row["n"]
            if row["type__code"] == "visit":
                counters[f"visits:{month}"] += row["n"]
            elif row["type__code"] == "purchase":
                counters[f"purchases:{month}"] += row["n"]
                counters[f"spend:{month}"] += row["spend"]

    @staticmethod
    def _count(counters, type_code: str, month: str, amount: int) -> None:
        counters[f"events:{month}"] += 1
        if type_code == "visit":
            counters[f"visits:{month}"] += 1
        elif type_code == "purchase":
            counters[f"purchases:{month}"] += 1
            counters[f"spend:{month}"] += amount

    def _load_weather(self) -> None:
        wanted = {
            (e.store_id, self.local_date(e)) for e in self.events if e.store_id and not e.weather
        }
        if not wanted:
            return
        observations = WeatherObservation.objects.filter(
            store_id__in={s for s, _d in wanted}, date__in={d for _s, d in wanted}
        )
        for obs in observations:
            self.weather[(obs.store_id, obs.date)] = WeatherFacts(
                obs.condition, float(obs.precipitation_mm)
            )

    # --- evaluating ----------------------------------------------------------------------
    def facts(self, event: Event) -> Facts:
        local = event.occurred_at.astimezone(self.zone)
        day = local.date()
        member = self.members[event.member_id]
        history = self.history[event.member_id]
        lines = tuple(self.lines.get(event.purchase_id, ())) if event.purchase_id else ()
        weather = None
        if event.weather:
            weather = WeatherFacts(
                event.weather["condition"], float(event.weather.get("precipitation_mm", 0))
            )
        elif event.store_id and (event.store_id, day) in self.weather:
            weather = self.weather[(event.store_id, day)]
            event.weather = {
                "condition": weather.condition,
                "precipitation_mm": weather.precipitation_mm,
            }
            self.weather_snapshots.append(event)
        purchase = event.purchase if event.purchase_id else None
        is_purchase = event.type.code == "purchase"
        month = evaluator.period_key("month", day)
        counters = history.counters
        country = settings.LOYALTY_HOLIDAY_COUNTRY
        birth = member.birth_date
        age = None
        if birth is not None:
            age = day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
        joined = member.joined_at.astimezone(self.zone).date()
        return Facts(
            event=EventFacts(
                type=event.type.code,
                occurred_at=event.occurred_at,
                local_date=day,
                weekday=WEEKDAYS[day.weekday()],
                hour=local.hour,
                is_holiday=day in _holiday_calendar(country, day.year),
                store=event.store.code if event.store_id else None,
                channel=purchase.channel if purchase else None,
                staff=purchase.staff.code if purchase and purchase.staff_id else None,
                amount=purchase.total if purchase and is_purchase else None,
                lines=lines,
                payload=event.payload,
                weather=weather,
            ),
            member=MemberFacts(
                tier=member.tier.code if member.tier_id else None,
                age=age,
                gender=member.gender,
                days_since_joined=(day - joined).days,
                birthday_month=birth.month if birth else None,
                home_store=member.home_store.code if member.home_store_id else None,
                is_first_purchase=is_purchase and history.purchases == 0,
                days_since_last_purchase=(
                    (day - history.last_purchase.astimezone(self.zone).date()).days
                    if history.last_purchase
                    else None
                ),
                new_skus=frozenset(ln.sku for ln in lines) - history.skus,
                new_categories=frozenset(ln.category for ln in lines if ln.category)
                - history.categories,
                counters={
                    "visits_this_month": counters[f"visits:{month}"],
                    "purchases_this_month": counters[f"purchases:{month}"],
                    "spend_this_month": counters[f"spend:{month}"],
                    "purchases_ever": counters["purchases_ever"],
                    "visits_ever": counters["visits_ever"],
                    "events_this_month": counters[f"events:{month}"],
                },
            ),
        )

    def advance_history(self, event: Event, facts: Facts) -> None:
        history = self.history[event.member_id]
        month = evaluator.period_key("month", facts.event.local_date)
        code = event.type.code
        self._count(history.counters, code, month, facts.event.amount or 0)
        if code == "visit":
            history.counters["visits_ever"] += 1
        if code == "purchase":
            history.counters["purchases_ever"] += 1
            history.purchases += 1
            history.last_purchase = max(filter(None, [history.last_purchase, event.occurred_at]))
            history.skus.update(ln.sku for ln in facts.event.lines)
            history.categories.update(ln.category for ln in facts.event.lines if ln.category)

    def evaluate(self, event: Event) -> list[evaluator.Outcome]:
        facts = self.facts(event)
        outcomes = evaluator.evaluate(
            facts,
            member_id=event.member_id,
            rules=self.index.candidates(facts),
            state=self.state,
            base_points=self.base_points.get(event.purchase_id, 0),
            explain=False,
        )
        day = facts.event.local_date
        for outcome in outcomes:
            rule = outcome.rule
            if outcome.progress is not None:
                key = (event.member_id, rule.challenge_id, outcome.progress_window)
                self.touched_progress.add(key)
                self.progress_started.setdefault(key, event.occurred_at)
                # The evaluator returns no progress for a goal completed before, so a
                # completed progress here is this event's completion.
                if outcome.progress.completed:
                    self.progress_completed[key] = event.occurred_at
            if not outcome.fired:
                continue
            if outcome.needs_verification:
                self.verifications.append(Verification(event=event, version_id=rule.version_id))
                continue
            self.touched_limits.add(
                (event.member_id, rule.challenge_id, evaluator.period_key(rule.limit_period, day))
            )
            self.collect_grants(event, rule, outcome.grants)
        self.advance_history(event, facts)
        return outcomes

    def collect_grants(self, event: Event, rule: evaluator.Rule, grants) -> None:
        purchase_event = event.type.code == "purchase"
        granted = self.granted[rule.challenge_id]
        granted["awards"] += 1
        for grant in grants:
            award = Award(
                event=event,
                version_id=rule.version_id,
                effect_index=grant.effect_index,
                member_id=event.member_id,
                kind=grant.kind,
                points=grant.points,
                occurred_at=event.occurred_at,
            )
            if grant.kind == "points":
                granted["points"] += grant.points
                credit = Credit(
                    member_id=event.member_id,
                    points=grant.points,
                    source=EntrySource.CHALLENGE,
                    occurred_at=event.occurred_at,
                    # Points for a purchase wait out its return window like its base points.
                    available_at=policy.purchase_available_at(event.occurred_at)
                    if purchase_event
                    else None,
                    expires_at=policy.expiry_for(event.occurred_at),
                    reason=rule.name[:255],
                    reference=award_reference(event.pk, rule.version_id, grant.effect_index),
                    challenge_version_id=rule.version_id,
                )
                self.credits.append((credit, award))
            else:
                granted["coupons"] += 1
                self.coupons.append((award, grant.template, rule.challenge_id))

    # --- writing -------------------------------------------------------------------------
    def write(self) -> None:
        self.write_effects()
        self.mark_processed()

    def write_effects(self) -> None:
        entries = points_credit_many([c for c, _a in self.credits], now=self.now)
        awards = []
        for (_credit, award), entry in zip(self.credits, entries, strict=True):
            award.ledger_entry = entry
            awards.append(award)
        awards.extend(self._issue_coupons())
        Award.objects.bulk_create(awards)
        Verification.objects.bulk_create(self.verifications)
        self._write_limits()
        self._write_progress()
        for challenge_id, granted in self.granted.items():
            ChallengeCounter.objects.filter(challenge_id=challenge_id).update(
                points_granted=F("points_granted") + granted["points"],
                coupons_granted=F("coupons_granted") + granted["coupons"],
                awards=F("awards") + granted["awards"],
            )

    def mark_processed(self) -> None:
        Visit.objects.bulk_create(
            Visit(member_id=e.member_id, store_id=e.store_id, visited_at=e.occurred_at)
            for e in self.events
            if e.type.code == "visit" and e.store_id
        )
        if self.weather_snapshots:
            Event.objects.bulk_update(self.weather_snapshots, ["weather"])
        done = Event.objects.filter(
            pk__in=[e.pk for e in self.events], status=Event.Status.PENDING
        ).update(status=Event.Status.PROCESSED, processed_at=self.now)
        if done != len(self.events):  # cannot happen while claims hold their row locks
            raise RuntimeError("events of this batch were processed elsewhere; rolling back")

    def _issue_coupons(self) -> list[Award]:
        awards = []
        templates = {
            t.code: t for t in CouponTemplate.objects.filter(code__in={c[1] for c in self.coupons})
        }
        for award, code, challenge_id in self.coupons:
            try:
                with transaction.atomic():
                    award.coupon = coupon_issue(
                        template=templates[code],
                        member=self.members[award.member_id],
                        issued_via=Coupon.IssuedVia.CHALLENGE,
                        challenge_version_id=award.version_id,
                        now=self.now,
                    )
            except (LoyaltyError, KeyError) as exc:
                # Out of stock or over the template's own per-member limit: the rule still
                # fired (its other effects stand); the coupon is recorded as not issued.
                log.warning("challenge coupon %s not issued: %s", code, exc)
                self.granted[challenge_id]["coupons"] -= 1
                continue
            awards.append(award)
        return awards

    def _write_limits(self) -> None:
        rows = [
            LimitCounter(member_id=m, challenge_id=c, period=p, count=self.state.limits[(m, c, p)])
            for (m, c, p) in sorted(self.touched_limits)
        ]
        LimitCounter.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["member", "challenge", "period"],
            update_fields=["count"],
        )

    def _write_progress(self) -> None:
        """Upsert the touched goals. started_at is written only by the insert (an existing
        row keeps its own), completed_at only for goals completed in this batch, so neither
        moves once set: two statements with their own update sets."""
        ongoing, completed = [], []
        for key in sorted(self.touched_progress):
            progress = self.state.progress[key]
            member_id, challenge_id, window = key
            row = GoalProgress(
                member_id=member_id,
                challenge_id=challenge_id,
                window=window,
                value=progress.value,
                last_step=progress.last_step,
                started_at=self.progress_started[key],
                completed_at=self.progress_completed.get(key),
                updated_at=self.now,
            )
            (completed if key in self.progress_completed else ongoing).append(row)
        updated = ["value", "last_step", "updated_at"]
        for rows, update_fields in ((ongoing, updated), (completed, [*updated, "completed_at"])):
            if rows:
                GoalProgress.objects.bulk_create(
                    rows,
                    update_conflicts=True,
                    unique_fields=["member", "challenge", "window"],
                    update_fields=update_fields,
                )


def _claim(batch_size: int) -> list[Event]:
    ids = list(
        Event.objects.filter(status=Event.Status.PENDING)
        .order_by("id")
        .select_for_update(skip_locked=True)
        .values_list("id", flat=True)[:batch_size]
    )
    events = Event.objects.filter(pk__in=ids).select_related(
        "type", "store", "purchase", "purchase__staff", "purchase_return"
    )
    return sorted(events, key=lambda e: (e.occurred_at, e.pk))


def events_process_batch(*, batch_size: int = 500, now: dt.datetime | None = None) -> int:
    """Process one batch of pending events in one transaction; returns how many."""
    with transaction.atomic():
        events = _claim(batch_size)
        if not events:
            return 0
        batch = Batch(events, now=now or timezone.now())
        batch.load()
        for event in events:
            if event.type.code == "return":
                continue
            batch.evaluate(event)
        batch.write()
        returns_reverse_awards([e for e in events if e.type.code == "return"])
        return len(events)


def events_process_pending(*, batch_size: int = 500, max_batches: int | None = None) -> int:
    """Process batches until none is left (or `max_batches`); returns the events processed."""
    total, batches = 0, 0
    while max_batches is None or batches < max_batches:
        done = events_process_batch(batch_size=batch_size)
        total += done
        batches += 1
        if done < batch_size:
            break
    return total
