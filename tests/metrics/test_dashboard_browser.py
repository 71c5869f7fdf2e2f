"""The KPI dashboard in a real headless browser (Debian's chromium through chromedriver): a
marketer logs in, the page loads with a year of data, every chart draws on its canvas, and
choosing a store changes the numbers. In Japanese too.

Needs the Debian packages chromium and chromium-driver (.ci/run installs them); without them
the test fails rather than skips. The README's picture (docs/images/dashboard.png) is taken
from the demo data by scripts/dashboard_screenshot.py, not from these factory snapshots.
"""

import datetime as dt
import importlib
import importlib.util
import random
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, Permission
from django.utils import timezone
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from loyalty.purchases import purchase_record
from metrics.dashboard import format_value
from metrics.models import KpiSnapshot
from metrics.periods import period_shift
from tests.members.factories import MemberFactory, StoreFactory
from tests.metrics.dashboard_support import (
    MARKETERS,
    USER_PASSWORD,
    cohort_snapshots_compute,
    demo_snapshots,
    user_in,
)

pytestmark = pytest.mark.django_db(transaction=True)

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
URL = "/admin/metrics/kpidashboard/"
# The month the page shows by default: the last finished one.
LAST = (timezone.localdate().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
JST = dt.timezone(dt.timedelta(hours=9))


def _screenshot_tool():
    """scripts/dashboard_screenshot.py: the test reads the charts the way the tool does."""
    path = Path(__file__).resolve().parents[2] / "scripts" / "dashboard_screenshot.py"
    spec = importlib.util.spec_from_file_location("dashboard_screenshot", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# For every chart on the page: (pixels drawn, non-null points), read from the canvas itself.
CHARTS_DRAWN = _screenshot_tool().CHARTS_DRAWN


def browser(lang: str = "en-US") -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
        f"--lang={lang}",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    # An explicit driver: Selenium Manager would try to download one.
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


@pytest.fixture
def world():
    """What the data migrations made (transactional tests flush it): the Marketers group.
    Then three stores, a year of snapshots, and the cohort table computed by the real
    calculator from members and purchases."""
    migration = importlib.import_module("metrics.migrations.0003_dashboard_permissions")
    group, _created = Group.objects.get_or_create(name=MARKETERS)
    for perm in migration.GROUPS[MARKETERS]:
        app_label, codename = perm.split(".")
        group.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    for code, name in (("TYO01", "Shibuya"), ("OSA01", "Umeda"), ("FUK01", "Tenjin")):
        StoreFactory(code=code, name=name)
    demo_snapshots(last=LAST)
    months = [period_shift("month", LAST, k) for k in range(-5, 1)]
    rng = random.Random(3)
    order = 0
    for joined_month, start in enumerate(months):
        for index in range(10):
            joined = dt.datetime.combine(start, dt.time(10), JST) + dt.timedelta(days=index)
            member = MemberFactory(joined_at=joined)
            for later in months[joined_month:]:
                if rng.random() < (0.9 if later == start else 0.45):
                    order += 1
                    purchase_record(
                        member=member,
                        order_reference=f"DEMO-{order}",
                        total=2400,
                        occurred_at=dt.datetime.combine(later, dt.time(12), JST)
                        + dt.timedelta(days=20),
                    )
    assert cohort_snapshots_compute(months) == 21  # 6 + 5 + 4 + 3 + 2 + 1 cohort-months
    return user_in(MARKETERS, username="marketer")


def submit(driver, button) -> None:
    """Click a submit button and wait until the next page has loaded (a click returns before
    the navigation it starts is over)."""
    page = driver.find_element(By.TAG_NAME, "html")
    button.click()
    wait = WebDriverWait(driver, 120)
    wait.until(lambda _driver: _detached(page))
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")


def _detached(element) -> bool:
    """Whether the element has left the document. Chromium answers a node of the old page
    either as stale or, when asked mid-navigation, as not belonging to the document (an
    "unhandled inspector error" that expected_conditions.staleness_of lets through)."""
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc.msg):
            return True
        raise
    return False


def log_in(driver, live_server, username: str) -> None:
    driver.get(f"{live_server.url}/admin/login/?next={URL}")
    driver.find_element(By.ID, "id_username").send_keys(username)
    driver.find_element(By.ID, "id_password").send_keys(USER_PASSWORD)
    submit(driver, driver.find_element(By.CSS_SELECTOR, "input[type=submit]"))


def tile_value(driver, code: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, f"#tile-{code} .tile-value").text


def expected_tile(kpi: str, segment: str, unit: str) -> str:
    snapshot = KpiSnapshot.objects.get(kpi=kpi, segment=segment, period="month", period_start=LAST)
    return format_value(snapshot.value, unit)


def assert_charts_drawn(driver) -> list:
    charts = driver.execute_script(CHARTS_DRAWN)
    canvases = driver.find_elements(By.CSS_SELECTOR, "canvas[data-chart]")
    assert len(charts) == len(canvases) >= 10
    for drawn, points in charts:
        assert drawn > 500 and points > 0, charts
    assert driver.execute_script("return window.kpiDashboardCharts.length") == len(canvases)
    return charts


def test_the_dashboard_in_a_browser(live_server, world):
    driver = browser()
    try:
        log_in(driver, live_server, world.username)
        assert driver.current_url == f"{live_server.url}{URL}"
        assert driver.title.startswith("KPI dashboard")
        # No dates given: the last finished month, named in the headline and the filters.
        headline = driver.find_element(By.CSS_SELECTOR, "#section-headline h2 small").text
        assert headline == f"period {LAST:%Y-%m}, change against the previous period"
        date_to = driver.find_element(By.ID, "id_date_to").get_attribute("value")
        assert date_to == LAST.isoformat()
        assert_charts_drawn(driver)
        # Trends: one line chart per KPI with data; bar charts by segment (new/existing/dormant).
        trends = driver.find_elements(By.CSS_SELECTOR, "canvas[data-chart=trend]")
        bars = driver.find_elements(By.CSS_SELECTOR, "canvas[data-chart=segment]")
        assert (len(trends), len(bars)) == (10, 5)
        everyone = tile_value(driver, "members")
        assert everyone == expected_tile("members", "all", "count")
        assert tile_value(driver, "churn_rate") == expected_tile("churn_rate", "all", "percent")
        cohort_rows = driver.find_elements(By.CSS_SELECTOR, "#table-cohorts tbody tr")
        assert len(cohort_rows) == 6
        challenges = driver.find_elements(By.CSS_SELECTOR, "#table-challenges tbody tr")
        assert [row.find_element(By.TAG_NAME, "th").text for row in challenges] == [
            "birthday",
            "first-matcha",
            "rainy-day",
        ]

        # Choose a store: the page reloads with that store's numbers.
        Select(driver.find_element(By.ID, "id_store")).select_by_value("TYO01")
        submit(driver, driver.find_element(By.ID, "apply-filters"))
        assert "store=TYO01" in driver.current_url
        tokyo = tile_value(driver, "members")
        assert tokyo == expected_tile("members", "store:TYO01", "count")
        assert tokyo != everyone
        assert driver.find_element(By.ID, "scope-segment").text == "Store TYO01"
        assert_charts_drawn(driver)

        # Another period kind without data: the page says so instead of drawing nothing.
        Select(driver.find_element(By.ID, "id_period")).select_by_value("quarter")
        driver.find_element(By.ID, "id_date_from").clear()
        driver.find_element(By.ID, "id_date_to").clear()
        submit(driver, driver.find_element(By.ID, "apply-filters"))
        assert tile_value(driver, "members") == "–"
        assert "No KPI snapshots for these filters yet." in driver.page_source
    finally:
        driver.quit()


def test_the_dashboard_reads_in_japanese(live_server, world):
    driver = browser("ja")
    try:
        log_in(driver, live_server, world.username)
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ja"
        assert driver.title.startswith("KPIダッシュボード")
        assert driver.find_element(By.CSS_SELECTOR, "#tile-churn_rate .tile-label").text == "解約率"
        headings = [h.text for h in driver.find_elements(By.CSS_SELECTOR, ".dashboard-section h2")]
        assert headings[1].startswith("推移")
        assert headings[3].startswith("コホート別継続率")
        # Thousands separators in the tiles and in the charts' axis labels.
        assert tile_value(driver, "members") == expected_tile("members", "all", "count")
        assert "," in tile_value(driver, "members")
        assert_charts_drawn(driver)
    finally:
        driver.quit()
