"""Challenge effectiveness (docs/metrics.md, "Challenges"), with awards written by the real
engine. The period is June 2026.

Challenges (from 1 Jan 2026, triggered by app_open):
    visit: 10 points, once a day, points budget 100
    tea:   a FREE-TEA coupon, once per member, coupon budget 4
    quiet: 5 points on an SNS follow; active, nobody follows
    idea:  a draft: never shown
App opens: M3 on 20 May; M1 on 2 and 3 June; M2 on 5 June; M5 on 7 June.
Purchases (the "active at the end of June" base needs one in the 180 days before 1 July, the
follow-up is [1 Jul, 29 Sep)):
    M1 1 May, again 15 Jul      M2 20 Jun, again 10 Sep      M3 1 Apr, again 1 Aug
    M4 1 Mar, again 5 Oct (after the follow-up)              M5 never
"""

import datetime as dt
from decimal import Decimal

import pytest

from challenges.intake import events_ingest
from challenges.models import GoalProgress
from challenges.services import challenge_create
from loyalty.coupons import coupon_redeem
from loyalty.models import Coupon
from tests.challenges.support import START, process
from tests.loyalty.factories import CouponTemplateFactory

from .kpi_support import at, buy, d, member, values, window

pytestmark = pytest.mark.django_db
JUNE = window("month", "2026-06-01", "2026-07-01", cutoff="2026-10-01")


def rule(name, *, effects, triggers=("app_open",), **extra):
    return {
        "name": name,
        "triggers": list(triggers),
        "effects": effects,
        "starts_at": START,
        **extra,
    }


@pytest.fixture
def world():
    CouponTemplateFactory(code="FREE-TEA", per_member_limit=None, valid_days=400)
    points = [{"type": "points", "points": 10}]
    challenge_create(
        code="visit",
        definition=rule(
            "Visit", effects=points, limit={"count": 1, "period": "day"}, budget={"points": 100}
        ),
        status="active",
    )
    challenge_create(
        code="tea",
        definition=rule(
            "Tea",
            effects=[{"type": "coupon", "template": "FREE-TEA"}],
            limit={"count": 1, "period": "campaign"},
            budget={"coupons": 4},
        ),
        status="active",
    )
    challenge_create(
        code="quiet",
        definition=rule(
            "Quiet", effects=[{"type": "points", "points": 5}], triggers=["sns_follow"]
        ),
        status="active",
    )
    challenge_create(code="idea", definition=rule("Idea", effects=points))
    m = {n: member("2025-01-01") for n in (1, 2, 3, 4, 5)}
    opens = [
        (3, "2026-05-20"),
        (1, "2026-06-02"),
        (1, "2026-06-03"),
        (2, "2026-06-05"),
        (5, "2026-06-07"),
    ]
    events_ingest(
        source_key="test",
        items=[
            {
                "client_id": f"open-{i}",
                "type": "app_open",
                "member_number": m[who].member_number,
                "occurred_at": at(d(day), 10).isoformat(),
            }
            for i, (who, day) in enumerate(opens)
        ],
    )
    assert process() == 5
    for who, days in {
        1: ("2026-05-01", "2026-07-15"),
        2: ("2026-06-20", "2026-09-10"),
        3: ("2026-04-01", "2026-08-01"),
        4: ("2026-03-01", "2026-10-05"),
    }.items():
        for day in days:
            buy(m[who], day)
    return m


def by_segment(code, win=JUNE):
    return {segment: v for segment, v in values(code, win).items()}


def test_joiners_completions_points(world):
    joiners = by_segment("challenge_joiners")
    # Every running challenge has a row (quiet with 0); the draft has none.
    assert list(joiners) == ["all", "challenge:quiet", "challenge:tea", "challenge:visit"]
    # June: visit M1, M2, M5; tea M1, M2, M5 (M3's were in May); all: 3 distinct members.
    assert {s: v.value for s, v in joiners.items()} == {
        "all": 3,
        "challenge:quiet": 0,
        "challenge:tea": 3,
        "challenge:visit": 3,
    }
    completions = by_segment("challenge_completions")
    # visit fired on 2 and 3 June for M1, 5 June for M2, 7 June for M5: 4 times, 3 members;
    # tea once each for M1, M2, M5. All: 4 + 3 = 7 completions by 3 members.
    assert {s: (v.value, v.n) for s, v in completions.items()} == {
        "all": (7, 3),
        "challenge:quiet": (0, 0),
        "challenge:tea": (3, 3),
        "challenge:visit": (4, 3),
    }
    points = by_segment("challenge_points")
    assert {s: v.value for s, v in points.items()} == {
        "all": 40,
        "challenge:quiet": 0,
        "challenge:tea": 0,
        "challenge:visit": 40,
    }


def test_coupons_issued_and_used(world):
    tea = Coupon.objects.get(member=world[1])
    coupon_redeem(code=tea.code, order_reference="till-9", now=at(d("2026-06-10")))
    coupons = by_segment("challenge_coupons")
    # Issued for June events: M1, M2, M5 = 3; M1's was used on 10 June.
    assert coupons["challenge:tea"].value == 3
    assert coupons["challenge:tea"].details == {"used_in_period": 1}
    assert coupons["all"].details == {"used_in_period": 1}
    assert coupons["challenge:visit"].value == 0


def test_budget_used_up_to_the_end_of_the_period(world):
    budget = by_segment("challenge_budget_used")
    # visit: 10 in May + 40 in June = 50 of 100; tea: 4 coupons of 4; quiet: no budget.
    assert budget["challenge:visit"].value == Decimal("50.0000")
    assert budget["challenge:visit"].details == {
        "points_granted": 50,
        "points_budget": 100,
        "points_used": "50.0000",
        "coupons_granted": 0,
        "coupons_budget": None,
        "coupons_used": None,
    }
    assert budget["challenge:tea"].value == Decimal("100.0000")
    assert budget["challenge:quiet"].value is None
    assert "all" not in budget
    # At the end of May only M3's 10 points and coupon had been granted.
    may = by_segment("challenge_budget_used", window("month", "2026-05-01", "2026-06-01"))
    assert (may["challenge:visit"].value, may["challenge:tea"].value) == (
        Decimal("10.0000"),
        Decimal("25.0000"),
    )


def test_repeat_rate_of_completers_against_comparable_non_completers(world):
    # Active on 1 July: M1 (May), M2 (June), M3 (April), M4 (March) = 4; M5 never bought, so
    # M5 completing visit does not make M5 comparable.
    # Bought again in [1 Jul, 29 Sep): M1 (15 Jul), M2 (10 Sep), M3 (1 Aug); M4's 5 Oct is
    # too late.
    # visit completers in the base: M1, M2 -> both again: 100 %. Others: M3, M4 -> 50 %.
    completers = by_segment("challenge_repeat_completers")
    others = by_segment("challenge_repeat_others")
    visit = completers["challenge:visit"]
    assert (visit.value, visit.numerator, visit.denominator, visit.n) == (
        Decimal("100.0000"),
        2,
        2,
        2,
    )
    assert visit.details == {
        "others_rate": "50.0000",
        "lift": "50.0000",
        "follow_up_days": 90,
        "follow_up_through": "2026-09-28",
        "complete": True,
    }
    assert (others["challenge:visit"].value, others["challenge:visit"].n) == (
        Decimal("50.0000"),
        2,
    )
    assert others["challenge:visit"].details["completers_rate"] == "100.0000"
    # quiet: nobody completed (undefined); all 4 are "others", 3 bought again: 75 %.
    assert completers["challenge:quiet"].value is None
    assert (others["challenge:quiet"].value, others["challenge:quiet"].n) == (
        Decimal("75.0000"),
        4,
    )
    assert completers["all"].value == Decimal("100.0000")


def test_repeat_comparison_while_the_follow_up_runs(world):
    # Measured on 15 August: M2's 10 Sep purchase has not happened yet.
    august = window("month", "2026-06-01", "2026-07-01", cutoff="2026-08-15")
    visit = by_segment("challenge_repeat_completers", august)["challenge:visit"]
    assert visit.value == Decimal("50.0000")  # M1 only
    assert (visit.details["follow_up_through"], visit.details["complete"]) == (
        "2026-08-14",
        False,
    )
    # While June itself is not over, there is nothing to compare.
    running = window("month", "2026-06-01", "2026-07-01", cutoff="2026-06-20")
    assert values("challenge_repeat_completers", running) == {}


def test_no_challenges():
    found = values("challenge_joiners", JUNE)
    assert {s: (v.value, v.n) for s, v in found.items()} == {"all": (0, 0)}
    assert values("challenge_budget_used", JUNE) == {}


# --- Joiners include members on their way to a goal -------------------------------------------


@pytest.fixture
def goal_world():
    """stamps: 20 points once 3 app opens are reached (window: the campaign); hello: 1 point
    for the first open (no goal). Opens, at 10:00 Tokyo time unless said:
        G1: 25 May, 2 Jun, 4 Jun (completes stamps on 4 Jun)
        G2: 10 Jun, 12 Jun (stamps 2 of 3: started in June, never completed)
        G3: 20 May (stamps 1 of 3, nothing in June)
        G4: 28, 29, 30 May (completes stamps on 30 May), 3 Jun (stamps already completed:
            no progress, no award; hello was paid in May)
        G5: 1 Jul at 00:30 (30 June 15:30 UTC: July in the programme's time)
    May's opens are processed first, June's and July's in a later batch."""
    challenge_create(
        code="stamps",
        definition=rule(
            "Stamps",
            effects=[{"type": "points", "points": 20}],
            goal={"kind": "count", "target": 3, "window": "campaign"},
        ),
        status="active",
    )
    challenge_create(
        code="hello",
        definition=rule(
            "Hello",
            effects=[{"type": "points", "points": 1}],
            limit={"count": 1, "period": "campaign"},
        ),
        status="active",
    )
    g = {n: member("2025-01-01") for n in (1, 2, 3, 4, 5)}
    may = [(1, "2026-05-25"), (3, "2026-05-20"), (4, "2026-05-28"), (4, "2026-05-29")]
    may += [(4, "2026-05-30")]
    later = [(1, "2026-06-02"), (1, "2026-06-04"), (2, "2026-06-10"), (2, "2026-06-12")]
    later += [(4, "2026-06-03")]
    july_first = at(d("2026-07-01"), 0) + dt.timedelta(minutes=30)
    for batch, opens in (("may", may), ("later", later)):
        items = [
            {
                "client_id": f"{batch}-{i}",
                "type": "app_open",
                "member_number": g[who].member_number,
                "occurred_at": at(d(day), 10).isoformat(),
            }
            for i, (who, day) in enumerate(opens)
        ]
        if batch == "later":
            items.append(
                {
                    "client_id": "later-g5",
                    "type": "app_open",
                    "member_number": g[5].member_number,
                    "occurred_at": july_first.isoformat(),
                }
            )
        events_ingest(source_key="test", items=items)
        assert process() == len(items)
    return g


def test_joiners_count_members_who_started_a_goal(goal_world):
    g = goal_world
    june = by_segment("challenge_joiners")
    # stamps: G1 (award on 4 Jun; started in May, which does not matter once paid in June)
    # and G2 (started 10 Jun, not completed: a joiner all the same) = 2. Not G3 (started in
    # May, nothing since), not G4 (completed in May; its 3 Jun open made no progress), not
    # G5 (1 Jul in Tokyo, though 30 Jun in UTC).
    # hello: G2 (10 Jun); G1 and G4 were paid in May. all: G1, G2 (G2 counted once) = 2.
    assert {s: v.value for s, v in june.items()} == {
        "all": 2,
        "challenge:hello": 1,
        "challenge:stamps": 2,
    }
    # Completions do not count G2: stamps fired once in June (G1).
    completions = by_segment("challenge_completions")
    assert (completions["challenge:stamps"].value, completions["challenge:stamps"].n) == (1, 1)
    # May: stamps G1 (started 25 May), G3 (started 20 May), G4 (started 28 May, paid 30 May)
    # = 3; hello G1, G3, G4 = 3; all 3.
    may = by_segment("challenge_joiners", window("month", "2026-05-01", "2026-06-01"))
    assert {s: v.value for s, v in may.items()} == {
        "all": 3,
        "challenge:hello": 3,
        "challenge:stamps": 3,
    }
    # July: G5 started stamps and was paid hello on 1 Jul at 00:30.
    july = by_segment("challenge_joiners", window("month", "2026-07-01", "2026-08-01"))
    assert {s: (v.value, v.n) for s, v in july.items()} == {
        "all": (1, 1),
        "challenge:hello": (1, 1),
        "challenge:stamps": (1, 1),
    }
    # The rows the joiners were read from: started_at and completed_at are the opens' times,
    # G4's completion not moved by its later open (processed in the later batch).
    progress = {
        p.member_id: (p.value, p.started_at, p.completed_at)
        for p in GoalProgress.objects.filter(challenge__code="stamps")
    }
    assert progress == {
        g[1].pk: (3, at(d("2026-05-25"), 10), at(d("2026-06-04"), 10)),
        g[2].pk: (2, at(d("2026-06-10"), 10), None),
        g[3].pk: (1, at(d("2026-05-20"), 10), None),
        g[4].pk: (3, at(d("2026-05-28"), 10), at(d("2026-05-30"), 10)),
        g[5].pk: (1, at(d("2026-07-01"), 0) + dt.timedelta(minutes=30), None),
    }


def test_repeat_comparison_from_the_member_state_in_a_run_step(world):
    # The nightly run's way: the state at the cutoff (15 August), the windows computed in a
    # run step (a sharing block), where the comparison joins the completers to a table of
    # the members active at the end of June and whether they bought since. Same figures as
    # from the books above: visit 50 % (M1 bought again by 14 August, M2 not yet); the
    # others (M3 bought 1 Aug, M4 not) 50 %.
    from metrics.kpis.base import sharing
    from metrics.kpis.state import follow_up
    from metrics.member_state import member_state_update

    member_state_update(today=d("2026-08-15"))
    august = window("month", "2026-06-01", "2026-07-01", cutoff="2026-08-15")
    with sharing():
        assert follow_up(at(d("2026-07-01"), 0), d("2026-08-15"))[3] is not None
        completers = by_segment("challenge_repeat_completers", august)
        others = by_segment("challenge_repeat_others", august)
    visit = completers["challenge:visit"]
    assert (visit.value, visit.numerator, visit.denominator) == (Decimal("50.0000"), 1, 2)
    assert (others["challenge:visit"].value, others["challenge:visit"].n) == (
        Decimal("50.0000"),
        2,
    )
    assert completers["challenge:quiet"].value is None
    assert completers["all"].value == Decimal("50.0000")


def test_a_night_computes_the_award_kpis_with_the_rest(world):
    # A night computes the challenge KPIs without a follow-up apart from the others (while
    # the member state moves; here, in the test's transaction, on this connection). The
    # night of 3 June measures the day of 2 June: visit fired once for M1 (10 points), tea
    # once for M1 (a coupon): 2 completions by 1 member. visit's budget up to 3 June: M3's
    # 10 points in May + M1's 10 = 20 of 100 = 20 %.
    from metrics.models import KpiSnapshot
    from metrics.snapshots import kpis_nightly

    kpis_nightly(today=d("2026-06-03"))

    def day(code: str, segment: str) -> KpiSnapshot:
        return KpiSnapshot.objects.get(
            kpi=code, segment=segment, period="day", period_start=d("2026-06-02")
        )

    assert (day("challenge_completions", "all").value, day("challenge_completions", "all").n) == (
        Decimal("2"),
        1,
    )
    assert day("challenge_points", "challenge:visit").value == Decimal("10")
    assert day("challenge_coupons", "challenge:tea").value == Decimal("1")
    assert day("challenge_budget_used", "challenge:visit").value == Decimal("20.0000")
    assert day("challenge_joiners", "all").value == Decimal("1")
    # The rest of the night is there too: the day's active members (M1 bought on 1 May,
    # M3 on 1 April, M4 on 1 March: active within 180 days; M2 and M5 had not bought yet).
    assert day("active_members", "all").value == Decimal("3")
