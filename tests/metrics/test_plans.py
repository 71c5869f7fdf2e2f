"""metrics.kpis.plans: the settings the KPI statements are planned with (PostgreSQL)."""

import pytest
from django.db import connection

from metrics.kpis.plans import kpi_plans, planner_settings

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _setting(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s)", [name])
        return cursor.fetchone()[0]


def test_planner_settings_hold_inside_the_block_and_the_earlier_ones_come_back():
    with kpi_plans(index_scans=False):
        assert (_setting("enable_indexscan"), _setting("enable_nestloop")) == ("off", "on")
        with planner_settings(enable_indexscan="on", enable_nestloop="off"):
            assert (_setting("enable_indexscan"), _setting("enable_nestloop")) == ("on", "off")
        assert (_setting("enable_indexscan"), _setting("enable_nestloop")) == ("off", "on")
