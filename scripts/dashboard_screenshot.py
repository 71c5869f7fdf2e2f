"""Screenshot of the KPI dashboard from a running server, for docs/images/dashboard.png.

    make demo PORT=8765                      # once: demo data, then it serves on :8765
    .venv/bin/python scripts/dashboard_screenshot.py --url http://127.0.0.1:8765

Logs in (the demo's marketer by default) in headless Debian chromium (packages `chromium`,
`chromium-driver`; `fonts-noto-cjk` for Japanese), opens the dashboard with no dates (the
last finished period of `--period`) or up to `--date-to`, checks that every chart drew on its
canvas, hides the admin's navigation sidebar and saves the page at its full height,
`--width` pixels wide. It prints what the headline tiles show, to compare with the snapshots.
`--target KPI:KIND:VALUE` (e.g. `churn_rate:absolute:2.0`, `nps:change:5`) first adds that
target for the shown period through Admin > KPI targets, as a marketer would (the demo sets
none); one that exists already is left as it is.
Standalone: it talks to the server only through the browser.
"""

import argparse
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = "/admin/metrics/kpidashboard/"
ADD_TARGET = "/admin/metrics/kpitarget/add/"
# The demo's marketer login, as `make demo` prints it (members/management/commands/demo_data.py).
DEMO_PASSWORD = "demo-marketer-pass"  # noqa: S105

# Every chart on the page: (pixels drawn, non-null points), read from the canvas itself.
CHARTS_DRAWN = """
return Array.from(document.querySelectorAll("canvas[data-chart]")).map(function (canvas) {
  var pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  var drawn = 0;
  for (var i = 3; i < pixels.length; i += 4) { if (pixels[i] > 0) { drawn++; } }
  var chart = Chart.getChart(canvas);
  var points = chart ? chart.data.datasets[0].data.filter(function (v) { return v !== null; }) : [];
  return [drawn, points.length];
});
"""


def browser(*, width: int, lang: str, chromium: str, chromedriver: str) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--window-size={width},1000",
        f"--lang={lang}",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    # An explicit driver: Selenium Manager would try to download one.
    return webdriver.Chrome(options=options, service=Service(chromedriver))


def wait_for_page(driver: webdriver.Chrome, old_page=None) -> None:
    wait = WebDriverWait(driver, 60)
    if old_page is not None:
        wait.until(expected_conditions.staleness_of(old_page))
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")


def charts_drawn(driver: webdriver.Chrome) -> list[list[int]]:
    """Each chart's (pixels drawn, points) once every canvas has its chart and some ink."""

    def ready(d):
        charts = d.execute_script(CHARTS_DRAWN)
        return charts if charts and all(drawn > 500 for drawn, _points in charts) else False

    return WebDriverWait(driver, 30).until(ready)


def target_add(driver: webdriver.Chrome, base: str, *, spec: str, period: str, start: str) -> str:
    """Fill and save the KPI target form; what happened, for the log."""
    kpi, kind, value = spec.split(":")
    driver.get(f"{base}{ADD_TARGET}")
    wait_for_page(driver)
    Select(driver.find_element(By.ID, "id_kpi")).select_by_value(kpi)
    driver.find_element(By.ID, "id_segment").clear()
    driver.find_element(By.ID, "id_segment").send_keys("all")
    Select(driver.find_element(By.ID, "id_period")).select_by_value(period)
    driver.find_element(By.ID, "id_period_start").clear()
    driver.find_element(By.ID, "id_period_start").send_keys(start)
    Select(driver.find_element(By.ID, "id_kind")).select_by_value(kind)
    driver.find_element(By.ID, "id_value").send_keys(value)
    page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.NAME, "_save").click()
    wait_for_page(driver, page)
    errors = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".errornote, .errorlist")]
    return f"target {spec} for {period} {start}: " + ("; ".join(errors) if errors else "added")


def tiles(driver: webdriver.Chrome) -> list[str]:
    lines = []
    for tile in driver.find_elements(By.CSS_SELECTOR, ".tile"):
        code = tile.get_attribute("data-kpi")
        value = tile.find_element(By.CLASS_NAME, "tile-value").text
        change = tile.find_element(By.CLASS_NAME, "tile-change").text
        target = tile.find_elements(By.CLASS_NAME, "tile-target")
        line = f"{code:<15} {value:>12}   {change}"
        if target:
            line += "   " + " ".join(target[0].text.split())
        lines.append(line)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the running server")
    parser.add_argument("--username", default="marketer")
    parser.add_argument("--password", default=DEMO_PASSWORD)
    parser.add_argument("--period", default="month", choices=["day", "week", "month", "quarter"])
    parser.add_argument("--date-to", help="the tiles' period start (default: the page's)")
    parser.add_argument("--lang", default="en-US", help="the browser's language (ja: Japanese)")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--target", action="append", default=[], metavar="KPI:KIND:VALUE")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "dashboard.png")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    args = parser.parse_args(argv)

    query = {"period": args.period}
    if args.date_to:
        query["date_to"] = args.date_to
    base = args.url.rstrip("/")
    driver = browser(
        width=args.width, lang=args.lang, chromium=args.chromium, chromedriver=args.chromedriver
    )
    try:
        driver.get(f"{base}/admin/login/?{urlencode({'next': DASHBOARD})}")
        driver.find_element(By.ID, "id_username").send_keys(args.username)
        driver.find_element(By.ID, "id_password").send_keys(args.password)
        page = driver.find_element(By.TAG_NAME, "html")
        driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        wait_for_page(driver, page)
        if not driver.current_url.startswith(f"{base}{DASHBOARD}"):
            print(f"login failed: at {driver.current_url}", file=sys.stderr)
            return 1
        # The page without the admin's navigation sidebar (the admin remembers it per browser).
        driver.execute_script("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")
        dashboard = f"{base}{DASHBOARD}?{urlencode(query)}"
        driver.get(dashboard)
        wait_for_page(driver)
        if args.target:
            start = driver.find_element(By.ID, "id_date_to").get_attribute("value")
            for spec in args.target:
                print(target_add(driver, base, spec=spec, period=args.period, start=start))
            driver.get(dashboard)
            wait_for_page(driver)
        charts = charts_drawn(driver)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        # The window's size includes the browser's own bars: grow it until the viewport (what
        # the screenshot holds) is the whole page.
        driver.set_window_size(args.width, height)
        extra = height - driver.execute_script("return window.innerHeight")
        if extra > 0:
            driver.set_window_size(args.width, height + extra)
        time.sleep(1.5)  # the charts redraw (animated) for the new size
        charts = charts_drawn(driver)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if not driver.save_screenshot(str(args.out)):
            print(f"could not write {args.out}", file=sys.stderr)
            return 1
        scope = driver.find_element(By.CSS_SELECTOR, ".dashboard-scope").text
        headline = driver.find_element(By.CSS_SELECTOR, "#section-headline h2 small").text
        print(f"{args.out} ({args.width}x{height}): {scope}; {headline}; {len(charts)} charts")
        print("\n".join(tiles(driver)))
    finally:
        driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
