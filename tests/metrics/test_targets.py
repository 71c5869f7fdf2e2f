"""KPI targets: the progress arithmetic, what makes a target valid (errors naming the field),
and setting them in the admin (marketers may, store managers only read)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from metrics.models import KpiTarget
from metrics.periods import (
    period_count,
    period_floor,
    period_is_start,
    period_label,
    period_shift,
    period_starts,
)
from metrics.selectors import kpi_headlines, target_progress
from metrics.targets import kpi_target_errors, kpi_target_save
from tests.metrics.dashboard_support import (
    STORE_MANAGERS,
    KpiTargetFactory,
    client_for,
    pinned_registry,
    snap,
    user_in,
)

ADD = "/admin/metrics/kpitarget/add/"


@pytest.fixture(autouse=True)
def _kpis():
    with pinned_registry():
        yield


# --- Progress ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "target", "current", "previous", "higher", "goal", "met", "progress"),
    [
        # "NPS +5 this quarter" from 30: the goal is 35.
        ("change", "5", "33", "30", True, "35", False, "60.0"),
        ("change", "5", "35", "30", True, "35", True, "100.0"),
        ("change", "5", "38", "30", True, "35", True, "160.0"),
        ("change", "5", "28", "30", True, "35", False, "-40.0"),
        # No previous value: a change target has no goal yet.
        ("change", "5", "33", None, True, None, None, None),
        # Repeat rate 40% from 30%: halfway at 35%.
        ("absolute", "40", "35", "30", True, "40", False, "50.0"),
        # Churn down to 4% from 5% (lower is better): 4.5% is halfway; 3.9% is met.
        ("absolute", "4", "4.5", "5", False, "4", False, "50.0"),
        ("absolute", "4", "3.9", "5", False, "4", True, "110.0"),
        ("change", "-1", "4.5", "5", False, "4", False, "50.0"),
        # An absolute target without a previous value: met or not, no progress.
        ("absolute", "40", "41", None, True, "40", True, None),
        # The goal is where the KPI already was: 100% when met, else 0%.
        ("absolute", "30", "30", "30", True, "30", True, "100"),
        ("absolute", "30", "29", "30", True, "30", False, "0"),
        # Lower is better: churn to 2.0% from 3.0% is a way of 1.0 point down.
        ("absolute", "2.0", "2.5", "3.0", False, "2.0", False, "50.0"),
        ("absolute", "2.0", "3.0", "3.0", False, "2.0", False, "0.0"),
        ("absolute", "2.0", "2.0", "3.0", False, "2.0", True, "100.0"),
        ("absolute", "2.0", "1.8", "3.0", False, "2.0", True, "120.0"),
        ("absolute", "2.7", "2.9", "3.0", False, "2.7", False, "33.3"),
        # ... moving away (up) is negative, by the same yardstick.
        ("absolute", "2.0", "3.5", "3.0", False, "2.0", False, "-50.0"),
        ("absolute", "2.0", "4.0", "3.0", False, "2.0", False, "-100.0"),
        ("change", "-1.0", "2.5", "3.0", False, "2.0", False, "50.0"),
        ("change", "-1.0", "3.25", "3.0", False, "2.0", False, "-25.0"),
        # Baseline already beyond the goal (churn 4.8% against a 5.0% ceiling): met while at or
        # below it, 100% (not -100% for falling further), else 0%; the same when higher is
        # better (NPS 35 against 30), and for a change target allowing a rise (+0.5 pt).
        ("absolute", "5.0", "4.6", "4.8", False, "5.0", True, "100"),
        ("absolute", "5.0", "5.0", "4.8", False, "5.0", True, "100"),
        ("absolute", "5.0", "5.2", "4.8", False, "5.0", False, "0"),
        ("absolute", "30", "40", "35", True, "30", True, "100"),
        ("absolute", "30", "28", "35", True, "30", False, "0"),
        ("change", "0.5", "3.2", "3.0", False, "3.5", True, "100"),
        ("change", "0.5", "3.8", "3.0", False, "3.5", False, "0"),
        ("change", "-2", "29", "30", True, "28", True, "100"),
        # Baseline equal to the goal, lower is better: no division by zero.
        ("absolute", "2.0", "1.9", "2.0", False, "2.0", True, "100"),
        ("absolute", "2.0", "2.1", "2.0", False, "2.0", False, "0"),
        ("change", "0", "2.0", "2.0", False, "2.0", True, "100"),
        # No previous value: an absolute churn target is met or not, without progress.
        ("absolute", "2.0", "1.5", None, False, "2.0", True, None),
        ("absolute", "2.0", "2.5", None, False, "2.0", False, None),
        # Nothing computed yet this period.
        ("absolute", "40", None, "30", True, "40", None, None),
        # One third of the way, rounded half up to one decimal.
        ("absolute", "33", "31", "30", True, "33", False, "33.3"),
    ],
)
def test_target_progress(kind, target, current, previous, higher, goal, met, progress):
    def dec(value):
        return None if value is None else Decimal(value)

    result = target_progress(
        kind=kind,
        target=Decimal(target),
        current=dec(current),
        previous=dec(previous),
        higher_is_better=higher,
    )
    assert (result.goal, result.met, result.progress) == (dec(goal), met, dec(progress))


@pytest.mark.django_db
def test_headlines_carry_the_target_of_their_segment_and_period():
    may, apr = dt.date(2026, 5, 1), dt.date(2026, 4, 1)
    snap("repeat_rate", apr, 30)
    snap("repeat_rate", may, 35)
    snap("repeat_rate", may, 20, segment="store:TYO01")
    KpiTargetFactory(kpi="repeat_rate", period_start=may, value=40, note="spring push")
    KpiTargetFactory(kpi="repeat_rate", period_start=apr, value=99)  # another period
    KpiTargetFactory(kpi="repeat_rate", period_start=may, segment="store:OSA01", value=99)
    [headline] = kpi_headlines(
        kpis=["repeat_rate"], segment="all", period="month", period_start=may
    )
    assert (headline.value, headline.previous, headline.change) == (35, 30, 5)
    assert (headline.target.goal, headline.target.progress, headline.target.note) == (
        Decimal(40),
        Decimal("50.0"),
        "spring push",
    )
    [store] = kpi_headlines(
        kpis=["repeat_rate"], segment="store:TYO01", period="month", period_start=may
    )
    assert (store.value, store.previous, store.target) == (20, None, None)


# --- Periods -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "day", "start", "label", "next_start"),
    [
        ("day", "2026-05-14", "2026-05-14", "2026-05-14", "2026-05-15"),
        ("week", "2026-05-14", "2026-05-11", "2026-W20", "2026-05-18"),
        ("week", "2027-01-01", "2026-12-28", "2026-W53", "2027-01-04"),
        ("month", "2026-05-14", "2026-05-01", "2026-05", "2026-06-01"),
        ("quarter", "2026-05-14", "2026-04-01", "2026-Q2", "2026-07-01"),
        ("quarter", "2026-12-31", "2026-10-01", "2026-Q4", "2027-01-01"),
    ],
)
def test_periods(period, day, start, label, next_start):
    day, start = dt.date.fromisoformat(day), dt.date.fromisoformat(start)
    assert period_floor(period, day) == start
    assert period_is_start(period, start) and (day == start or not period_is_start(period, day))
    assert period_label(period, start) == label
    assert period_shift(period, start, 1) == dt.date.fromisoformat(next_start)
    assert period_shift(period, dt.date.fromisoformat(next_start), -1) == start


def test_period_starts_and_count_agree():
    first, last = dt.date(2025, 11, 20), dt.date(2026, 5, 3)
    for period, expected in (("day", 165), ("week", 24), ("month", 7), ("quarter", 3)):
        starts = period_starts(period, first, last)
        assert (len(starts), period_count(period, first, last)) == (expected, expected)
        assert starts[0] == period_floor(period, first) and starts[-1] == period_floor(period, last)
    assert period_count("month", last, first) == 0


# --- Validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({}, {}),
        ({"period": "quarter", "period_start": "2026-04-01"}, {}),
        ({"segment": "store:TYO01"}, {}),
        ({"segment": "cohort:2026-01"}, {}),
        ({"kpi": "happiness"}, {"kpi": "Unknown KPI happiness: choose a registered KPI."}),
        (
            {"period_start": "2026-05-15"},
            {
                "period_start": "A month starts on the 1st of a month: use 2026-05-01 for the "
                "month containing 2026-05-15."
            },
        ),
        (
            {"period": "week", "period_start": "2026-05-13"},
            {
                "period_start": "A week starts on a Monday: use 2026-05-11 for the week "
                "containing 2026-05-13."
            },
        ),
        (
            {"period": "quarter", "period_start": "2026-05-01"},
            {
                "period_start": "A quarter starts on 1 January, 1 April, 1 July or 1 October: "
                "use 2026-04-01 for the quarter containing 2026-05-01."
            },
        ),
        ({"period": "year"}, {"period": "Choose day, week, month or quarter."}),
        (
            {"segment": "gold"},
            {
                "segment": 'Use "all" or "<dimension>:<value>", e.g. "tier:gold" (at most 80 '
                "characters)."
            },
        ),
        (
            {"segment": "planet:mars"},
            {
                "segment": "Unknown dimension planet: use one of segment, tier, store, cohort, "
                "age, gender, channel, challenge, answer_store, question."
            },
        ),
    ],
)
def test_kpi_target_errors_name_the_field(fields, errors):
    values = {"kpi": "nps", "segment": "all", "period": "month", "period_start": "2026-05-01"}
    values.update(fields)
    values["period_start"] = dt.date.fromisoformat(values["period_start"])
    assert kpi_target_errors(**values) == errors


@pytest.mark.django_db
def test_kpi_target_save_refuses_a_bad_target_and_saves_nothing():
    target = KpiTarget(
        kpi="nps", period="month", period_start=dt.date(2026, 5, 2), value=Decimal(5)
    )
    with pytest.raises(ValidationError) as refused:
        kpi_target_save(target=target)
    assert list(refused.value.message_dict) == ["period_start"]
    assert KpiTarget.objects.count() == 0
    target.period_start = dt.date(2026, 5, 1)
    kpi_target_save(target=target)
    assert KpiTarget.objects.get().period_start == dt.date(2026, 5, 1)


# --- Admin -------------------------------------------------------------------------------------


def form_errors(response) -> dict[str, list[str]]:
    form = response.context["adminform"].form
    return {name: list(errors) for name, errors in form.errors.items()}


def target_form(**over) -> dict:
    return {
        "kpi": "nps",
        "segment": "all",
        "period": "quarter",
        "period_start": "2026-04-01",
        "kind": "change",
        "value": "5",
        "note": "NPS +5 this quarter",
        **over,
    }


@pytest.mark.django_db
def test_a_marketer_sets_a_target_in_the_admin(marketer):
    client, _user = marketer
    form = client.get(ADD)
    assert form.status_code == 200
    choices = dict(form.context["adminform"].form.fields["kpi"].choices)
    assert choices["nps"] == "NPS (nps)"
    assert choices["churn_rate"] == "Churn rate (churn_rate)"
    response = client.post(ADD, target_form())
    assert response.status_code == 302
    target = KpiTarget.objects.get()
    assert (target.kpi, target.period, target.period_start, target.kind, target.value) == (
        "nps",
        "quarter",
        dt.date(2026, 4, 1),
        "change",
        Decimal(5),
    )
    listing = client.get("/admin/metrics/kpitarget/").content.decode()
    assert "NPS (nps)" in listing


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("over", "errors"),
    [
        (
            {"kpi": "happiness"},
            {"kpi": ["Select a valid choice. happiness is not one of the available choices."]},
        ),
        (
            {"period_start": "2026-05-01"},
            {
                "period_start": [
                    "A quarter starts on 1 January, 1 April, 1 July or 1 October: use "
                    "2026-04-01 for the quarter containing 2026-05-01."
                ]
            },
        ),
        (
            {"segment": "store TYO01"},
            {
                "segment": [
                    'Use "all" or "<dimension>:<value>", e.g. "tier:gold" (at most 80 characters).'
                ]
            },
        ),
        ({"value": "five"}, {"value": ["Enter a number."]}),
    ],
)
def test_a_bad_target_is_refused_naming_the_field(marketer, over, errors):
    response = marketer[0].post(ADD, target_form(**over))
    assert response.status_code == 200
    assert form_errors(response) == errors
    assert KpiTarget.objects.count() == 0


@pytest.mark.django_db
def test_one_target_per_kpi_segment_and_period(marketer):
    KpiTargetFactory(kpi="nps", period="quarter", period_start=dt.date(2026, 4, 1), value=3)
    response = marketer[0].post(ADD, target_form())
    assert response.status_code == 200
    assert form_errors(response) == {
        "__all__": ["KPI target with this KPI, Segment, Period and Period start already exists."]
    }
    assert KpiTarget.objects.get().value == 3


@pytest.mark.django_db
def test_store_managers_read_targets_but_do_not_set_them():
    KpiTargetFactory(kpi="nps", period_start=dt.date(2026, 5, 1), value=3)
    client = client_for(user_in(STORE_MANAGERS, username="manager"))
    assert client.get("/admin/metrics/kpitarget/").status_code == 200
    assert client.get(ADD).status_code == 403
    assert client.post(ADD, target_form()).status_code == 403
    assert KpiTarget.objects.count() == 1
