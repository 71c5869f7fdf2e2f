"""KPI targets in the admin: marketers set what a KPI should reach in a period ("NPS +5 this
quarter"); store managers read them. Saving goes through metrics.targets.kpi_target_save."""

from django import forms
from django.contrib import admin
from django.utils.translation import gettext, gettext_lazy

from .models import KpiTarget
from .selectors import kpi_meta, kpi_order, kpi_registry
from .targets import kpi_target_errors, kpi_target_save


def _kpi_choices():
    registry = kpi_registry()
    return [("", "---------")] + [
        (code, f"{gettext(registry[code].label)} ({code})") for code in kpi_order(registry)
    ]


class KpiTargetForm(forms.ModelForm):
    kpi = forms.ChoiceField(label=gettext_lazy("KPI"), choices=_kpi_choices)

    class Meta:
        model = KpiTarget
        fields = ["kpi", "segment", "period", "period_start", "kind", "value", "note"]
        help_texts = {
            "segment": gettext_lazy(
                '"all", or one slice of the members: "store:TYO01", "tier:gold", '
                '"segment:new", "channel:online", "cohort:2026-01", "age:30-39", '
                '"gender:female".'
            ),
            "period_start": gettext_lazy(
                "The first day of the period: any day, a Monday, the 1st of a month, or "
                "1 January / April / July / October."
            ),
            "value": gettext_lazy(
                "In the KPI's unit: percent for rates (40 = 40%), points for NPS, yen for LTV. "
                "For a change target, the change (+5, or -1 for churn)."
            ),
        }

    def clean(self):
        data = super().clean()
        errors = kpi_target_errors(
            kpi=data.get("kpi", ""),
            segment=data.get("segment", ""),
            period=data.get("period", ""),
            period_start=data.get("period_start"),
        )
        for name, message in errors.items():
            if name not in self.errors:
                self.add_error(name, message)
        return data


@admin.register(KpiTarget)
class KpiTargetAdmin(admin.ModelAdmin):
    form = KpiTargetForm
    list_display = ["kpi_name", "segment", "period", "period_start", "kind", "value", "note"]
    list_filter = ["period", "kind", "kpi"]
    search_fields = ["kpi", "segment", "note"]
    date_hierarchy = "period_start"
    ordering = ["-period_start", "kpi", "segment"]

    @admin.display(description=gettext_lazy("KPI"), ordering="kpi")
    def kpi_name(self, obj):
        return f"{gettext(kpi_meta(obj.kpi).label)} ({obj.kpi})"

    def save_model(self, request, obj, form, change):
        kpi_target_save(target=obj)
