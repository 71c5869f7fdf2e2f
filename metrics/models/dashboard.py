"""The KPI dashboard's place in the admin: a proxy of KpiSnapshot (no table of its own) whose
permissions say who may open the dashboard and who sees every store's numbers."""

from django.utils.translation import gettext_lazy as _

from .kpis import KpiSnapshot


class KpiDashboard(KpiSnapshot):
    class Meta:
        proxy = True
        verbose_name = _("KPI dashboard")
        verbose_name_plural = _("KPI dashboard")
        default_permissions = ("view",)
        # Without it, a user whose staff profile has a store sees only that store's numbers.
        permissions = [("view_all_stores", _("Can see the KPIs of every store and segment"))]
