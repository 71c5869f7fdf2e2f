import datetime as dt
import io
import re
import zoneinfo
from collections import Counter

import pytest
from dateutil.relativedelta import relativedelta
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import F, Sum
from django.utils import timezone

from challenges.models import (
    Award,
    Challenge,
    Event,
    ScheduledEventsDay,
    Verification,
    WeatherObservation,
)
from challenges.presets import PRESETS
from loyalty.ledger import ledger_sums
from loyalty.models import (
    Coupon,
    CouponTemplate,
    LedgerEntry,
    Purchase,
    PurchaseLine,
    PurchaseReturn,
)
from loyalty.models.ledger import EntryKind, EntryState
from loyalty.selectors import ledger_drift
from members.api_keys import SCOPES, api_key_verify
from members.contact import normalize_phone
from members.management.commands import demo_data as demo_module
from members.management.commands.demo_data import (
    AMBASSADOR,
    BIRTHDAY,
    EVENT_CODE,
    FIRST_TRY_SKU,
    KPI_MONTHS,
    PURCHASE,
    RETURN,
    SEASON,
    SNS_ACCOUNT,
    SNS_PLATFORM,
    STORE_ONLY,
    SURVEY,
    WELCOME,
    CouponRule,
    World,
    challenge_code,
    coupon_rules,
    member_number_for,
    plan_member,
)
from members.models import Member, Staff, Store, Tier, TierChange, Visit
from members.numbers import is_valid_member_number
from metrics.formulas.surveys import nps as nps_formula
from metrics.models import Answer, KpiSnapshot, Question, Survey, SurveyResponse
from metrics.periods import period_floor, period_shift
from metrics.selectors import HEADLINE_KPIS

pytestmark = pytest.mark.django_db

ARGS = ("--members", "30", "--months", "3", "--seed", "7")
TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def demo_data(*args: str) -> str:
    out = io.StringIO()
    call_command("demo_data", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def snapshot() -> dict[str, int]:
    models = [Store, Staff, Tier, Member, Visit, Purchase, PurchaseLine, PurchaseReturn]
    models += [LedgerEntry, Coupon, get_user_model()]
    models += [Challenge, Event, Award, Verification, WeatherObservation, ScheduledEventsDay]
    models += [Survey, Question, SurveyResponse, Answer, KpiSnapshot]
    return {model.__name__: model.objects.count() for model in models}


def world(seed: int = 7) -> World:
    anchor = dt.datetime(2026, 6, 1, tzinfo=TOKYO)
    return World(
        seed=seed,
        months=3,
        anchor=anchor,
        coupons={
            WELCOME: CouponRule(valid_days=30),
            SEASON: CouponRule(
                valid_from=anchor - dt.timedelta(days=40),
                valid_until=anchor + dt.timedelta(days=20),
            ),
            BIRTHDAY: CouponRule(valid_days=14),
            STORE_ONLY: CouponRule(valid_days=60, stores=frozenset({"OSA01"})),
        },
    )


def test_loads_reference_data_and_members():
    demo_data(*ARGS)

    assert Store.objects.count() == 3
    assert set(Store.objects.values_list("prefecture", flat=True)) == {"Tokyo", "Osaka", "Fukuoka"}
    assert Staff.objects.count() == 6
    assert all(store.staff.count() == 2 for store in Store.objects.all())
    tiers = Tier.objects.values_list("code", "rank", "threshold_spend", "earn_multiplier")
    assert [(c, r, t, str(m)) for c, r, t, m in tiers] == [
        ("regular", 0, 0, "1.00"),
        ("silver", 1, 50_000, "1.50"),
        ("gold", 2, 150_000, "2.00"),
    ]
    assert Member.objects.count() == 30
    numbers = list(Member.objects.values_list("member_number", flat=True))
    assert all(len(n) == 16 and n[0] != "0" and is_valid_member_number(n) for n in numbers)
    for member in Member.objects.exclude(status=Member.Status.WITHDRAWN):
        assert member.email.endswith("@example.com")
        assert member.phone is None or normalize_phone(member.phone) == member.phone
        age = (timezone.localdate() - member.birth_date).days // 365
        assert 18 <= age <= 81


def test_purchases_are_consistent_and_follow_joining():
    demo_data(*ARGS)

    assert Purchase.objects.count() > 30
    line_sums = dict(
        PurchaseLine.objects.values_list("purchase").annotate(
            s=Sum(F("quantity") * F("unit_price"))
        )
    )
    for purchase in Purchase.objects.select_related("member", "store", "staff"):
        assert purchase.total == line_sums[purchase.pk]
        assert purchase.occurred_at > purchase.member.joined_at
        assert (purchase.store is None) == (purchase.channel != "store")
        assert purchase.staff is None or purchase.staff.store_id == purchase.store_id
    assert Visit.objects.filter(visited_at__lt=F("member__joined_at")).count() == 0


def test_cached_balances_equal_the_ledger_and_nothing_drifts():
    demo_data(*ARGS)

    sums = ledger_sums()
    zero = {"points_available": 0, "points_pending": 0, "points_debt": 0, "points_lifetime": 0}
    for member in Member.objects.all():
        assert sums.get(member.pk, zero) == {field: getattr(member, field) for field in zero}
    assert ledger_drift() == []


def test_logins_and_groups():
    out = demo_data(*ARGS)

    User = get_user_model()
    staff, marketer, admin = (User.objects.get(username=n) for n in ("staff", "marketer", "admin"))
    assert (staff.is_staff, staff.is_superuser) == (True, False)
    assert list(staff.groups.values_list("name", flat=True)) == ["Store staff"]
    assert staff.staff_profile.code == "TYO01-01"
    assert (marketer.is_staff, marketer.is_superuser) == (True, False)
    assert list(marketer.groups.values_list("name", flat=True)) == ["Marketers"]
    assert (admin.is_staff, admin.is_superuser) == (True, True)
    assert staff.check_password("demo-staff-pass")
    assert marketer.check_password("demo-marketer-pass")
    assert admin.check_password("demo-admin-pass")
    app_user = User.objects.get(username="member")
    assert (app_user.is_staff, app_user.check_password("demo-member-pass")) == (False, True)
    assert app_user.member.status == Member.Status.ACTIVE

    assert "http://127.0.0.1:8000/admin/" in out
    # Printed as it is typed: the member number is the login, not the user name.
    login = f"  {app_user.member.member_number} / demo-member-pass    member app login"
    assert login in out
    raw = re.search(r"Integration API key \(Demo POS, all scopes\): (\S+)", out).group(1)
    key = api_key_verify(raw)
    assert (key.name, key.scopes) == ("Demo POS", sorted(SCOPES))
    assert "members 30," in out


def test_rerun_says_already_loaded_and_changes_nothing():
    demo_data(*ARGS)
    before = snapshot()

    out = demo_data(*ARGS)

    assert "demo data already loaded" in out
    assert "staff     / demo-staff-pass" in out
    assert snapshot() == before


def test_an_interrupted_load_resumes_with_the_members_still_missing():
    demo_data("--members", "10", "--months", "3", "--seed", "7")

    out = demo_data(*ARGS)

    assert "20 members (10 already present)" in out
    assert Member.objects.count() == 30
    assert ledger_drift() == []


def test_another_seed_on_top_is_refused():
    demo_data(*ARGS)
    before = snapshot()
    with pytest.raises(CommandError, match="another --seed"):
        demo_data("--members", "30", "--months", "3", "--seed", "8")
    assert snapshot() == before


def test_the_database_holds_exactly_the_planned_members():
    demo_data(*ARGS)
    planned = {member_number_for(7, index) for index in range(1, 31)}
    assert set(Member.objects.values_list("member_number", flat=True)) == planned


def test_plans_are_deterministic_per_seed_and_index():
    first = [plan_member(world(), index) for index in range(1, 31)]
    again = [plan_member(world(), index) for index in range(1, 31)]
    other = [plan_member(world(seed=8), index) for index in range(1, 31)]

    assert first == again
    assert [p.member_number for p in first] == [member_number_for(7, i) for i in range(1, 31)]
    assert len({p.member_number for p in first + other}) == 60
    assert [p.email for p in first[:2]] == ["member00001@example.com", "member00002@example.com"]
    for plan in first:
        assert [e.at for e in plan.events] == sorted(e.at for e in plan.events)
        assert all(e.at < world().anchor for e in plan.events)
        assert all(e.at >= plan.joined_at for e in plan.events)


def test_a_year_exercises_expiry_returns_spends_coupons_and_withdrawal():
    demo_data("--members", "40", "--months", "12", "--seed", "7")

    kinds = set(LedgerEntry.objects.values_list("kind", flat=True))
    assert {EntryKind.EARN, EntryKind.SPEND, EntryKind.REVERSE, EntryKind.EXPIRE} <= kinds
    assert not LedgerEntry.objects.filter(kind=EntryKind.SPEND).exclude(
        reference__startswith="DEMO-SPEND-"
    )
    assert PurchaseReturn.objects.exists()
    assert set(Coupon.objects.values_list("status", flat=True)) == set(Coupon.Status.values)
    assert set(Coupon.objects.values_list("issued_via", flat=True)) == {"demo"}
    assert Member.objects.filter(status=Member.Status.WITHDRAWN, email=None).exists()
    assert Member.objects.exclude(tier__code="regular").exists()
    # The tier job ran through the history: changes on more than the load's day.
    assert TierChange.objects.dates("changed_at", "day").count() > 1
    assert ledger_drift() == []


def test_pending_points_when_there_is_a_return_window(settings):
    settings.LOYALTY_PENDING_DAYS = 14
    demo_data(*ARGS)

    assert LedgerEntry.objects.filter(state=EntryState.PENDING, kind=EntryKind.EARN).exists()
    assert LedgerEntry.objects.filter(kind=EntryKind.RELEASE).exists()
    assert Member.objects.filter(points_pending__gt=0).exists()
    assert ledger_drift() == []


def test_rerun_prints_the_served_url_and_flags_a_changed_password():
    demo_data(*ARGS)
    marketer = get_user_model().objects.get(username="marketer")
    marketer.set_password("a-new-secret-123")
    marketer.save()

    out = demo_data(*ARGS, "--url", "http://127.0.0.1:8123/")

    assert "Admin: http://127.0.0.1:8123/admin/" in out
    assert "marketer  (password changed since the demo was loaded)" in out
    assert "staff     / demo-staff-pass" in out


# --- the challenge engine in the demo -----------------------------------------------------

ENGINE_ARGS = ("--members", "25", "--months", "12", "--seed", "3")
ENGINE_SEED, ENGINE_MEMBERS = 3, 25


def loaded_world() -> World:
    """The World the command built today (its anchor is today's local midnight)."""
    anchor = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    templates = {t.code: t for t in CouponTemplate.objects.all()}
    return World(seed=ENGINE_SEED, months=12, anchor=anchor, coupons=coupon_rules(templates))


def _matches(day: dt.date, month_day: tuple[int, int]) -> bool:
    """The scheduler's calendar: Feb 29 counts as Feb 28 in common years."""
    leap = day.year % 4 == 0 and (day.year % 100 != 0 or day.year % 400 == 0)
    if month_day == (2, 29) and not leap:
        month_day = (2, 28)
    return (day.month, day.day) == month_day


def expected_events(world: World, plans, *, win_back_days: set[int]) -> Counter:
    """Event counts by type, from the pure plans: every purchase and return, every planned
    activity, and what the scheduler gives on every day of the history (for members still
    active at the end: birthdays, anniversaries, one win-back per threshold day)."""
    counts: Counter = Counter()
    last = world.anchor.date()
    first = world.start.date()
    days = [first + dt.timedelta(days=n) for n in range((last - first).days)]
    for plan in plans:
        counts["purchase"] += sum(e.kind == PURCHASE for e in plan.events)
        counts["return"] += sum(e.kind == RETURN for e in plan.events)
        counts.update(a.type for a in plan.activities)
        if plan.withdrawn:
            continue
        joined = plan.joined_at.astimezone(TOKYO)
        activity = [e.at for e in plan.events if e.kind == PURCHASE]
        activity += [a.at for a in plan.activities if a.type == "visit"]
        for day in days:
            midnight = dt.datetime.combine(day, dt.time(), tzinfo=TOKYO)
            born = plan.birth_date
            if born.year < day.year and plan.joined_at < midnight + dt.timedelta(days=1):
                counts["birthday"] += _matches(day, (born.month, born.day))
            if plan.joined_at < midnight:
                if joined.year < day.year:
                    counts["anniversary"] += _matches(day, (joined.month, joined.day))
                before = [at for at in activity if at < midnight]
                latest = max(before).astimezone(TOKYO) if before else joined
                counts["win_back"] += (day - latest.date()).days in win_back_days
    return counts


def expected_awards(world: World, plans) -> dict[str, int]:
    """What each preset must grant, computed from the plans and the stored weather without
    the engine. Order-free: who qualifies, not which event of the day or month paid."""
    start = world.start
    rain = {
        (store, day)
        for store, day in WeatherObservation.objects.filter(condition="rain").values_list(
            "store__code", "date"
        )
    }
    expected: Counter = Counter()
    for plan in plans:
        purchases = [e.purchase for e in plan.events if e.kind == PURCHASE]
        activities = [a for a in plan.activities if a.at >= start]
        visits = [a for a in activities if a.type == "visit"]
        tries = [p.at for p in purchases if FIRST_TRY_SKU in {ln.sku for ln in p.lines}]
        expected["first_purchase_of_product"] += bool(tries) and min(tries) >= start
        expected["staff_ambassador"] += len(  # once a day
            {
                p.at.astimezone(TOKYO).date()
                for p in purchases
                if p.staff == AMBASSADOR and p.at >= start
            }
        )
        expected["rainy_day_visit"] += len(
            {
                a.at.astimezone(TOKYO).date()
                for a in visits
                if (a.store, a.at.astimezone(TOKYO).date()) in rain
            }
        )
        per_month = Counter(
            (a.at.astimezone(TOKYO).year, a.at.astimezone(TOKYO).month) for a in visits
        )
        expected["visit_three_times_a_month"] += sum(n >= 3 for n in per_month.values())
        expected["survey_answered"] += any(
            a.type == "survey_answered" and dict(a.payload)["survey"] == SURVEY for a in activities
        )
        if not plan.withdrawn:  # a withdrawn member's birth date is gone when it is evaluated
            expected["birthday_double_points"] += sum(
                p.at >= start and p.at.astimezone(TOKYO).month == plan.birth_date.month
                for p in purchases
            )
    scheduled = Event.objects.filter(source_key="scheduler")
    expected["birthday_gift"] = scheduled.filter(type__code="birthday").count()
    expected["membership_anniversary"] = scheduled.filter(type__code="anniversary").count()
    expected["win_back"] = scheduled.filter(type__code="win_back", payload__days_absent=60).count()
    return {challenge_code(key): n for key, n in expected.items()}


def awards_by_code() -> dict[str, int]:
    counts = Counter(Award.objects.values_list("version__challenge__code", flat=True))
    return {code: counts[code] for code in Challenge.objects.values_list("code", flat=True)}


def test_the_demo_history_goes_through_the_challenge_engine(settings, monkeypatch):
    # Every member of the tasting's store who is a member on its day attends (the draw
    # stays, only its threshold moves): with 25 members and the demo's 20% chance, some
    # dates gave no attendance at all and the staff-verified path went unchecked.
    monkeypatch.setattr(demo_module, "ATTEND_CHANCE", 1.0)
    # Small batches, so that many members' events straddle two or more batches: the
    # worker's purchase history must not count purchases whose events wait in a later batch
    # (it once did, and "first purchase of" missed 19 of 1,113 in the 2,000-member demo).
    settings.LOYALTY_EVENT_BATCH_SIZE = 11
    out = demo_data(*ENGINE_ARGS)
    world = loaded_world()
    plans = [plan_member(world, index) for index in range(1, ENGINE_MEMBERS + 1)]

    # One active challenge per preset, from the start of the history, fitted to this world.
    challenges = Challenge.objects.select_related("current_version").order_by("code")
    assert sorted(c.preset for c in challenges) == sorted(PRESETS)
    assert {c.code for c in challenges} == {challenge_code(key) for key in PRESETS}
    assert {c.status for c in challenges} == {Challenge.Status.ACTIVE}
    assert {c.current_version.starts_at for c in challenges} == {world.start}
    by_preset = {c.preset: c.current_version for c in challenges}
    assert by_preset["first_purchase_of_product"].conditions["value"] == FIRST_TRY_SKU
    assert by_preset["staff_ambassador"].conditions["value"] == AMBASSADOR
    assert by_preset["sns_follow"].conditions["all"][0]["value"] == SNS_PLATFORM
    assert by_preset["sns_follow"].conditions["all"][1]["value"] == SNS_ACCOUNT
    assert by_preset["survey_answered"].conditions["value"] == SURVEY
    assert by_preset["event_attendance"].conditions["value"] == EVENT_CODE
    # About a fifth of the store days of the history rain, for the rainy-day challenge.
    days = (world.anchor.date() - world.start.date()).days
    assert WeatherObservation.objects.count() == 3 * days
    rainy = WeatherObservation.objects.filter(condition="rain").count()
    assert 0.15 < rainy / (3 * days) < 0.25

    # Every planned event was stored once (purchases and returns by their own intake path,
    # the rest as the demo's source) and every one was processed.
    stored = Counter(Event.objects.values_list("type__code", flat=True))
    win_back_days = {*settings.LOYALTY_WIN_BACK_DAYS, 60}  # 60: the preset's
    assert stored == expected_events(world, plans, win_back_days=win_back_days)
    assert set(Event.objects.values_list("source_key", flat=True)) == {
        "purchases",
        "returns",
        "demo",
        "scheduler",
        "surveys",
    }
    # Survey answers went through the survey service: a response per planned answer, each
    # with its six answers, and its event (source "surveys") carries the survey and NPS score.
    surveys = [(plan, a) for plan in plans for a in plan.activities if a.type == "survey_answered"]
    assert SurveyResponse.objects.count() == len(surveys) == stored["survey_answered"] > 0
    assert set(
        Event.objects.filter(type__code="survey_answered").values_list("source_key", flat=True)
    ) == {"surveys"}
    assert sorted(
        Event.objects.filter(type__code="survey_answered").values_list(
            "member__member_number", "occurred_at", "payload"
        )
    ) == sorted(
        (plan.member_number, a.at, {"survey": SURVEY, "score": dict(a.payload)["score"]})
        for plan, a in surveys
    )
    planned_answers = sum(len(a.payload) - 1 for _plan, a in surveys)  # all but "survey"
    assert Answer.objects.count() == planned_answers
    assert {r.member.member_number: r.answered_at for r in SurveyResponse.objects.all()} == {
        plan.member_number: a.at for plan, a in surveys
    }
    assert Event.objects.filter(type__code="purchase").count() == Purchase.objects.count()
    assert Event.objects.filter(status=Event.Status.PENDING).count() == 0
    # Processed check-ins are the visits.
    assert Visit.objects.count() == stored["visit"]

    # Each preset granted exactly what the plans say it should, and all but the two that
    # staff confirm fire in this world (the scheduler ran for every day of the history).
    awards = awards_by_code()
    assert awards == {
        **expected_awards(world, plans),
        challenge_code("sns_follow"): 0,
        challenge_code("event_attendance"): 0,
    }
    for key in (
        "first_purchase_of_product",
        "staff_ambassador",
        "survey_answered",
        "rainy_day_visit",
        "visit_three_times_a_month",
        "birthday_double_points",
        "birthday_gift",
        "membership_anniversary",
        "win_back",
    ):
        assert awards[challenge_code(key)] > 0, key
    # The two that staff must confirm wait in the queue: one per matching event.
    pending = Counter(
        Verification.objects.filter(status=Verification.Status.PENDING).values_list(
            "version__challenge__code", flat=True
        )
    )
    follows = Event.objects.filter(
        type__code="sns_follow", payload__platform=SNS_PLATFORM, payload__account=SNS_ACCOUNT
    )
    attendances = Event.objects.filter(type__code="event_attendance")
    assert pending == {
        challenge_code("sns_follow"): follows.count(),
        challenge_code("event_attendance"): attendances.count(),
    }
    assert follows.count() > 0 and attendances.count() > 0

    # The printed figure is what was done.
    figure = re.search(
        r"challenge events: ([\d,]+) processed in [\d.]+ s \([\d,]+ events/s\), "
        r"([\d,]+) awards, ([\d,]+) points granted",
        out,
    )
    number = [int(g.replace(",", "")) for g in figure.groups()]
    points = Award.objects.aggregate(s=Sum("points"))["s"]
    assert number == [Event.objects.count(), Award.objects.count(), points]
    assert f"challenges: {len(PRESETS)} created from the presets" in out

    # Ledger: challenge points are in the books and the balances agree with them.
    challenge_entries = LedgerEntry.objects.filter(source="challenge", kind=EntryKind.EARN)
    assert challenge_entries.aggregate(s=Sum("points"))["s"] == points
    assert ledger_drift() == []
    check = io.StringIO()
    call_command("check_ledger", stdout=check)
    assert check.getvalue().startswith("ledger OK")

    # KPI snapshots: the dashboard's headline KPIs for the current month, the nightly run's
    # day, and NPS per month equal to what the planned scores give.
    today = timezone.localdate()
    this_month = today.replace(day=1)
    month_rows = KpiSnapshot.objects.filter(segment="all", period="month")
    assert set(
        month_rows.filter(period_start=this_month, kpi__in=HEADLINE_KPIS).values_list(
            "kpi", flat=True
        )
    ) == set(HEADLINE_KPIS)
    yesterday = today - dt.timedelta(days=1)
    assert KpiSnapshot.objects.filter(period="day", period_start=yesterday, kpi="nps").exists()
    # The dashboard opens each period kind on its last finished period: the last quarter and
    # week have their headline KPIs too (every quarter of the history, the last weeks).
    for period, back in (("quarter", -1), ("quarter", -3), ("week", -1), ("week", -8)):
        start = period_shift(period, period_floor(period, today), back)
        rows = KpiSnapshot.objects.filter(segment="all", period=period, period_start=start)
        assert set(rows.values_list("kpi", flat=True)) >= set(HEADLINE_KPIS), (period, start)
    figure = re.search(r"KPI snapshots: ([\d,]+) rows in [\d.]+ s", out)
    assert int(figure.group(1).replace(",", "")) == KpiSnapshot.objects.count()
    first_month = max(world.start.date(), period_shift("month", this_month, 1 - KPI_MONTHS))
    assert month_rows.filter(kpi="nps").order_by("period_start").first().period_start == (
        first_month.replace(day=1)
    )
    answered_months = 0
    for months_back in range(KPI_MONTHS):
        start = period_shift("month", this_month, -months_back)
        if start < first_month.replace(day=1):
            break
        begin = dt.datetime.combine(start, dt.time(), tzinfo=TOKYO)
        end = dt.datetime.combine(min(period_shift("month", start, 1), today), dt.time(), TOKYO)
        scores = [dict(a.payload)["score"] for _plan, a in surveys if begin <= a.at < end]
        promoters = sum(score >= 9 for score in scores)
        detractors = sum(score <= 6 for score in scores)
        nps = month_rows.get(kpi="nps", period_start=start)
        assert (nps.value, nps.n) == (
            nps_formula(promoters, len(scores) - promoters - detractors, detractors),
            len(scores),
        ), start
        answered_months += bool(scores)
    assert answered_months > 0
    last_full = month_rows.get(kpi="nps", period_start=period_shift("month", this_month, -1))
    assert last_full.n == sum(
        period_shift("month", this_month, -1) == a.at.astimezone(TOKYO).date().replace(day=1)
        for _plan, a in surveys
    )

    # Again: already loaded, nothing changes.
    before = snapshot()
    again = demo_data(*ENGINE_ARGS)
    assert "demo data already loaded" in again
    assert snapshot() == before
    assert awards_by_code() == awards


def test_loading_rings_no_worker_and_defer_processing_leaves_the_events_pending(
    django_capture_on_commit_callbacks,
):
    from challenges.intake import events_doorbell_ring, events_ingest

    with django_capture_on_commit_callbacks() as callbacks:
        out = demo_data("--members", "10", "--months", "3", "--seed", "7", "--defer-processing")

    assert events_doorbell_ring not in callbacks
    events = Event.objects.count()
    assert events == Event.objects.filter(status=Event.Status.PENDING).count() > 0
    assert f"challenge events: {events:,} left pending (--defer-processing)" in out
    assert not Event.objects.filter(source_key="scheduler").exists()
    assert (Award.objects.count(), Visit.objects.count()) == (0, 0)
    # Outside the load, storing an event rings the workers as always.
    member = Member.objects.filter(status=Member.Status.ACTIVE).first()
    item = {
        "client_id": "after-the-load",
        "type": "app_open",
        "member_number": member.member_number,
        "occurred_at": "2026-01-05T10:00:00+09:00",
    }
    with django_capture_on_commit_callbacks() as callbacks:
        assert events_ingest(source_key="test", items=[item])[0].result == "accepted"
    assert callbacks == [events_doorbell_ring]


def test_weather_already_observed_is_kept():
    shibuya = Store.objects.create(code="TYO01", name="Demo Coffee Shibuya")
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    WeatherObservation.objects.create(
        store=shibuya, date=yesterday, condition="snow", precipitation_mm=4, source="csv"
    )

    demo_data("--members", "3", "--months", "1", "--seed", "7")

    kept = WeatherObservation.objects.get(store=shibuya, date=yesterday)
    assert (kept.condition, kept.precipitation_mm, kept.source) == ("snow", 4, "csv")
    today = timezone.localdate()
    days = (today - (today - relativedelta(months=1))).days  # the history, one month
    assert WeatherObservation.objects.count() == 3 * days
    assert WeatherObservation.objects.filter(source="demo").count() == 3 * days - 1
