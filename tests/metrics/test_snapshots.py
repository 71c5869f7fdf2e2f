"""The snapshot runner (metrics/snapshots.py): windows, the upsert, resuming an interrupted
run, the nightly job's exact windows, the command and the Celery task."""

import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from metrics.kpis.base import REGISTRY, Kpi, Value, register
from metrics.member_state import member_state_differences
from metrics.models import KpiFillState, KpiSnapshot
from metrics.snapshots import (
    NIGHTLY,
    KpiRunError,
    kpi_snapshots_write,
    kpis_compute,
    kpis_nightly,
    kpis_recompute,
    registry,
    windows_overlapping,
)
from tests.members.factories import TierFactory

from .kpi_support import buy, d, member, window

pytestmark = pytest.mark.django_db
FIELDS = ("pk", "kpi", "segment", "period", "period_start", "value", "numerator", "denominator")


def snapshot_rows() -> list[tuple]:
    return list(
        KpiSnapshot.objects.order_by("kpi", "segment", "period", "period_start").values_list(
            *FIELDS, "n", "details"
        )
    )


@pytest.fixture
def shop():
    """Two members (one gold) with a few purchases in March 2026."""
    gold = TierFactory(code="gold")
    a, b = member("2025-01-10", tier=gold), member("2025-02-01")
    buy(a, "2025-12-01", 1000)
    buy(a, "2026-03-02", 3000)
    buy(b, "2026-03-03", 500, channel="online")
    return a, b


class Probe:
    """A registered KPI that records the windows it is asked for and can fail once."""

    def __init__(self):
        self.calls: list[tuple[str, dt.date]] = []
        self.fail_on: tuple[str, dt.date] | None = None

    def __call__(self, win) -> list[Value]:
        key = (win.period, win.start)
        if key == self.fail_on:
            self.fail_on = None
            raise RuntimeError("interrupted")
        self.calls.append(key)
        return [Value(segment="all", value=Decimal(win.start.day), n=1)]


@pytest.fixture
def probe():
    registry()
    calc = Probe()
    register(Kpi(code="test_probe", label="Probe", unit="count", compute=calc))
    yield calc
    REGISTRY.pop("test_probe")


def test_windows_overlapping_a_range():
    # 30 March - 2 April 2026 (Mon-Thu): 4 days, the week of 30 March, March and April,
    # Q1 and Q2.
    found = [(w.period, w.start) for w in windows_overlapping(d("2026-03-30"), d("2026-04-02"))]
    assert found == [
        ("day", d("2026-03-30")),
        ("day", d("2026-03-31")),
        ("day", d("2026-04-01")),
        ("day", d("2026-04-02")),
        ("week", d("2026-03-30")),
        ("month", d("2026-03-01")),
        ("month", d("2026-04-01")),
        ("quarter", d("2026-01-01")),
        ("quarter", d("2026-04-01")),
    ]
    sunday = windows_overlapping(d("2026-03-01"), d("2026-03-01"))  # a Sunday
    assert [(w.period, w.start, w.end) for w in sunday if w.period == "week"] == [
        ("week", d("2026-02-23"), d("2026-03-02"))
    ]


def test_recompute_is_an_idempotent_upsert(shop):
    # March 2026: 31 days, 6 weeks (23 Feb ... 30 March), 1 month, 1 quarter = 39 windows.
    codes = ["members", "active_members", "average_order_value"]
    first = kpis_recompute(
        start=d("2026-03-01"), end=d("2026-03-31"), kpis=codes, today=d("2026-11-01")
    )
    assert (first.windows, first.skipped, first.resumed_after) == (39, 0, None)
    rows = snapshot_rows()
    assert first.rows == len(rows)
    # Spot checks: March as a whole; the gold slice differs from "all".
    march = {
        (k, s): v
        for k, s, v in KpiSnapshot.objects.filter(period="month").values_list(
            "kpi", "segment", "value"
        )
    }
    assert march[("average_order_value", "all")] == Decimal("1750.0000")  # 3,500 / 2
    assert march[("average_order_value", "tier:gold")] == Decimal("3000.0000")
    assert march[("active_members", "all")] == 2
    # The same run again (a finished run starts over): identical rows, same ids, same count.
    again = kpis_recompute(
        start=d("2026-03-01"), end=d("2026-03-31"), kpis=codes, today=d("2026-11-01")
    )
    assert again.rows == first.rows
    assert snapshot_rows() == rows
    state = KpiFillState.objects.get()
    assert (state.range_start, state.range_end, state.done_through) == (
        d("2026-03-01"),
        d("2026-03-31"),
        d("2026-03-31"),
    )
    assert state.finished_at is not None


def test_a_segment_without_a_value_any_more_is_removed(shop):
    a, _b = shop
    day = window("day", "2026-03-02", "2026-03-03")
    kpi_snapshots_write(
        rows=kpis_compute(window=day, kpis=["members"]), computed=[("members", day)]
    )
    assert KpiSnapshot.objects.filter(kpi="members", segment="tier:gold").count() == 1
    a.tier = None
    a.save()
    kpi_snapshots_write(
        rows=kpis_compute(window=day, kpis=["members"]), computed=[("members", day)]
    )
    assert set(KpiSnapshot.objects.filter(kpi="members").values_list("segment", "value")) == {
        ("all", 2),
        ("tier:unknown", 2),
        ("segment:existing", 1),
        ("segment:dormant", 1),
        ("store:unknown", 2),
        ("cohort:2025-01", 1),
        ("cohort:2025-02", 1),
        ("age:unknown", 2),
        ("gender:unspecified", 2),
    }


def test_an_interrupted_run_resumes_where_it_stopped(shop, probe):
    # 1-3 March 2026. Steps by the windows' last day (clipped to the range end):
    #   1 Mar: day 1 Mar, week 23 Feb (ends Sunday 1 Mar)
    #   2 Mar: day 2 Mar
    #   3 Mar: day 3 Mar, week 2 Mar, March, Q1
    # The probe fails on day 2 March: step 1 stays written, step 2 is rolled back.
    codes = ["test_probe", "members"]
    probe.fail_on = ("day", d("2026-03-02"))
    kwargs = {"start": d("2026-03-01"), "end": d("2026-03-03"), "kpis": codes}
    with pytest.raises(RuntimeError, match="interrupted"):
        kpis_recompute(**kwargs, today=d("2026-11-01"))
    state = KpiFillState.objects.get()
    assert (state.done_through, state.finished_at) == (d("2026-03-01"), None)
    assert set(KpiSnapshot.objects.values_list("period", "period_start").distinct()) == {
        ("day", d("2026-03-01")),
        ("week", d("2026-02-23")),
    }
    assert probe.calls == [("day", d("2026-03-01")), ("week", d("2026-02-23"))]

    probe.calls.clear()
    resumed = kpis_recompute(**kwargs, today=d("2026-11-01"))
    # The resumed run skips the finished step and computes only the rest.
    assert probe.calls == [
        ("day", d("2026-03-02")),
        ("day", d("2026-03-03")),
        ("week", d("2026-03-02")),
        ("month", d("2026-03-01")),
        ("quarter", d("2026-01-01")),
    ]
    assert (resumed.windows, resumed.skipped, resumed.resumed_after) == (5, 2, d("2026-03-01"))
    rows = snapshot_rows()

    # A clean run of the same range from scratch gives exactly the same rows.
    probe.calls.clear()
    clean = kpis_recompute(**kwargs, name="clean", today=d("2026-11-01"))
    assert (clean.windows, clean.skipped) == (7, 0)
    assert len(probe.calls) == 7
    assert snapshot_rows() == rows


def test_recompute_takes_in_a_purchase_recorded_after_the_night(shop):
    a, b = shop
    buy(a, "2026-04-01", 1000)
    kpis_nightly(today=d("2026-04-02"))  # the member state moves to 2 April

    def aov(period: str, start: str) -> tuple:
        row = KpiSnapshot.objects.get(
            kpi="average_order_value", segment="all", period=period, period_start=d(start)
        )
        return row.value, row.numerator, row.denominator

    assert aov("day", "2026-04-01") == (Decimal("1000"), Decimal("1000"), Decimal("1"))
    # A till syncs a purchase of 1 April after the night: the docs' remedy is a recompute.
    buy(b, "2026-04-01", 3000)
    kpis_recompute(start=d("2026-04-01"), end=d("2026-04-01"), today=d("2026-04-02"))
    # (1,000 + 3,000) / 2 purchases = 2,000, on the day and in April alike.
    assert aov("day", "2026-04-01") == (Decimal("2000"), Decimal("4000"), Decimal("2"))
    assert aov("month", "2026-04-01") == (Decimal("2000"), Decimal("4000"), Decimal("2"))
    assert member_state_differences(d("2026-04-02")) == []


def test_nightly_recomputes_only_the_windows_containing_yesterday(shop):
    # Something older that the night must not touch.
    kpis_recompute(
        start=d("2026-03-02"), end=d("2026-03-02"), kpis=["members"], today=d("2026-11-01")
    )
    before = dict(KpiSnapshot.objects.values_list("pk", "computed_at"))
    assert set(KpiSnapshot.objects.values_list("kpi", "period", "period_start")) == {
        ("members", "day", d("2026-03-02")),
        ("members", "week", d("2026-03-02")),
        ("members", "month", d("2026-03-01")),
        ("members", "quarter", d("2026-01-01")),
    }
    # Today Thursday 2 April 2026: yesterday 1 April -> day 1 Apr, week 30 Mar, April, Q2.
    # The challenge repeat KPIs look 90 days past their window: theirs contain 1 January
    # (day 1 Jan, week 29 Dec 2025, January, Q1), the ones whose follow-up just ended.
    result = kpis_nightly(today=d("2026-04-02"))
    assert (result.start, result.end) == (d("2026-04-01"), d("2026-04-01"))
    written = {
        (kpi, period, start)
        for kpi, period, start in KpiSnapshot.objects.exclude(pk__in=before).values_list(
            "kpi", "period", "period_start"
        )
    }
    yesterday = {
        ("day", d("2026-04-01")),
        ("week", d("2026-03-30")),
        ("month", d("2026-04-01")),
        ("quarter", d("2026-04-01")),
    }
    follow_up = {
        ("day", d("2026-01-01")),
        ("week", d("2025-12-29")),
        ("month", d("2026-01-01")),
        ("quarter", d("2026-01-01")),
    }
    assert {(p, s) for _k, p, s in written} == yesterday | follow_up
    for code in ("members", "churn_rate", "points_outstanding", "challenge_joiners"):
        assert {(p, s) for k, p, s in written if k == code} == yesterday
    for code in ("challenge_repeat_completers", "challenge_repeat_others"):
        assert {(p, s) for k, p, s in written if k == code} == follow_up
    assert {k for k, _p, _s in written} >= {"members", "ltv", "repeat_rate", "points_expired"}
    assert result.windows == 8
    # The older rows were not touched.
    assert (
        dict(KpiSnapshot.objects.filter(pk__in=before).values_list("pk", "computed_at")) == before
    )
    # The month so far is measured at the cutoff: on 2 April, April's members are 2.
    april = KpiSnapshot.objects.get(
        kpi="members", segment="all", period="month", period_start=d("2026-04-01")
    )
    assert april.value == 2

    # The same night again does nothing; the next night after two missed ones catches up.
    rows = snapshot_rows()
    assert kpis_nightly(today=d("2026-04-02")).start is None
    assert snapshot_rows() == rows
    catch_up = kpis_nightly(today=d("2026-04-05"))
    assert (catch_up.start, catch_up.end) == (d("2026-04-02"), d("2026-04-04"))
    days = set(
        KpiSnapshot.objects.filter(kpi="members", period="day").values_list(
            "period_start", flat=True
        )
    )
    assert days == {
        d("2026-03-02"),
        d("2026-04-01"),
        d("2026-04-02"),
        d("2026-04-03"),
        d("2026-04-04"),
    }
    state = KpiFillState.objects.get(name=NIGHTLY)
    assert state.done_through == d("2026-04-04")


def test_nightly_resumes_an_interrupted_night(shop, probe):
    probe.fail_on = ("month", d("2026-04-01"))
    with pytest.raises(RuntimeError):
        kpis_nightly(today=d("2026-04-02"))
    # One step per day: nothing of the night was kept, and the marker did not move.
    assert KpiFillState.objects.get(name=NIGHTLY).done_through is None
    assert not KpiSnapshot.objects.filter(kpi="test_probe").exists()
    result = kpis_nightly(today=d("2026-04-02"))
    assert (result.start, result.end) == (d("2026-04-01"), d("2026-04-01"))
    assert set(
        KpiSnapshot.objects.filter(kpi="test_probe").values_list("period", "period_start")
    ) == {
        ("day", d("2026-04-01")),
        ("week", d("2026-03-30")),
        ("month", d("2026-04-01")),
        ("quarter", d("2026-04-01")),
    }


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"start": "2026-03-05", "end": "2026-03-04"}, "end", "must not be before the start"),
        ({"start": "1999-12-31"}, "start", "must not be before 2000-01-01"),
        ({"start": "2026-03-05", "end": "2026-11-01"}, "end", "must be before today (2026-11-01)"),
        ({"kpis": ["members", "nope"]}, "kpis", "unknown KPI 'nope'; known: "),
        ({"kpis": []}, "kpis", "name at least one KPI"),
    ],
)
def test_recompute_refuses_bad_input_and_writes_nothing(kwargs, field, message):
    args = {"start": "2026-03-01", "end": "2026-03-02", **kwargs}
    with pytest.raises(KpiRunError) as caught:
        kpis_recompute(
            start=d(args["start"]),
            end=d(args["end"]),
            kpis=args.get("kpis"),
            today=d("2026-11-01"),
        )
    assert caught.value.field == field
    assert message in caught.value.message
    assert not KpiSnapshot.objects.exists()
    assert not KpiFillState.objects.exists()


def test_command_recompute_prints_rows_and_time(shop):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "kpis",
        "recompute",
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-03",
        "--kpi",
        "members",
        "--kpi",
        "active_members",
        stdout=out,
        stderr=err,
    )
    written = KpiSnapshot.objects.count()
    # 3 days, 2 weeks, March, Q1 = 7 windows.
    assert re.fullmatch(
        rf"2026-03-01\.\.2026-03-03: 7 windows, {written} rows written in \d+\.\d s\.\n",
        out.getvalue(),
    )
    assert "7/7" in err.getvalue()  # the progress bar
    assert set(KpiSnapshot.objects.values_list("kpi", flat=True)) == {"members", "active_members"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-3-01x", "--to", "2026-03-02"], "--from: '2026-3-01x' is not a date"),
        (["--from", "2026-03-05", "--to", "2026-03-01"], "--to: must not be before the start"),
        (["--from", "2026-03-01", "--to", "2999-01-01"], "--to: must be before today"),
        (["--from", "2026-03-01", "--to", "2026-03-02", "--kpi", "nps_x"], "--kpi: unknown KPI"),
    ],
)
def test_command_errors_name_the_option(args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("kpis", "recompute", *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert not KpiSnapshot.objects.exists()


def test_command_nightly(shop):
    out = io.StringIO()
    call_command("kpis", "nightly", "--today", "2026-04-02", stdout=out, stderr=io.StringIO())
    assert out.getvalue().startswith("2026-04-01..2026-04-01: 8 windows, ")
    out, err = io.StringIO(), io.StringIO()
    call_command("kpis", "nightly", "--today", "2026-04-02", stdout=out, stderr=err)
    assert out.getvalue() == "Nothing to do: the last night is already done.\n"
    assert err.getvalue() == ""  # no progress bar of nothing
    with pytest.raises(CommandError, match="--today: must not be after today"):
        call_command("kpis", "nightly", "--today", "2999-01-01", stdout=io.StringIO())


def test_celery_task_and_beat_entry(shop):
    from loyalty.celery import app
    from metrics.tasks import kpis_nightly_task

    entry = app.conf.beat_schedule["kpis-nightly"]
    assert entry["task"] == "metrics.tasks.kpis_nightly_task"
    assert (entry["schedule"].hour, entry["schedule"].minute) == ({1}, {30})
    # Run here (apply), as a worker would: the real job for the real yesterday.
    rows = kpis_nightly_task.apply().get()
    assert rows == KpiSnapshot.objects.count() > 0
    assert kpis_nightly_task.apply().get() == 0
