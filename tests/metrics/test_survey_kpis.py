"""Survey KPIs: the pure formulas on hand-computed counts, and each calculator on a small
hand-made set of answers, with the expected values worked out in the comments.

The people (segments on 2026-06-30, the last day of the June window):
- hanako: joined 2026-06-10 (new), tier gold, home store TYO01, female, born 1990-03-01 (36:
  age 30-39), cohort 2026-06;
- taro: joined 2025-01-15, bought 2026-05-01 (existing), tier silver, home store OSA01, male,
  born 1980-01-01 (46: age 40-49), cohort 2025-01;
- jiro: joined 2024-01-01, never bought (dormant), no tier, no home store, gender unspecified,
  no birth date, cohort 2024-01.
"""

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metrics.formulas import surveys as f
from metrics.kpis.base import REGISTRY, Value
from metrics.models import Answer, SurveyResponse
from metrics.snapshots import registry
from tests.members.factories import StoreFactory, TierFactory

from .kpi_support import at, buy, d, member, values, window
from .survey_support import answer, survey_make

pytestmark = pytest.mark.django_db

JUNE = window("month", "2026-06-01", "2026-07-01")
JST = dt.timezone(dt.timedelta(hours=9))


# --- Formulas ----------------------------------------------------------------------------------


def test_nps_formula():
    # 5 promoters, 3 passives, 2 detractors: 50% - 20% = 30.
    assert f.nps(5, 3, 2) == Decimal("30.0000")
    assert f.nps(0, 0, 3) == Decimal("-100.0000")
    # 2 of 3 promoters, none detractors: 66.666...% -> rounded half up to 4 places.
    assert f.nps(2, 1, 0) == Decimal("66.6667")
    assert f.nps(0, 0, 0) is None


def test_nrs_formula():
    # 3 repeaters (5), 1 neutral (4), 1 at risk (1-3): 60% - 20% = 40.
    assert f.nrs(3, 1, 1) == Decimal("40.0000")
    assert f.nrs(0, 4, 0) == Decimal("0.0000")
    assert f.nrs(0, 0, 0) is None


def test_csat_ces_means_net_and_dwb_formulas():
    assert f.csat_mean(Decimal("373.00"), 6) == Decimal("62.1667")  # 62.1666...
    assert f.csat_mean(0, 0) is None
    assert f.ces_mean(16, 3) == Decimal("5.3333")
    assert f.ces_mean(0, 0) is None
    # 3 "no effort", 1 "effort": 75% - 25% = 50.
    assert f.ces_net(no=3, yes=1) == Decimal("50.0000")
    assert f.ces_net(no=0, yes=2) == Decimal("-100.0000")
    assert f.ces_net(0, 0) is None
    # 2 of 4 answered 1 (definitely would buy).
    assert f.dwb(2, 4) == Decimal("50.0000")
    assert f.dwb(1, 3) == Decimal("33.3333")
    assert f.dwb(0, 0) is None


@pytest.mark.parametrize(
    ("score", "scale", "expected"),
    [
        (1, 5, "0.00"),
        (3, 5, "50.00"),
        (4, 5, "75.00"),
        (1, 10, "0.00"),
        (2, 10, "11.11"),  # 1/9 = 11.111...
        (6, 10, "55.56"),  # 5/9 = 55.555... half up
        (10, 10, "100.00"),
        (0, 100, "0.00"),
        (73, 100, "73.00"),
    ],
)
def test_csat_normalisation_formula(score, scale, expected):
    assert f.csat_normalise(score, scale) == Decimal(expected)


@pytest.mark.parametrize(("score", "scale"), [(0, 5), (6, 5), (0, 10), (11, 10), (101, 100)])
def test_csat_normalisation_refuses_scores_off_the_scale(score, scale):
    with pytest.raises(ValueError, match="is not on the"):
        f.csat_normalise(score, scale)


@given(st.integers(0, 500), st.integers(0, 500), st.integers(0, 500))
def test_net_scores_stay_within_100(promoters, passives, detractors):
    value = f.nps(promoters, passives, detractors)
    if promoters + passives + detractors == 0:
        assert value is None
    else:
        assert Decimal(-100) <= value <= Decimal(100)
        assert value == f.nrs(promoters, passives, detractors)


# --- The registry ------------------------------------------------------------------------------


def test_survey_kpis_are_registered():
    registry()
    kpis = {code: REGISTRY[code] for code in ("nps", "nrs", "csat", "ces", "ces_net", "dwb")}
    assert {
        code: (k.unit, k.group, k.higher_is_better, k.min_reliable_n) for code, k in kpis.items()
    } == {
        "nps": ("score", "survey", True, 100),
        "nrs": ("score", "survey", True, 100),
        "csat": ("score", "survey", True, 100),
        "ces": ("score", "survey", False, 100),
        "ces_net": ("score", "survey", True, 100),
        "dwb": ("percent", "survey", True, 100),
    }
    assert {k.dimensions for k in kpis.values()} == {
        ("segment", "tier", "store", "cohort", "age", "gender", "answer_store", "question")
    }


# --- Calculators on the hand-made set ----------------------------------------------------------


@pytest.fixture
def people():
    gold, silver = TierFactory(code="gold"), TierFactory(code="silver")
    tyo, osa = StoreFactory(code="TYO01"), StoreFactory(code="OSA01")
    hanako = member(
        "2026-06-10", tier=gold, home_store=tyo, gender="female", birth_date=d("1990-03-01")
    )
    taro = member(
        "2025-01-15", tier=silver, home_store=osa, gender="male", birth_date=d("1980-01-01")
    )
    buy(taro, "2026-05-01")
    jiro = member("2024-01-01")
    return hanako, taro, jiro, tyo, osa


def say(survey, who, *answers, day: str, hour: int = 12, minute: int = 0, store=None):
    when = dt.datetime.combine(d(day), dt.time(hour, minute), tzinfo=JST)
    return answer(who, survey, *answers, store=store, answered_at=when)


def segments(code: str, win=JUNE) -> dict[str, tuple]:
    """{segment: (value, n)} of one KPI."""
    return {s: (v.value, v.n) for s, v in values(code, win).items()}


def D(text: str) -> Decimal:
    return Decimal(text)


@pytest.fixture
def nps_answers(people):
    hanako, taro, jiro, tyo, osa = people
    s = survey_make("nps-s", ("nps", {"text": "Recommend us?"}), allow_repeat=True)
    # hanako, at TYO01: 10, 9 promoters; 7 passive; 3 detractor.
    for day, score in (("2026-06-11", 10), ("2026-06-12", 9), ("2026-06-13", 7), ("2026-06-14", 3)):
        say(s, hanako, score, day=day, store=tyo)
    # taro: 9, 9 promoters and 8 passive at OSA01; 0 detractor in the app (no store).
    for day, score in (("2026-06-15", 9), ("2026-06-16", 9), ("2026-06-17", 8)):
        say(s, taro, score, day=day, store=osa)
    say(s, taro, 0, day="2026-06-18")
    # jiro, no store: 10 promoter; 8 passive in the last minute of June.
    say(s, jiro, 10, day="2026-06-20")
    say(s, jiro, 8, day="2026-06-30", hour=23, minute=59)
    # Outside June (local time): the minute before and the first minute after.
    say(s, hanako, 0, day="2026-05-31", hour=23, minute=59)
    say(s, hanako, 0, day="2026-07-01", hour=0)
    return s


def test_nps_overall_and_by_every_segment(nps_answers):
    question = nps_answers.questions.get()
    # All: 5 promoters, 3 passives, 2 detractors of 10 -> 50% - 20% = 30.
    # hanako 2/1/1 -> 25; taro 2/1/1 -> 25; jiro 1/1/0 -> 50.
    # Answer store TYO01 (hanako's 4) -> 25; OSA01 (taro's 9, 9, 8) -> 2/3 - 0 = 66.6667;
    # none (taro's 0, jiro's 10 and 8) -> 1/3 - 1/3 = 0.
    assert segments("nps") == {
        "all": (D("30.0000"), 10),
        "segment:new": (D("25.0000"), 4),
        "segment:existing": (D("25.0000"), 4),
        "segment:dormant": (D("50.0000"), 2),
        "tier:gold": (D("25.0000"), 4),
        "tier:silver": (D("25.0000"), 4),
        "tier:unknown": (D("50.0000"), 2),
        "store:TYO01": (D("25.0000"), 4),
        "store:OSA01": (D("25.0000"), 4),
        "store:unknown": (D("50.0000"), 2),
        "cohort:2026-06": (D("25.0000"), 4),
        "cohort:2025-01": (D("25.0000"), 4),
        "cohort:2024-01": (D("50.0000"), 2),
        "age:30-39": (D("25.0000"), 4),
        "age:40-49": (D("25.0000"), 4),
        "age:unknown": (D("50.0000"), 2),
        "gender:female": (D("25.0000"), 4),
        "gender:male": (D("25.0000"), 4),
        "gender:unspecified": (D("50.0000"), 2),
        "answer_store:TYO01": (D("25.0000"), 4),
        "answer_store:OSA01": (D("66.6667"), 3),
        "answer_store:unknown": (D("0.0000"), 3),
        f"question:{question.pk}": (D("30.0000"), 10),
    }
    everything = values("nps", JUNE)
    assert everything["all"] == Value(
        segment="all",
        value=D("30.0000"),
        numerator=D(3),
        denominator=D(10),
        n=10,
        details={"promoters": 5, "passives": 3, "detractors": 2, "reliable": False},
    )
    assert everything[f"question:{question.pk}"].details == {
        "survey": "nps-s",
        "question": "Recommend us?",
        "promoters": 5,
        "passives": 3,
        "detractors": 2,
        "reliable": False,
    }


def test_nps_of_a_day_and_of_an_unfinished_month(nps_answers):
    # 2026-06-12: hanako's 9 only -> 100.
    assert segments("nps", window("day", "2026-06-12", "2026-06-13"))["all"] == (D("100.0000"), 1)
    # June measured up to (not including) 2026-06-13: hanako's 10 and 9 -> 100, n 2. On
    # 2026-06-12 hanako is new as she is on the 30th.
    partial = segments("nps", window("month", "2026-06-01", "2026-07-01", cutoff="2026-06-13"))
    assert (partial["all"], partial["segment:new"]) == ((D("100.0000"), 2), (D("100.0000"), 2))
    # The week of Monday 2026-06-29: jiro's 8 on the 30th (passive) and hanako's 0 on July 1st
    # (detractor) -> 0% - 50% = -50.
    week = window("week", "2026-06-29", "2026-07-06")
    assert segments("nps", week)["all"] == (D("-50.0000"), 2)


def test_every_survey_kpi_without_answers_is_none_with_n_0(people):
    survey_make("unanswered", ("nps",), ("nrs",), ("csat", {"scale": 5}), ("ces",), ("dwb",))
    expected_details = {
        "nps": {"promoters": 0, "passives": 0, "detractors": 0},
        "nrs": {"repeaters": 0, "neutral": 0, "at_risk": 0},
        "csat": {},
        "ces": {},
        "ces_net": {"no": 0, "yes": 0},
        "dwb": {"top_box": 0},
    }
    for code, details in expected_details.items():
        assert REGISTRY[code].compute(JUNE) == [
            Value("all", None, None, None, 0, {**details, "reliable": False})
        ], code


def test_csat_mean_per_question_and_segment(people):
    hanako, taro, jiro, tyo, _osa = people
    s = survey_make(
        "csat-s",
        ("csat", {"scale": 5, "required": False, "text": "Staff?"}),
        ("csat", {"scale": 10, "required": False, "text": "Store?"}),
        ("csat", {"scale": 100, "required": False, "text": "Overall?"}),
        allow_repeat=True,
    )
    q5, q10, q100 = s.questions.order_by("position")
    say(s, hanako, 5, 10, None, day="2026-06-12", store=tyo)  # 100, 100
    say(s, taro, 4, 1, None, day="2026-06-12")  # 75, 0
    say(s, jiro, 2, None, 73, day="2026-06-12")  # 25, 73
    # All: (100 + 100 + 75 + 0 + 25 + 73) / 6 = 373 / 6 = 62.1666... -> 62.1667.
    # Per question: 5-point (100 + 75 + 25) / 3 = 66.6667; 10-point (100 + 0) / 2 = 50; 73.
    # hanako (new) 100; taro (existing) 37.5; jiro (dormant) 49.
    result = values("csat", JUNE)
    assert {s: (v.value, v.n) for s, v in result.items()} == {
        "all": (D("62.1667"), 6),
        "segment:new": (D("100.0000"), 2),
        "segment:existing": (D("37.5000"), 2),
        "segment:dormant": (D("49.0000"), 2),
        "tier:gold": (D("100.0000"), 2),
        "tier:silver": (D("37.5000"), 2),
        "tier:unknown": (D("49.0000"), 2),
        "store:TYO01": (D("100.0000"), 2),
        "store:OSA01": (D("37.5000"), 2),
        "store:unknown": (D("49.0000"), 2),
        "cohort:2026-06": (D("100.0000"), 2),
        "cohort:2025-01": (D("37.5000"), 2),
        "cohort:2024-01": (D("49.0000"), 2),
        "age:30-39": (D("100.0000"), 2),
        "age:40-49": (D("37.5000"), 2),
        "age:unknown": (D("49.0000"), 2),
        "gender:female": (D("100.0000"), 2),
        "gender:male": (D("37.5000"), 2),
        "gender:unspecified": (D("49.0000"), 2),
        "answer_store:TYO01": (D("100.0000"), 2),
        "answer_store:unknown": (D("43.2500"), 4),  # (75 + 0 + 25 + 73) / 4
        f"question:{q5.pk}": (D("66.6667"), 3),
        f"question:{q10.pk}": (D("50.0000"), 2),
        f"question:{q100.pk}": (D("73.0000"), 1),
    }
    assert (result["all"].numerator, result["all"].denominator) == (D("373.00"), D(6))
    assert result[f"question:{q10.pk}"].details == {
        "survey": "csat-s",
        "question": "Store?",
        "scale": 10,
        "reliable": False,
    }


def test_csat_is_reliable_from_100_answers(people):
    hanako, *_rest = people
    s = survey_make("big", ("csat", {"scale": 100}), allow_repeat=True)
    question = s.questions.get()

    def add(count: int, first: int):
        responses = SurveyResponse.objects.bulk_create(
            SurveyResponse(
                survey=s,
                member=hanako,
                answered_at=at(d("2026-06-15")),
                repeat_key=f"k{first + i}",
            )
            for i in range(count)
        )
        Answer.objects.bulk_create(
            Answer(response=r, question=question, score=80, normalised=Decimal(80))
            for r in responses
        )

    add(99, 0)
    below = values("csat", JUNE)["all"]
    assert (below.value, below.n, below.details) == (D("80.0000"), 99, {"reliable": False})
    add(1, 99)
    enough = values("csat", JUNE)["all"]
    assert (enough.value, enough.n, enough.details) == (D("80.0000"), 100, {"reliable": True})


def test_ces_mean_and_net(people):
    hanako, taro, jiro, _tyo, _osa = people
    effort = survey_make("ces-s", ("ces",), allow_repeat=True)
    say(effort, hanako, 2, day="2026-06-12")
    say(effort, taro, 5, day="2026-06-12")
    say(effort, jiro, 9, day="2026-06-12")
    # (2 + 5 + 9) / 3 = 5.3333; lower is better.
    ces = values("ces", JUNE)
    assert (ces["all"].value, ces["all"].numerator, ces["all"].n) == (D("5.3333"), D(16), 3)
    assert (ces["tier:gold"].value, ces["segment:dormant"].value) == (D("2.0000"), D("9.0000"))

    yes_no = survey_make("ces-yn", ("ces_yes_no",), allow_repeat=True)
    say(yes_no, hanako, False, day="2026-06-12")
    say(yes_no, hanako, False, day="2026-06-13")
    say(yes_no, taro, False, day="2026-06-12")
    say(yes_no, jiro, True, day="2026-06-12")
    # 3 no, 1 yes: 75% - 25% = 50. jiro alone: 0% - 100% = -100.
    net = values("ces_net", JUNE)
    assert (net["all"].value, net["all"].n, net["all"].details) == (
        D("50.0000"),
        4,
        {"no": 3, "yes": 1, "reliable": False},
    )
    assert (net["segment:dormant"].value, net["segment:new"].value) == (
        D("-100.0000"),
        D("100.0000"),
    )


def test_dwb_top_box_and_nrs(people):
    hanako, taro, jiro, _tyo, _osa = people
    dwb = survey_make("dwb-s", ("dwb",), allow_repeat=True)
    for who, score in ((hanako, 1), (taro, 1), (taro, 3), (jiro, 5)):
        say(dwb, who, score, day="2026-06-12")
    # 2 of 4 answered 1 ("definitely would buy") -> 50%; gold 1/1, silver 1/2, jiro 0/1.
    assert {s: v for s, v in segments("dwb").items() if s.startswith(("all", "tier"))} == {
        "all": (D("50.0000"), 4),
        "tier:gold": (D("100.0000"), 1),
        "tier:silver": (D("50.0000"), 2),
        "tier:unknown": (D("0.0000"), 1),
    }

    nrs = survey_make("nrs-s", ("nrs",), allow_repeat=True)
    for who, score in ((hanako, 5), (hanako, 5), (taro, 5), (taro, 4), (jiro, 1)):
        say(nrs, who, score, day="2026-06-12")
    # 3 repeaters, 1 neutral, 1 at risk of 5: 60% - 20% = 40; jiro 0% - 100% = -100.
    result = values("nrs", JUNE)
    assert (result["all"].value, result["all"].details) == (
        D("40.0000"),
        {"repeaters": 3, "neutral": 1, "at_risk": 1, "reliable": False},
    )
    assert result["segment:dormant"].value == D("-100.0000")
    assert result["segment:existing"].value == D("50.0000")  # taro: 50% - 0%


def test_a_kpi_reads_only_its_own_kind(people):
    """An NPS-kind answer never counts towards NRS or CES and vice versa."""
    hanako, *_rest = people
    s = survey_make("mixed", ("nps",), ("nrs",), ("ces",), ("dwb",))
    say(s, hanako, 0, 5, 10, 5, day="2026-06-12")
    assert {code: segments(code)["all"] for code in ("nps", "nrs", "ces", "dwb", "csat")} == {
        "nps": (D("-100.0000"), 1),
        "nrs": (D("100.0000"), 1),
        "ces": (D("10.0000"), 1),
        "dwb": (D("0.0000"), 1),
        "csat": (None, 0),
    }


def test_every_survey_kpi_of_a_window_comes_from_one_statement_in_a_run_step(people):
    """In a run step (a sharing block) the answers are read once per window for all six
    KPIs; each still has only its own kind's segments (its own question, no other's)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from metrics.kpis.base import sharing

    hanako, taro, *_rest = people
    s = survey_make("mixed", ("nps",), ("nrs",), ("dwb",))
    say(s, hanako, 9, 5, 1, day="2026-06-12")
    say(s, taro, 3, 2, 4, day="2026-06-13")
    nps_q, nrs_q, dwb_q = (q.pk for q in s.questions.order_by("position"))
    codes = ("nps", "nrs", "csat", "ces", "ces_net", "dwb")
    with sharing(), CaptureQueriesContext(connection) as queries:
        computed = {code: registry()[code].compute(JUNE) for code in codes}
    assert len([q for q in queries if "metrics_answer" in q["sql"]]) == 1

    def question_segments(code):
        return {v.segment: v.n for v in computed[code] if v.segment.startswith("question:")}

    assert question_segments("nps") == {f"question:{nps_q}": 2}
    assert question_segments("nrs") == {f"question:{nrs_q}": 2}
    assert question_segments("dwb") == {f"question:{dwb_q}": 2}
    # NPS: hanako's 9 a promoter, taro's 3 a detractor: 0. NRS: hanako's 5 a repeater,
    # taro's 2 at risk: 0. CSAT: no answers of its kind in the statement's rows.
    assert [(v.value, v.n) for v in computed["nps"] if v.segment == "all"] == [(D("0.0000"), 2)]
    assert [(v.value, v.n) for v in computed["nrs"] if v.segment == "all"] == [(D("0.0000"), 2)]
    assert [v.segment for v in computed["csat"]] == ["all"]
    assert [(v.value, v.n) for v in computed["csat"]] == [(None, 0)]
