"""The KPI dashboard in the admin: who may open it, what the tiles say (value, change against
the previous period, target), the filters, the cohort and challenge tables, and the CSV export
of every table (exact bytes)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone, translation

from members.models import Store
from metrics.dashboard import (
    _segment_choice,
    format_change,
    format_progress,
    format_value,
    last_finished_period,
)
from metrics.models import KpiTarget
from metrics.periods import period_label, period_shift
from metrics.selectors import cohort_retention_matrix, nps_split
from tests.members.factories import StoreFactory
from tests.metrics.dashboard_support import (
    MARKETERS,
    STORE_MANAGERS,
    STORE_STAFF,
    KpiTargetFactory,
    client_for,
    pinned_registry,
    snap,
    user_in,
)

pytestmark = pytest.mark.django_db

URL = "/admin/metrics/kpidashboard/"
MAR, APR, MAY = dt.date(2026, 3, 1), dt.date(2026, 4, 1), dt.date(2026, 5, 1)
RANGE = {"period": "month", "date_from": "2026-03-01", "date_to": "2026-05-01"}


@pytest.fixture(autouse=True)
def _kpis():
    with pinned_registry():
        yield


@pytest.fixture
def world():
    """Three months of snapshots (March to May 2026) for all members, store TYO01, two tiers,
    two join cohorts and two challenges, and an NPS target for May."""
    StoreFactory(code="TYO01", name="Shibuya")
    StoreFactory(code="OSA01", name="Umeda")
    for start, value in ((MAR, 1100), (APR, 1200), (MAY, 1250)):
        snap("members", start, value, n=value)
    snap("churn_rate", APR, "6.0", n=1000)
    snap("churn_rate", MAY, "5.0", n=1100)
    snap("nps", APR, 30, n=120)
    snap(
        "nps",
        MAY,
        33,
        n=150,
        details={"promoters": 45, "passives": 43, "detractors": 12},
    )
    KpiTargetFactory(kpi="nps", period_start=MAY, kind=KpiTarget.Kind.CHANGE, value=5)
    snap("members", APR, 480, segment="store:TYO01", n=480)
    snap("members", MAY, 500, segment="store:TYO01", n=500)
    snap("members", MAY, 200, segment="tier:gold", n=200)
    snap("members", MAY, 450, segment="tier:silver", n=450)
    snap("churn_rate", MAY, "2.5", segment="tier:gold", n=200)
    for cohort, start, value, kept, size in (
        ("2026-03", MAR, 100, 40, 40),
        ("2026-03", APR, 30, 12, 40),
        ("2026-03", MAY, 25, 10, 40),
        ("2026-04", APR, 100, 20, 20),
        ("2026-04", MAY, 35, 7, 20),
    ):
        snap(
            "cohort_retention",
            start,
            value,
            segment=f"cohort:{cohort}",
            numerator=kept,
            denominator=size,
            n=size,
        )
    snap("challenge_joiners", MAY, 410, segment="challenge:birthday", n=410)
    snap("challenge_completions", MAY, 200, segment="challenge:birthday", n=410)
    snap("challenge_joiners", MAY, 12, segment="challenge:rainy", n=12)


def tiles(response) -> dict[str, dict]:
    return {tile["code"]: tile for tile in response.context["tiles"]}


# --- Who may open it ---------------------------------------------------------------------------


def test_marketers_and_store_managers_see_it_in_the_admin_index(marketer):
    client, _user = marketer
    manager = client_for(user_in(STORE_MANAGERS, username="manager"))
    staff = client_for(user_in(STORE_STAFF, username="counter"))
    for who, expected in ((client, True), (manager, True), (staff, False)):
        index = who.get("/admin/").content.decode()
        assert (f'href="{URL}"' in index) is expected
    assert "KPI dashboard" in client.get("/admin/").content.decode()


def test_permissions(marketer, superuser):
    assert marketer[0].get(URL).status_code == 200
    assert superuser[0].get(URL).status_code == 200
    assert client_for(user_in(STORE_MANAGERS, username="manager")).get(URL).status_code == 200
    assert client_for(user_in(STORE_STAFF, username="counter")).get(URL).status_code == 403
    anonymous = Client().get(URL)
    assert (anonymous.status_code, anonymous["Location"]) == (302, f"/admin/login/?next={URL}")


def test_groups_hold_the_dashboard_permissions():
    def perms(name):
        group = Group.objects.get(name=name)
        return {
            f"{p.content_type.app_label}.{p.codename}"
            for p in group.permissions.select_related("content_type")
            if p.content_type.app_label == "metrics"
            and "kpi" in p.codename
            or p.codename == "view_all_stores"
        }

    assert perms(MARKETERS) == {
        "metrics.view_kpidashboard",
        "metrics.view_all_stores",
        "metrics.view_kpitarget",
        "metrics.add_kpitarget",
        "metrics.change_kpitarget",
        "metrics.delete_kpitarget",
    }
    assert perms(STORE_MANAGERS) == {"metrics.view_kpidashboard", "metrics.view_kpitarget"}
    assert perms(STORE_STAFF) == set()


# --- Tiles -------------------------------------------------------------------------------------


def test_tiles_show_value_change_and_target(marketer, world):
    response = marketer[0].get(URL, RANGE)
    assert response.status_code == 200
    shown = tiles(response)
    assert list(shown) == ["members", "active_members", "repeat_rate", "churn_rate", "ltv", "nps"]
    members, churn, nps = shown["members"], shown["churn_rate"], shown["nps"]
    assert (members["value"], members["change"], members["previous"]) == ("1,250", "+50", "1,200")
    assert members["improved"] is True
    # Churn fell a point: a percentage-point change, and good news (lower is better).
    assert (churn["value"], churn["change"], churn["improved"]) == ("5.0%", "−1.0 pt", True)
    assert (nps["value"], nps["change"], nps["reliable"]) == ("33.0", "+3.0", True)
    # NPS +5 against April's 30: the goal is 35; 33 is 3 of the 5 points, 60%.
    assert nps["target"] == {
        "kind": "change",
        "set": "+5.0",
        "goal": "35.0",
        "met": False,
        "progress": Decimal("60.0"),
        "progress_text": "60.0%",
        "away": False,
        "bar": 60,
        "note": "",
    }
    assert nps["split"] == {
        "promoters": Decimal("45.0"),
        "passives": Decimal("43.0"),
        "detractors": Decimal("12.0"),
    }
    assert (shown["ltv"]["value"], shown["ltv"]["change"]) == ("–", "–")
    html = response.content.decode()
    assert '<div class="tile-value">1,250</div>' in html
    assert "Promoters 45.0%" in html


def test_a_small_sample_is_flagged(marketer, world):
    snap("nps", MAY, 40, segment="store:TYO01", n=60)
    response = marketer[0].get(URL, {**RANGE, "store": "TYO01"})
    assert tiles(response)["nps"]["reliable"] is False
    assert "Not reliable: only 60 answers" in response.content.decode()


@pytest.mark.parametrize(
    ("target", "progress", "text", "bar", "met"),
    [
        # Churn down to 4.0% from April's 6.0%: May's 5.0% is half the way.
        ("4.0", Decimal("50.0"), "50.0%", 50, False),
        # Down to 5.5%: May fell 1.0 point where 0.5 was asked: 200%, met.
        ("5.5", Decimal("200.0"), "200.0%", 100, True),
        # At most 7.0%: April's 6.0% already met it and May's 5.0% still does: 100%, not -100%.
        ("7.0", Decimal("100"), "100.0%", 100, True),
        # Exactly April's value, and May is below it: met.
        ("6.0", Decimal("100"), "100.0%", 100, True),
    ],
)
def test_a_churn_target_counts_progress_downwards(
    marketer, world, target, progress, text, bar, met
):
    KpiTargetFactory(kpi="churn_rate", period_start=MAY, value=Decimal(target))
    churn = tiles(marketer[0].get(URL, RANGE))["churn_rate"]["target"]
    assert (churn["goal"], churn["progress"], churn["progress_text"]) == (
        f"{Decimal(target):.1f}%",
        progress,
        text,
    )
    assert (churn["bar"], churn["met"], churn["away"]) == (bar, met, False)


def test_moving_away_from_a_churn_target_is_negative_progress(marketer, world):
    # Store TYO01's churn rose from 3.0% to 3.5% against a 2.0% target: -0.5 of the 1.0 point.
    snap("churn_rate", APR, "3.0", segment="store:TYO01", n=480)
    snap("churn_rate", MAY, "3.5", segment="store:TYO01", n=500)
    KpiTargetFactory(kpi="churn_rate", segment="store:TYO01", period_start=MAY, value=2)
    response = marketer[0].get(URL, {**RANGE, "store": "TYO01"})
    churn = tiles(response)["churn_rate"]
    assert (churn["change"], churn["improved"]) == ("+0.5 pt", False)
    assert churn["target"] == {
        "kind": "absolute",
        "set": "2.0%",
        "goal": "2.0%",
        "met": False,
        "progress": Decimal("-50.0"),
        "progress_text": "−50.0%",
        "away": True,
        "bar": 0,
        "note": "",
    }
    html = response.content.decode()
    assert (
        '<span class="progress-text away" title="Moved away from the target since the previous '
        'period">−50.0%</span>'
    ) in html
    _response, text = csv_of(marketer[0], "headline", store="TYO01")
    assert "churn_rate,Churn rate,2026-05,3.5,3,0.5,500,2,2,-50,no,,,\r\n" in text


@pytest.mark.parametrize(
    ("progress", "shown"),
    [
        (Decimal("60.0"), "60.0%"),
        (Decimal("100"), "100.0%"),
        (Decimal("1250.0"), "1,250.0%"),
        (Decimal("0"), "0.0%"),
        (Decimal("-40.0"), "−40.0%"),
        (None, "–"),
    ],
)
def test_format_progress(progress, shown):
    with translation.override("en"):
        assert format_progress(progress) == shown


# --- The default period: the last finished one ---------------------------------------------------


@pytest.mark.parametrize(
    ("period", "today", "last"),
    [
        ("day", "2026-03-01", "2026-02-28"),
        ("week", "2026-11-22", "2026-11-09"),  # a Sunday: its week began on Monday the 16th
        ("week", "2026-11-16", "2026-11-09"),  # a Monday
        ("month", "2026-11-22", "2026-10-01"),
        ("month", "2026-01-01", "2025-12-01"),
        ("quarter", "2026-11-22", "2026-07-01"),
        ("quarter", "2026-01-15", "2025-10-01"),
    ],
)
def test_last_finished_period(period, today, last):
    assert last_finished_period(period, dt.date.fromisoformat(today)) == dt.date.fromisoformat(last)


def _finished_and_current(period: str) -> tuple[dt.date, dt.date]:
    """The last finished period of `period` and the current one, computed by hand from today."""
    today = timezone.localdate()
    if period == "day":
        current = today
        return today - dt.timedelta(days=1), current
    if period == "week":
        current = today - dt.timedelta(days=today.weekday())
        return current - dt.timedelta(days=7), current
    first_month = 1 if period == "month" else 3
    current = today.replace(month=(today.month - 1) // first_month * first_month + 1, day=1)
    before = current - dt.timedelta(days=1)
    return before.replace(month=(before.month - 1) // first_month * first_month + 1, day=1), current


@pytest.mark.parametrize(
    ("period", "span"), [("day", 31), ("week", 13), ("month", 12), ("quarter", 8)]
)
def test_without_dates_the_tiles_show_the_last_finished_period(marketer, period, span):
    last, current = _finished_and_current(period)
    snap("members", period_shift(period, last, -1), 1000, period=period, n=1000)
    snap("members", last, 1100, period=period, n=1100)
    snap("members", current, 1105, period=period, n=1105)  # the period so far: partial
    response = marketer[0].get(URL, {"period": period})
    filters = response.context["dashboard"].filters
    assert (filters.first, filters.last) == (period_shift(period, last, 1 - span), last)
    assert (tiles(response)["members"]["value"], tiles(response)["members"]["change"]) == (
        "1,100",
        "+100",
    )
    html = response.content.decode()
    assert f"period {period_label(period, last)}, change against the previous period" in html
    assert "not over yet" not in html
    # The form shows the range in effect, so that "Apply" keeps it.
    assert f'name="date_to" value="{last.isoformat()}"' in html


def test_the_default_is_the_previous_month_whatever_the_snapshots(marketer, world):
    # The world's snapshots end in May 2026; the default is still the last finished month.
    last, _current = _finished_and_current("month")
    response = marketer[0].get(URL)
    filters = response.context["dashboard"].filters
    assert (filters.period, filters.first, filters.last) == (
        "month",
        period_shift("month", last, -11),
        last,
    )
    expected = "1,250" if last == MAY else "–"
    assert tiles(response)["members"]["value"] == expected


def test_the_current_period_when_asked_for_says_it_is_not_over(marketer):
    last, current = _finished_and_current("month")
    snap("members", last, 1100, n=1100)
    snap("members", current, 1105, n=1105)
    note = (
        '<strong class="unfinished" id="period-unfinished">(not over yet: the numbers so far)'
        "</strong>"
    )
    # Up to the current month, or from it (no end given: the range ends with its own period).
    for params, first in (
        ({"date_to": current.isoformat()}, period_shift("month", current, -11)),
        ({"date_from": current.isoformat()}, current),
    ):
        response = marketer[0].get(URL, {"period": "month", **params})
        filters = response.context["dashboard"].filters
        assert (filters.first, filters.last) == (first, current)
        assert tiles(response)["members"]["value"] == "1,105"
        assert note in response.content.decode()
    with translation.override("ja"):
        japanese = marketer[0].get(
            URL, {"period": "month", "date_to": current.isoformat()}, HTTP_ACCEPT_LANGUAGE="ja"
        )
    assert "（期間途中：現時点までの値）" in japanese.content.decode()


def test_a_period_without_snapshots_says_how_to_compute_it(marketer, world):
    # The world has monthly snapshots only: its weeks were never computed.
    weeks = {"period": "week", "date_from": "2026-04-06", "date_to": "2026-05-04"}
    html = marketer[0].get(URL, weeks).content.decode()
    assert (
        "compute earlier ones with <code>manage.py kpis recompute --from 2026-04-06"
        " --to 2026-05-04</code>"
    ) in html
    assert 'id="headline-empty"' not in marketer[0].get(URL, RANGE).content.decode()


def test_the_store_filter_changes_the_numbers(marketer, world):
    response = marketer[0].get(URL, {**RANGE, "store": "TYO01"})
    assert response.context["dashboard"].segment == "store:TYO01"
    assert (tiles(response)["members"]["value"], tiles(response)["members"]["change"]) == (
        "500",
        "+20",
    )
    segment = marketer[0].get(URL, {**RANGE, "segment": "tier:gold"})
    assert tiles(segment)["members"]["value"] == "200"
    assert tiles(segment)["churn_rate"]["value"] == "2.5%"


@pytest.mark.usefixtures("_back_to_english")
@pytest.mark.parametrize(
    ("segment", "english", "japanese"),
    [
        ("segment:dormant", "New / existing / dormant: Dormant", "新規・既存・休眠: 休眠"),
        ("gender:female", "Gender: Female", "性別: 女性"),
        ("channel:app", "Channel: App", "チャネル: アプリ"),
        ("age:unknown", "Age band: unknown", "年代: 不明"),
        ("question:7", "Question (surveys): 7", "質問（アンケート）: 7"),
        ("tier:gold", "Tier: gold", "ランク: gold"),  # codes the programme named stay as they are
    ],
)
def test_segment_choices_name_dimension_and_value(segment, english, japanese):
    assert _segment_choice(segment) == (segment, english)
    with translation.override("ja"):
        assert _segment_choice(segment) == (segment, japanese)


@pytest.mark.usefixtures("_back_to_english")
def test_bar_chart_and_csv_name_the_values_that_have_names(marketer):
    snap("members", MAY, 300, segment="segment:dormant", n=300)
    snap("members", MAY, 120, segment="segment:new", n=120)
    snap("members", MAY, 700, segment="gender:female", n=700)
    by_stage = {**RANGE, "dimension": "segment"}
    bars = marketer[0].get(URL, by_stage).context["chart_data"]["segments"]
    assert [(b["code"], b["labels"], b["values"]) for b in bars] == [
        ("members", ["Dormant", "New"], [300.0, 120.0])
    ]
    _response, text = csv_of(marketer[0], "segments", dimension="gender")
    assert text == "\ufeffSegment,Members\r\nFemale,700\r\n"
    _response, text = csv_of(
        marketer[0], "segments", headers={"Accept-Language": "ja"}, dimension="segment"
    )
    assert text.splitlines()[1:] == ["休眠,300", "新規,120"]


def test_the_segment_choices_come_from_the_snapshots(marketer, world):
    response = marketer[0].get(URL, RANGE)
    choices = response.context["form"].fields["segment"].widget.choices
    assert choices == [
        ("", "All members"),
        ("tier:gold", "Tier: gold"),
        ("tier:silver", "Tier: silver"),
    ]


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"store": "TYO01", "segment": "tier:gold"}, "segment", "Choose a store or a segment"),
        ({"date_from": "2026-06-01"}, "date_to", "The end is before the start."),
        ({"date_to": "2026-13-01"}, "date_to", "Enter a valid date."),
        ({"period": "year"}, "period", "Select a valid choice. year is not one"),
        ({"store": "NOPE"}, "store", "Select a valid choice. NOPE is not one"),
        ({"segment": "tier gold"}, "segment", 'Use "all" or "<dimension>:<value>"'),
        ({"segment": "planet:mars"}, "segment", "Unknown dimension planet"),
        ({"period": "day", "date_from": "2024-01-01"}, "date_from", "Choose at most 400"),
        # Near year 10000 a period's shift overflowed (a 500).
        ({"date_to": "9999-12-31"}, "date_to", "Ensure this value is less than or equal to"),
        ({"date_from": "1999-12-31"}, "date_from", "Ensure this value is greater than or"),
    ],
)
def test_bad_filters_are_a_400_naming_the_field(marketer, world, params, field, message):
    response = marketer[0].get(URL, {**RANGE, **params})
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert list(errors) == [field]
    assert errors[field][0].startswith(message), errors[field][0]
    assert f'id="error-{field}"' in response.content.decode()
    csv = marketer[0].get(URL, {**RANGE, **params, "format": "csv", "table": "headline"})
    assert csv.status_code == 400
    assert csv.content.decode().startswith(f"{field}: {message}")


# --- Store managers ----------------------------------------------------------------------------


def test_a_store_manager_sees_only_their_store(world):
    tyo = Store.objects.get(code="TYO01")
    client = client_for(user_in(STORE_MANAGERS, username="manager", store=tyo))
    response = client.get(URL, RANGE)
    assert response.status_code == 200
    dashboard = response.context["dashboard"]
    assert (dashboard.segment, dashboard.restricted_store) == ("store:TYO01", "TYO01")
    assert tiles(response)["members"]["value"] == "500"
    assert set(response.context["tables"]) == {"headline", "trends"}
    assert response.context["form"].fields["store"].choices == [("TYO01", "TYO01")]
    html = response.content.decode()
    assert "You see the numbers of store TYO01 only." in html
    assert 'id="section-cohorts"' not in html and 'id="section-challenges"' not in html
    for params in ({"store": "OSA01"}, {"segment": "tier:gold"}):
        assert client.get(URL, {**RANGE, **params}).status_code == 403
    assert client.get(URL, {**RANGE, "store": "TYO01"}).status_code == 200
    for table in ("segments", "cohorts"):
        refused = client.get(URL, {**RANGE, "format": "csv", "table": table})
        assert (refused.status_code, refused.content.decode()) == (
            400,
            f"table: The {table} table shows the whole programme: use one of headline, trends.\n",
        )


def test_a_store_manager_without_a_store_sees_every_store(world):
    client = client_for(user_in(STORE_MANAGERS, username="area-manager"))
    response = client.get(URL, {**RANGE, "store": "OSA01"})
    assert response.status_code == 200
    assert response.context["dashboard"].restricted_store is None


def test_marketers_with_a_staff_profile_still_see_every_store(world):
    tyo = Store.objects.get(code="TYO01")
    client = client_for(user_in(MARKETERS, username="marketer-at-tyo", store=tyo))
    response = client.get(URL, RANGE)
    assert response.context["dashboard"].segment == "all"


# --- Tables and CSV ----------------------------------------------------------------------------


def csv_of(client, table: str, headers=None, **params):
    response = client.get(
        URL, {**RANGE, **params, "format": "csv", "table": table}, headers=headers
    )
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    body = response.content
    assert body.startswith("\ufeff".encode())  # Excel reads it as UTF-8
    return response, body.decode("utf-8")


def test_csv_headline(marketer, world):
    response, text = csv_of(marketer[0], "headline")
    assert response["Content-Disposition"] == (
        'attachment; filename="kpi_headline_month_2026-03-01_2026-05-01.csv"'
    )
    assert text == (
        "\ufeffKPI,Name,Period,Value,Previous period,Change,Sample size,Target,Goal,"
        "Progress (%),Met,Promoters (%),Passives (%),Detractors (%)\r\n"
        "members,Members,2026-05,1250,1200,50,1250,,,,,,,\r\n"
        "active_members,Active members,2026-05,,,,0,,,,,,,\r\n"
        "repeat_rate,Repeat rate,2026-05,,,,0,,,,,,,\r\n"
        "churn_rate,Churn rate,2026-05,5,6,-1,1100,,,,,,,\r\n"
        "ltv,LTV,2026-05,,,,0,,,,,,,\r\n"
        "nps,NPS,2026-05,33,30,3,150,+5,35,60,no,45,43,12\r\n"
    )


def test_csv_headline_for_a_store(marketer, world):
    response, text = csv_of(marketer[0], "headline", store="TYO01")
    assert response["Content-Disposition"] == (
        'attachment; filename="kpi_headline_month_2026-03-01_2026-05-01_store-TYO01.csv"'
    )
    assert text.splitlines()[1] == "members,Members,2026-05,500,480,20,500,,,,,,,"


def test_csv_trends(marketer, world):
    _response, text = csv_of(marketer[0], "trends")
    assert text == (
        "\ufeffPeriod,Members,Churn rate,NPS\r\n"
        "2026-03,1100,,\r\n"
        "2026-04,1200,6,30\r\n"
        "2026-05,1250,5,33\r\n"
    )


def test_csv_segments(marketer, world):
    _response, text = csv_of(marketer[0], "segments", dimension="tier")
    assert text == "\ufeffSegment,Members,Churn rate\r\ngold,200,2.5\r\nsilver,450,\r\n"


def test_csv_cohorts(marketer, world):
    _response, text = csv_of(marketer[0], "cohorts")
    assert text == (
        "\ufeffJoin month,Members,Month 0,Month 1,Month 2\r\n"
        "2026-03,40,100,30,25\r\n"
        "2026-04,20,100,35,\r\n"
    )


def test_csv_challenges(marketer, world):
    _response, text = csv_of(marketer[0], "challenges")
    assert text == ("\ufeffChallenge,Joiners,Completions\r\nbirthday,410,200\r\nrainy,12,\r\n")


def test_unknown_csv_table_is_a_400(marketer, world):
    response = marketer[0].get(URL, {**RANGE, "format": "csv", "table": "ledger"})
    assert response.status_code == 400
    assert response.content.decode() == (
        "table: Unknown table ledger: use one of headline, trends, segments, cohorts, challenges.\n"
    )


def test_unknown_format_is_a_400(marketer, world):
    response = marketer[0].get(URL, {**RANGE, "format": "xlsx", "table": "headline"})
    assert response.status_code == 400
    assert response.content.decode() == "format: Unknown format xlsx: use csv.\n"


def test_every_table_on_the_page_has_its_csv_link(marketer, world):
    response = marketer[0].get(URL, RANGE)
    html = response.content.decode()
    for table in ("headline", "trends", "segments", "cohorts", "challenges"):
        assert f"format=csv&amp;table={table}" in html, table
    # The chart data the page draws from, and the vendored library (no CDN).
    data = response.context["chart_data"]
    assert [s["code"] for s in data["trends"]] == ["members", "churn_rate", "nps"]
    assert data["trends"][2]["values"] == [None, 30.0, 33.0]
    assert data["trends"][2]["goals"] == [None, None, 35.0]
    assert '<script src="/static/metrics/vendor/chartjs/chart.umd.min.js">' in html
    assert "cdn" not in html.lower()


def test_cohort_table_on_the_page(marketer, world):
    response = marketer[0].get(URL, RANGE)
    rows = response.context["cohort_rows"]
    assert [(r["cohort"], r["size"], [c["text"] for c in r["cells"]]) for r in rows] == [
        ("2026-03", "40", ["100.0%", "30.0%", "25.0%"]),
        ("2026-04", "20", ["100.0%", "35.0%", ""]),
    ]
    assert rows[0]["cells"][1]["shade"] == 0.3
    html = response.content.decode()
    assert "Month 0 is the join month itself" in html


@pytest.fixture
def _back_to_english():
    yield
    translation.deactivate()  # the requests in Japanese left it active in this thread


@pytest.mark.usefixtures("_back_to_english")
def test_the_page_reads_in_japanese(marketer, world):
    response = marketer[0].get(URL, RANGE, HTTP_ACCEPT_LANGUAGE="ja")
    html = response.content.decode()
    assert '<html lang="ja"' in html
    for text in (
        "KPIダッシュボード",
        "推移",
        "コホート別継続率",
        "チャレンジの効果",
        "プロモーター",
        "0か月目は入会月そのものです",
    ):
        assert text in html, text
    _response, text = csv_of(marketer[0], "cohorts", headers={"accept-language": "ja"})
    assert text.startswith("\ufeff入会月,会員数,")


# --- Selectors ---------------------------------------------------------------------------------


def test_cohort_matrix_reads_the_snapshots(world):
    matrix = cohort_retention_matrix(first=APR, last=MAY)
    assert matrix.months == [0, 1]
    assert [(r.cohort, r.size, r.values) for r in matrix.rows] == [
        ("2026-04", 20, [Decimal("100"), Decimal("35")])
    ]


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        ({"promoters": 45, "passives": 43, "detractors": 12}, ("45.0", "43.0", "12.0")),
        ({"promoters": 0.5, "passives": 0.3, "detractors": 0.2}, ("50.0", "30.0", "20.0")),
        ({"promoters": 1, "passives": 1, "detractors": 1}, ("33.3", "33.3", "33.3")),
        ({"promoters": 0, "passives": 0, "detractors": 0}, None),
        ({"promoters": 5}, None),
        ({}, None),
    ],
)
def test_nps_split(details, expected):
    split = nps_split(details)
    if expected is None:
        assert split is None
    else:
        assert tuple(str(split[k]) for k in ("promoters", "passives", "detractors")) == expected


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (Decimal("12480"), "count", "12,480"),
        (Decimal("5"), "percent", "5.0%"),
        (Decimal("8210.4"), "yen", "¥8,210"),
        (Decimal("31.46"), "score", "31.5"),
        (Decimal("31.44"), "score", "31.4"),
        (Decimal("-0.05"), "percent", "-0.1%"),
        (Decimal("2.5"), "yen", "¥3"),
        (Decimal("3100000"), "points", "3,100,000 pt"),
        (Decimal("1234.5"), None, "1,234.50"),
        (None, "count", "–"),
    ],
)
def test_format_value(value, unit, shown):
    with translation.override("en"):
        assert format_value(value, unit) == shown


@pytest.mark.parametrize(
    ("change", "unit", "shown"),
    [
        (Decimal("50"), "count", "+50"),
        (Decimal("-1"), "percent", "−1.0 pt"),
        (Decimal("0"), "yen", "±¥0"),
        (Decimal("1500"), "yen", "+¥1,500"),
        (None, "count", "–"),
    ],
)
def test_format_change(change, unit, shown):
    with translation.override("en"):
        assert format_change(change, unit) == shown


def test_csv_cells_from_the_data_are_never_formulas(marketer, world):
    snap("members", MAY, 3, segment="tier:=HYPERLINK(1)", n=3)
    snap("challenge_joiners", MAY, 5, segment="challenge:@sum", n=5)
    _response, segments = csv_of(marketer[0], "segments", dimension="tier")
    assert segments.splitlines()[1] == "'=HYPERLINK(1),3,"
    _response, challenges = csv_of(marketer[0], "challenges")
    assert challenges.splitlines()[1] == "'@sum,5,"
