"""metrics.second_connection, and the member state rebuild that computes the active spans on
a second connection while the rows are computed (PostgreSQL, data committed: the second
connection sees only what is)."""

import datetime as dt
import threading
import time
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import DEFAULT_DB_ALIAS, OperationalError, connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from challenges.builtin_types import event_types_ensure_builtin
from metrics import snapshots
from metrics.member_state import (
    BASES_STAGED,
    CHANNEL_ROWS_STAGED,
    CHANNELS_STAGED,
    EXPIRY,
    POINTS,
    ROWS_STAGED,
    SPANS_STAGED,
    member_state_differences,
    member_state_update,
)
from metrics.member_state_totals import totals_differences
from metrics.models import (
    KpiSnapshot,
    MemberActiveSpan,
    MemberPeriodBase,
    MemberState,
    MemberStateMark,
)
from metrics.second_connection import (
    alongside,
    alongside_steps,
    can_run_alongside,
)
from metrics.snapshots import kpis_nightly

from .kpi_support import at, buy, d, give_back, member, withdraw
from .survey_support import answer, survey_make

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
POINTS_STAGED, EXPIRY_STAGED = f"{POINTS}_staged", f"{EXPIRY}_staged"


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _spans() -> list[tuple[int, str, str]]:
    """The kept active spans as (member, first day, last day)."""
    rows = MemberActiveSpan.objects.values_list("member_id", "starts_at__date", "ends_at__date")
    return sorted((m, str(s), str(e)) for m, s, e in rows)


def test_work_alongside_runs_on_another_connection_and_its_statements_are_seen():
    seen = []

    def recorder(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    assert can_run_alongside()  # no transaction open here
    with connection.execute_wrapper(recorder):
        with alongside(_backend_pid, concurrent=True) as result:
            mine = _backend_pid()
        theirs = result()
    assert theirs != mine
    # The caller's wrappers wrapped the second connection's statements too.
    assert seen == ["SELECT pg_backend_pid()", "SELECT pg_backend_pid()"]


def test_what_the_work_raised_is_raised_by_its_result():
    def failing():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 / 0")

    with alongside(failing, concurrent=True) as result:
        pass
    with pytest.raises(Exception, match="division by zero"):
        result()


def test_work_not_alongside_runs_once_on_this_connection_when_asked():
    calls = []

    def work():
        calls.append(_backend_pid())
        return len(calls)

    with alongside(work, concurrent=False) as result:
        assert calls == []
        assert result() == 1
        assert result() == 1
    assert calls == [_backend_pid()]


def test_the_first_result_is_handed_over_while_the_second_piece_of_work_runs_on():
    read_first = threading.Event()

    def then(first_pid: int) -> tuple[int, int, bool]:
        # Waits (at most 10 s) for the block to have read the first result: handed over at
        # the end instead, the block would still be waiting, and this would return False.
        return first_pid, _backend_pid(), read_first.wait(timeout=10)

    with alongside_steps(_backend_pid, then, concurrent=True) as (first, second):
        theirs = first()
        read_first.set()
        mine = _backend_pid()
    assert second() == (theirs, theirs, True)  # the same other connection, told in time
    assert theirs != mine


def test_when_the_first_piece_fails_both_results_raise_it_and_the_second_never_runs():
    ran = []

    def failing():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 / 0")

    with alongside_steps(failing, ran.append, concurrent=True) as (first, second):
        pass
    for result in (first, second):
        with pytest.raises(Exception, match="division by zero"):
            result()
    assert ran == []


def test_steps_alongside_are_handed_over_one_by_one_and_a_failure_raises_from_its_step_on():
    read = [threading.Event(), threading.Event()]

    def second(first_pid: int) -> tuple[int, bool]:
        # Waits (at most 10 s) for the block to have read the first result.
        return first_pid, read[0].wait(timeout=10)

    def third(_second) -> None:
        read[1].wait(timeout=10)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 / 0")

    with alongside_steps(_backend_pid, second, third, concurrent=True) as (a, b, c):
        theirs = a()
        read[0].set()
        assert b() == (theirs, True)  # told in time: handed over before the third ran
        read[1].set()
    assert theirs != _backend_pid()
    with pytest.raises(Exception, match="division by zero"):
        c()
    assert a() == theirs  # the earlier results stay


def test_two_pieces_not_alongside_run_once_each_on_this_connection_when_asked():
    calls = []

    def work():
        calls.append(("work", _backend_pid()))
        return 2

    def then(value):
        calls.append(("then", _backend_pid()))
        return value * 10

    with alongside_steps(work, then, concurrent=False) as (first, second):
        assert calls == []
        assert second() == 20  # runs the first piece, then the second
        assert first() == 2
    assert calls == [("work", _backend_pid()), ("then", _backend_pid())]


def test_a_rebuild_outside_a_transaction_computes_the_spans_alongside_and_equals_the_books():
    ann, bob, cy = member("2025-01-10"), member("2025-03-01"), member("2026-02-01")
    buy(ann, "2026-03-02", 4000)
    buy(ann, "2026-05-20", 1500)  # within 180 days of the first: one span
    buy(ann, "2026-11-20", 800)  # after that span ended: a second one
    p = buy(bob, "2026-06-15", 3000)
    give_back(p, "2026-06-20", 3000)  # a full return ends bob's span then
    buy(cy, "2026-10-01", 900)
    withdraw(cy, "2026-10-20")  # withdrawing ends cy's
    today = dt.date(2026, 11, 22)
    assert can_run_alongside()
    with CaptureQueriesContext(connection) as main:
        update = member_state_update(today=today, rebuild=True)
    assert (update.rebuilt, update.members) == (True, 3)
    statements = [q["sql"] for q in main.captured_queries]
    # This connection read the staged spans and churn bases; it computed neither itself.
    assert any(f"FROM {SPANS_STAGED}" in sql for sql in statements)
    assert any(f"FROM {BASES_STAGED}" in sql for sql in statements)
    assert not any("PARTITION BY member_id" in sql for sql in statements)
    assert not any("SELECT DISTINCT member_id FROM" in sql for sql in statements)
    # Nor the points outstanding and expiry facts: its rows read them staged too.
    assert any(f"FROM {POINTS_STAGED}" in sql for sql in statements)
    assert any(f"FROM {EXPIRY_STAGED}" in sql for sql in statements)
    assert not any("points_available" in sql for sql in statements)
    assert _spans() == [
        (ann.pk, "2026-03-02", "2026-11-16"),  # 20 May + 180 days
        (ann.pk, "2026-11-20", "2027-05-19"),
        (bob.pk, "2026-06-15", "2026-06-20"),
        (cy.pk, "2026-10-01", "2026-10-20"),
    ]
    assert MemberState.objects.count() == 3
    # Active at the starts of the current periods (day 21 Nov, week 16 Nov, month 1 Nov,
    # quarter 1 Oct): ann alone (bob's span ended in June; cy's began at noon on 1 Oct).
    assert sorted(MemberPeriodBase.objects.values_list("member_id", "period", "start")) == [
        (ann.pk, "day", dt.date(2026, 11, 21)),
        (ann.pk, "month", dt.date(2026, 11, 1)),
        (ann.pk, "quarter", dt.date(2026, 10, 1)),
        (ann.pk, "week", dt.date(2026, 11, 16)),
    ]
    assert member_state_differences(today) == []
    assert totals_differences(as_of=today) == []
    # The staged tables went with the rebuild's transaction.
    with connection.cursor() as cursor:
        staged = [SPANS_STAGED, BASES_STAGED, POINTS_STAGED, EXPIRY_STAGED]
        cursor.execute(
            "SELECT to_regclass(%s), to_regclass(%s), to_regclass(%s), to_regclass(%s)", staged
        )
        assert cursor.fetchone() == (None, None, None, None)


def test_a_night_outside_a_transaction_computes_the_touched_members_spans_alongside():
    ann, bob = member("2025-01-10"), member("2025-03-01")
    buy(ann, "2026-06-02", 4000)
    buy(bob, "2026-10-01", 900)
    today = dt.date(2026, 11, 22)
    member_state_update(today=today, rebuild=True)
    buy(bob, "2026-11-22", 1200)  # the night's day
    with CaptureQueriesContext(connection) as main:
        update = member_state_update(today=today + dt.timedelta(days=1))
    # Both touched: their rows were recorded within the hour's margin before the rebuild.
    assert (update.rebuilt, update.members) == (False, 2)
    statements = [q["sql"] for q in main.captured_queries]
    # The touched members' spans, rows and channel rows came from the other connections.
    assert any(f"FROM {SPANS_STAGED}" in sql for sql in statements)
    assert any(f"FROM {ROWS_STAGED}" in sql for sql in statements)
    assert any(f"FROM {CHANNEL_ROWS_STAGED}" in sql for sql in statements)
    assert not any("PARTITION BY member_id" in sql for sql in statements)
    assert not any("TABLE kpi_state_channels AS" in sql for sql in statements)
    assert not any("TABLE kpi_state_rows AS" in sql for sql in statements)
    assert not any("TABLE kpi_state_channel_rows AS" in sql for sql in statements)
    # So did the totals' sums of their rows, old and new: this one summed their churn
    # bases alone (it keeps them).
    assert not any("SUM(joined)" in sql for sql in statements)
    assert not any("SUM(y_purchases)" in sql for sql in statements)
    assert any("SUM(lost)" in sql for sql in statements)
    assert _spans() == [
        (ann.pk, "2026-06-02", "2026-11-29"),
        (bob.pk, "2026-10-01", "2027-05-21"),  # 22 Nov + 180 days
    ]
    assert member_state_differences(today + dt.timedelta(days=1)) == []
    assert totals_differences(as_of=today + dt.timedelta(days=1)) == []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT to_regclass(%s), to_regclass(%s), to_regclass(%s), to_regclass(%s)",
            [SPANS_STAGED, CHANNELS_STAGED, ROWS_STAGED, CHANNEL_ROWS_STAGED],
        )
        assert cursor.fetchone() == (None, None, None, None)


def test_a_run_step_shares_its_kpis_out_between_two_connections_as_each_comes_free(
    monkeypatch,
):
    event_types_ensure_builtin()  # an earlier transactional test's flush removed them
    ann, bob, cy = member("2026-01-05"), member("2026-02-01"), member("2026-03-01")
    survey = survey_make("nps-s", ("nps",), allow_repeat=True)
    # 10 and 9 are promoters, 3 a detractor: NPS = 2/3 - 1/3 of 100 = 33.3333.
    for who, score in ((ann, 10), (bob, 9), (cy, 3)):
        answer(who, survey, score, answered_at=at(d("2026-06-10"), 15))
    # One purchase of 1,000 yen by ann, none by the others: average order value 1,000.
    buy(ann, "2026-06-10", 1000)
    computed: list[tuple[int, str, str, dt.date]] = []  # (thread, kpi, period, start)
    plain = snapshots.kpis_compute

    def recording(*, window, kpis, cache):
        thread = threading.get_ident()
        computed.extend((thread, code, window.period, window.start) for code in kpis)
        return plain(window=window, kpis=kpis, cache=cache)

    monkeypatch.setattr(snapshots, "kpis_compute", recording)
    kpis_nightly(today=d("2026-06-11"))

    by_kpi: dict[str, set[int]] = {}
    for thread, code, _period, _start in computed:
        by_kpi.setdefault(code, set()).add(thread)
    # Every KPI for the day, week, month and quarter of 10 June, once each, but the repeat
    # comparison's two: for those of the day 90 days before (12 March), whose follow-up ends
    # with this night.
    assert set(by_kpi) == set(snapshots.registry())
    pairs = [(code, period, start) for _thread, code, period, start in computed]
    assert len(pairs) == len(set(pairs)) == 4 * len(by_kpi)
    assert {start for _t, code, _p, start in computed if code == "challenge_repeat_others"} == {
        d("2026-03-12"),
        d("2026-03-09"),
        d("2026-03-01"),
        d("2026-01-01"),
    }
    # The award KPIs were computed before, on a connection of their own, while the state
    # moved. The step shared the rest out between this connection and another: each KPI on
    # one for all its windows, the repeat comparison's two on the same one (they share the
    # comparison), and both took some.
    early = {code for code, kpi in snapshots.registry().items() if snapshots._early(kpi)}
    assert early == {
        "challenge_joiners",
        "challenge_completions",
        "challenge_points",
        "challenge_coupons",
        "challenge_budget_used",
    }
    assert all(len(threads) == 1 for threads in by_kpi.values())
    (early_thread,) = set().union(*(by_kpi[code] for code in early))
    step_threads = set().union(*(by_kpi[code] for code in set(by_kpi) - early))
    assert len(step_threads) == 2 and threading.main_thread().ident in step_threads
    assert early_thread not in step_threads
    assert by_kpi["challenge_repeat_completers"] == by_kpi["challenge_repeat_others"]

    def day_value(code: str) -> Decimal:
        return KpiSnapshot.objects.get(
            kpi=code, segment="all", period="day", period_start=d("2026-06-10")
        ).value

    assert day_value("nps") == Decimal("33.3333")
    assert day_value("average_order_value") == Decimal("1000")
    assert day_value("challenge_joiners") == Decimal("0")


def test_a_steps_pieces_keep_kpis_that_share_results_together_the_longest_first():
    windows = [
        snapshots.window_containing(period, d("2026-06-10"), cutoff=d("2026-06-11"))
        for period in ("day", "week")
    ]
    codes = (
        "ltv",
        "nps",
        "dwb",
        "challenge_joiners",
        "challenge_points",
        "challenge_repeat_others",
    )
    codes_later = (*codes, "challenge_repeat_completers")
    items = [(windows[0], codes), (windows[1], codes_later)]
    pieces = [[(w.period, tuple(c)) for w, c in piece] for piece in snapshots._units(items)]
    assert pieces == [
        # The repeat comparison first, its two KPIs together (registry order).
        [
            ("week", ("challenge_repeat_completers",)),
            ("day", ("challenge_repeat_others",)),
            ("week", ("challenge_repeat_others",)),
        ],
        # The award KPIs together; then each other KPI over its windows, in registry order.
        [
            ("day", ("challenge_joiners",)),
            ("week", ("challenge_joiners",)),
            ("day", ("challenge_points",)),
            ("week", ("challenge_points",)),
        ],
        [("day", ("ltv",)), ("week", ("ltv",))],
        # The survey KPIs together: one statement per window gives them all.
        [("day", ("nps",)), ("week", ("nps",)), ("day", ("dwb",)), ("week", ("dwb",))],
    ]


def test_the_second_connection_gives_up_waiting_on_a_lock_and_the_update_changes_nothing(
    settings,
):
    # A rebuild that failed left its staged spans behind, and a stuck session holds a lock
    # on them: the next rebuild's second connection must drop them first. It waits
    # LOYALTY_KPI_LOCK_TIMEOUT_S seconds, then the rebuild fails and writes nothing.
    settings.LOYALTY_KPI_LOCK_TIMEOUT_S = 1
    ann = member("2026-01-05")
    buy(ann, "2026-06-10", 1000)
    member_state_update(today=d("2026-06-10"), rebuild=True)
    mark = MemberStateMark.objects.get()
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE UNLOGGED TABLE {SPANS_STAGED} (member_id bigint)")
    stuck = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        stuck.set_autocommit(False)
        with stuck.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {SPANS_STAGED} IN ACCESS SHARE MODE")
        started = time.monotonic()
        with pytest.raises(OperationalError, match="lock timeout"):
            member_state_update(today=d("2026-06-11"), rebuild=True)
        assert time.monotonic() - started < 30
    finally:
        stuck.rollback()
        stuck.close()
    assert MemberStateMark.objects.get().as_of == mark.as_of == d("2026-06-10")
    assert MemberState.objects.get(member=ann).version == d("2026-06-10")
    # Once the lock is gone, the next rebuild drops the table and goes through.
    assert member_state_update(today=d("2026-06-11"), rebuild=True).rebuilt
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [SPANS_STAGED])
        assert cursor.fetchone() == (None,)


def timed_statements() -> tuple[list[tuple[str, float, float, str]], Callable]:
    """A list of (thread, started, ended, sql), and an execute wrapper filling it."""
    events: list[tuple[str, float, float, str]] = []

    def recorder(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            events.append((threading.current_thread().name, started, time.perf_counter(), sql))

    return events, recorder


def test_a_night_computes_the_award_kpis_alongside_once_the_state_needs_no_other_connection():
    event_types_ensure_builtin()  # an earlier transactional test's flush removed them
    ann = member("2026-01-05")
    buy(ann, "2026-06-10", 1000)
    member_state_update(today=d("2026-06-10"), rebuild=True)
    events, recorder = timed_statements()

    with connection.execute_wrapper(recorder):
        kpis_nightly(today=d("2026-06-11"))
    completions = 'COUNT(DISTINCT "challenges_award"."event_id")'
    award_kpis = [e for e in events if completions in e[3]]
    rows = [e for e in events if e[3].startswith(f"CREATE UNLOGGED TABLE {ROWS_STAGED}")]
    assert award_kpis and len(rows) == 1
    # On another connection, and only once the night's rows were computed (the last of its
    # work on other connections): sharing two cores with that work slowed the night.
    assert all(e[0] != threading.main_thread().name for e in award_kpis)
    assert min(e[1] for e in award_kpis) >= rows[0][2]
    assert KpiSnapshot.objects.get(
        kpi="challenge_completions", segment="all", period="day", period_start=d("2026-06-10")
    ).value == Decimal("0")


def test_a_rebuild_says_it_is_alone_once_its_second_connection_is_done():
    # A rebuild's second connection's last work is the churn bases' sums. `alone` (the
    # nightly run then starts the award KPIs on that core) is called right after them, while
    # this connection still has the state's totals to write, not once the update is over.
    ann = member("2026-01-05")
    buy(ann, "2026-06-10", 1000)
    events, recorder = timed_statements()
    called: list[tuple[str, float]] = []

    def alone():
        called.append((threading.current_thread().name, time.perf_counter()))

    with connection.execute_wrapper(recorder):
        update = member_state_update(today=d("2026-06-11"), alone=alone)
    assert update.rebuilt
    main = threading.main_thread().name
    base_sums = [e for e in events if e[0] != main and "SUM(base)" in e[3]]
    totals = [e for e in events if e[0] == main and "metrics_memberstatetotals" in e[3]]
    assert base_sums and totals and len(called) == 1
    assert called[0][0] != main
    assert max(e[2] for e in base_sums) <= called[0][1] < min(e[1] for e in totals)
    assert totals_differences(as_of=d("2026-06-11")) == []


def test_a_night_rewrites_only_the_spans_that_may_differ_and_moves_the_totals_alongside():
    carl, dora = member("2025-01-10"), member("2025-03-01")
    # carl's one purchase leaves the trailing year on the night (22 Nov 2025, a year before
    # the night's day): touched by that edge alone. dora buys on the night's day.
    buy(carl, "2025-11-22", 3000)
    buy(dora, "2026-10-01", 900)
    today = dt.date(2026, 11, 22)
    member_state_update(today=today, rebuild=True)
    # As if the rebuild had begun hours after all this was recorded (the ledger is
    # append-only): nothing counts as recorded late.
    MemberStateMark.objects.update(read_at=timezone.now() + dt.timedelta(hours=2))
    carl_span = MemberActiveSpan.objects.get(member=carl)
    assert carl_span.last_purchase_at == at(d("2025-11-22"))  # within the trailing year at T0
    buy(dora, "2026-11-22", 1200)  # the night's day
    with CaptureQueriesContext(connection) as main:
        update = member_state_update(today=today + dt.timedelta(days=1))
    assert (update.rebuilt, update.members) == (False, 2)
    statements = [q["sql"] for q in main.captured_queries]
    # The old rows' sums came from another connection: only the new rows' are summed here.
    assert sum("TABLE kpi_state_bases AS" in sql for sql in statements) == 1
    # carl's span was kept, not rewritten: the same row, its last purchase now out of the year.
    kept = MemberActiveSpan.objects.get(member=carl)
    assert (kept.pk, kept.last_purchase_at) == (carl_span.pk, None)
    assert _spans() == [
        (carl.pk, "2025-11-22", "2026-05-21"),  # + 180 days
        (dora.pk, "2026-10-01", "2027-05-21"),  # 22 Nov + 180 days
    ]
    assert member_state_differences(today + dt.timedelta(days=1)) == []
    assert totals_differences(as_of=today + dt.timedelta(days=1)) == []
