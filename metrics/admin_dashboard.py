"""The KPI dashboard in the staff admin (Metrics > KPI dashboard): headline tiles with the
change against the previous period and the target, a line chart per KPI, bar charts by
segment, the cohort retention table and the challenge table, each table also as CSV
(`?format=csv&table=<name>` with the page's filters).

It is the changelist of KpiDashboard, a proxy of KpiSnapshot, so it sits in the admin index
for whoever holds `metrics.view_kpidashboard` (Marketers, Store managers). Users whose staff
profile has a store and who lack `metrics.view_all_stores` see that store's numbers only.
"""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext

from .dashboard import (
    BAR_DIMENSIONS,
    DashboardFilterForm,
    dashboard_build,
    dashboard_segments,
    dashboard_store_for,
    format_change,
    format_progress,
    format_value,
)
from .models import KpiDashboard
from .models.kpis import Period
from .periods import period_end, period_label
from .selectors import nps_split


@admin.register(KpiDashboard)
class KpiDashboardAdmin(admin.ModelAdmin):
    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("metrics.view_kpidashboard")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        opts = self.model._meta
        return [
            path(
                "",
                self.admin_site.admin_view(self.dashboard_view),
                name=f"{opts.app_label}_{opts.model_name}_changelist",
            )
        ]

    def dashboard_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        restricted = dashboard_store_for(request.user)
        if restricted and (
            request.GET.get("store", "") not in ("", restricted) or request.GET.get("segment")
        ):
            raise PermissionDenied
        form = DashboardFilterForm(request.GET, restricted_store=restricted)
        wanted = request.GET.get("format", "")
        if wanted not in ("", "csv"):
            message = gettext("Unknown format %(format)s: use csv.") % {"format": wanted}
            return _csv_error({"format": [{"message": message}]})
        wants_csv = wanted == "csv"
        if not form.is_valid():
            if wants_csv:
                return _csv_error(form.errors.get_json_data())
            return self._render(request, form=form, dashboard=None, status=400)
        filters = form.filters()
        dashboard = dashboard_build(filters=filters, restricted_store=restricted)
        if wants_csv:
            tables = dashboard.tables()
            name = request.GET.get("table", "")
            if name not in tables:
                template = (
                    gettext("The %(name)s table shows the whole programme: use one of %(tables)s.")
                    if name in PROGRAMME_TABLES
                    else gettext("Unknown table %(name)s: use one of %(tables)s.")
                )
                message = template % {"name": name, "tables": ", ".join(tables)}
                return _csv_error({"table": [{"message": message}]})
            table = tables[name]
            response = HttpResponse(table.csv(), content_type="text/csv; charset=utf-8")
            parts = [
                "kpi",
                name,
                filters.period,
                filters.first.isoformat(),
                filters.last.isoformat(),
            ]
            if filters.store or filters.segment:
                parts.append(filters.effective_segment.replace(":", "-"))
            response["Content-Disposition"] = f'attachment; filename="{"_".join(parts)}.csv"'
            return response
        # Show the filters in effect (the default period and range filled in), so that the next
        # "Apply" keeps them.
        shown = DashboardFilterForm(filters.query(), restricted_store=restricted)
        shown.is_valid()
        shown.set_segment_choices(dashboard_segments(filters=filters))
        return self._render(request, form=shown, dashboard=dashboard)

    def _render(self, request, *, form, dashboard, status=200):
        opts = self.model._meta
        context = {
            **self.admin_site.each_context(request),
            "opts": opts,
            "app_label": opts.app_label,
            "title": gettext("KPI dashboard"),
            "form": form,
            "dashboard": dashboard,
        }
        if dashboard is not None:
            query = dashboard.filters.query()
            tables = dashboard.tables()
            context.update(
                {
                    "tiles": [_tile(h) for h in dashboard.headlines],
                    "tables": tables,
                    "csv_links": {
                        name: "?" + urlencode({**query, "format": "csv", "table": name})
                        for name in tables
                    },
                    "dimension_label": dict(BAR_DIMENSIONS)[dashboard.filters.dimension],
                    "chart_data": dashboard.chart_data(),
                    "segment_label": _segment_label(dashboard),
                    "period_name": Period(dashboard.filters.period).label,
                    "current_label": period_label(dashboard.filters.period, dashboard.filters.last),
                    # Only when asked for: by default the tiles show the last finished period.
                    "current_unfinished": period_end(
                        dashboard.filters.period, dashboard.filters.last
                    )
                    > timezone.localdate(),
                    "cohort_rows": _cohort_rows(dashboard),
                    # Nothing computed for this period yet: say how to compute it.
                    "headline_empty": all(h.value is None for h in dashboard.headlines),
                    "range_first": dashboard.filters.first.isoformat(),
                    "range_last": dashboard.filters.last.isoformat(),
                }
            )
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/metrics/dashboard.html", context, status=status)


def _tile(headline) -> dict:
    meta, target = headline.meta, headline.target
    tile = {
        "code": meta.code,
        "label": gettext(meta.label),
        "value": format_value(headline.value, meta.unit),
        "change": format_change(headline.change, meta.unit),
        "improved": headline.improved,
        "previous": format_value(headline.previous, meta.unit),
        "reliable": headline.reliable,
        "n": headline.n,
        "target": None,
        "split": nps_split(headline.details) if meta.code == "nps" else None,
    }
    if target is not None:
        tile["target"] = {
            "kind": target.kind,
            "set": (
                format_value(target.target, meta.unit)
                if target.kind == "absolute"
                else format_change(target.target, meta.unit)
            ),
            "goal": format_value(target.goal, meta.unit),
            "met": target.met,
            "progress": target.progress,
            "progress_text": format_progress(target.progress),
            "away": target.progress is not None and target.progress < 0,
            "bar": max(0, min(100, int(target.progress))) if target.progress is not None else 0,
            "note": target.note,
        }
    return tile


def _cohort_rows(dashboard) -> list[dict]:
    """The cohort table's cells with a shade (0-1) for the heat map."""
    if dashboard.cohorts is None:
        return []
    rows = []
    for row in dashboard.cohorts.rows:
        cells = [
            {
                "text": format_value(value, "percent"),
                "shade": None if value is None else round(min(float(value), 100) / 100, 3),
            }
            for value in row.values
        ]
        width = len(dashboard.cohorts.months)
        cells += [{"text": "", "shade": None}] * (width - len(cells))
        rows.append({"cohort": row.cohort, "size": format_value(row.size, "count"), "cells": cells})
    return rows


def _segment_label(dashboard) -> str:
    filters = dashboard.filters
    if filters.store:
        return gettext("Store %(code)s") % {"code": filters.store}
    if filters.segment:
        return filters.segment
    return gettext("All members")


PROGRAMME_TABLES = ("segments", "cohorts", "challenges")  # not for one store's managers


def _csv_error(errors: dict) -> HttpResponse:
    """A 400 for a CSV request with bad filters: one line per field, naming it."""
    lines = [f"{name}: {error['message']}" for name, items in errors.items() for error in items]
    return HttpResponse(
        "\n".join(lines) + "\n", status=400, content_type="text/plain; charset=utf-8"
    )
