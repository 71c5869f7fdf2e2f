"""The dashboard over snapshots the real calculators computed: members and purchases in, the
snapshot runner (members and cohort retention, monthly windows), the dashboard's tiles, store
filter and cohort table out."""

import datetime as dt

import pytest

from loyalty.purchases import purchase_record
from metrics.snapshots import kpi_snapshots_write, kpis_compute, window_containing
from tests.members.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db

URL = "/admin/metrics/kpidashboard/"
JST = dt.timezone(dt.timedelta(hours=9))
MAR, APR, MAY = dt.date(2026, 3, 1), dt.date(2026, 4, 1), dt.date(2026, 5, 1)


def tiles(response) -> dict[str, tuple[str, str]]:
    return {t["code"]: (t["value"], t["change"]) for t in response.context["tiles"]}


def test_the_dashboard_over_computed_snapshots(marketer):
    tyo, osa = StoreFactory(code="TYO01"), StoreFactory(code="OSA01")
    order = 0
    for i in range(8):  # even: joined in March, odd: in April; everyone buys in April
        member = MemberFactory(
            joined_at=dt.datetime(2026, 3 + i % 2, 2 + i, 10, tzinfo=JST),
            home_store=tyo if i % 3 else osa,
        )
        for week in range(i % 3 + 1):
            order += 1
            purchase_record(
                member=member,
                order_reference=f"O-{order}",
                total=1000,
                occurred_at=dt.datetime(2026, 4, 5 + 7 * week + i, 12, tzinfo=JST),
            )
    for start in (MAR, APR):
        window = window_containing("month", start, cutoff=MAY)
        rows = kpis_compute(window=window, kpis=["members", "cohort_retention"])
        kpi_snapshots_write(rows=rows)
    client = marketer[0]
    everyone = client.get(
        URL, {"period": "month", "date_from": "2026-03-01", "date_to": "2026-04-01"}
    )
    assert tiles(everyone)["members"] == ("8", "+4")
    cohorts = [
        (r["cohort"], [c["text"] for c in r["cells"]]) for r in everyone.context["cohort_rows"]
    ]
    assert cohorts == [("2026-03", ["0.0%", "100.0%"]), ("2026-04", ["100.0%", ""])]
    # Home store TYO01: members 1, 2, 4, 5 and 7; 2 and 4 joined in March.
    tokyo = client.get(URL, {"period": "month", "date_to": "2026-04-01", "store": "TYO01"})
    assert tiles(tokyo)["members"] == ("5", "+3")
