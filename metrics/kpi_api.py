"""GET /api/v1/kpis: the KPI snapshots for integrations (BI tools, head-office reports), with
their targets. Scope `kpis:read`; a store-bound key reads its store's segment only."""

import datetime as dt
import re

import django_filters
from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import exceptions, generics, serializers

from loyalty.api.pagination import Page
from loyalty.api.schema import DESCRIPTIONS, error_example, error_response, field_error
from members.authentication import scoped
from members.models import ApiKey

from .models import KpiSnapshot, KpiTarget
from .models.kpis import Period
from .periods import period_end
from .selectors import STORE_PREFIX, kpi_meta, kpi_registry, kpi_snapshots_with_targets
from .targets import segment_error

_PRINTABLE = re.compile(r"^[\x21-\x7e]+$")


def validate_kpi(value: str) -> None:
    if value not in kpi_registry():
        shown = value if _PRINTABLE.match(value) and len(value) <= 40 else "?"
        # The value travels as a parameter: django-filter formats the message with them, and
        # a "%" the caller typed must not read as a placeholder.
        raise forms.ValidationError(
            _("Unknown KPI %(kpi)s: use a KPI code from docs/metrics.md."), params={"kpi": shown}
        )


def validate_segment(value: str) -> None:
    problem = segment_error(value)
    if problem:
        raise forms.ValidationError("%(problem)s", params={"problem": problem})


class KpiFilterForm(forms.Form):
    def clean(self):
        data = super().clean()
        first, last = data.get("from"), data.get("to")
        if first and last and first > last:
            self.add_error("to", _("Must not be before from."))
        return data


class KpiFilter(django_filters.FilterSet):
    kpi = django_filters.CharFilter(
        validators=[validate_kpi],
        help_text=gettext_lazy("A KPI code (docs/metrics.md lists them): nps, churn_rate, ..."),
    )
    segment = django_filters.CharFilter(
        validators=[validate_segment],
        help_text=gettext_lazy(
            '"all" (every member) or one slice, "<dimension>:<value>": store:TYO01, tier:gold, '
            "segment:new, channel:online, cohort:2026-01, age:30-39, gender:female, "
            "challenge:<code>, answer_store:TYO01, question:<id>."
        ),
    )
    period = django_filters.ChoiceFilter(choices=Period.choices)
    from_ = django_filters.DateFilter(
        field_name="period_start",
        lookup_expr="gte",
        help_text=gettext_lazy("Periods starting on or after this date (YYYY-MM-DD)."),
    )
    to = django_filters.DateFilter(
        field_name="period_start",
        lookup_expr="lte",
        help_text=gettext_lazy("Periods starting on or before this date (YYYY-MM-DD)."),
    )

    class Meta:
        model = KpiSnapshot
        fields = ["kpi", "segment", "period", "from_", "to"]
        form = KpiFilterForm


# `from` is a Python keyword: the filter is declared as from_ and published as `from`.
KpiFilter.base_filters = {
    ("from" if name == "from_" else name): value for name, value in KpiFilter.base_filters.items()
}


class _Number(serializers.DecimalField):
    """A stored decimal as a JSON number; a whole one (a count, points, most numerators) as
    an integer, `1250` rather than `1250.0`."""

    def to_representation(self, value):
        number = super().to_representation(value)
        if number is not None and number == number.to_integral_value():
            return int(number)
        return number


class TargetSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=KpiTarget.Kind.choices,
        help_text=gettext_lazy(
            "absolute: `value` is the value to reach; change: the change against the previous "
            "period."
        ),
    )
    value = _Number(max_digits=18, decimal_places=4, coerce_to_string=False)
    note = serializers.CharField()


def _number(**kwargs) -> serializers.DecimalField:
    return _Number(
        max_digits=20, decimal_places=4, coerce_to_string=False, allow_null=True, **kwargs
    )


class KpiSnapshotSerializer(serializers.ModelSerializer):
    label = serializers.SerializerMethodField()
    unit = serializers.SerializerMethodField()
    period_end = serializers.SerializerMethodField(help_text=gettext_lazy("The period's last day."))
    value = _number(help_text=gettext_lazy("null: undefined (no buyers, no answers)."))
    numerator = _number()
    denominator = _number()
    n = serializers.IntegerField(help_text=gettext_lazy("Sample size."))
    reliable = serializers.SerializerMethodField(
        help_text=gettext_lazy("false when the sample is below the KPI's reliable minimum.")
    )
    details = serializers.DictField()
    target = serializers.SerializerMethodField(
        help_text=gettext_lazy("The marketer's target for this KPI, segment and period.")
    )

    class Meta:
        model = KpiSnapshot
        fields = [
            "kpi",
            "label",
            "unit",
            "segment",
            "period",
            "period_start",
            "period_end",
            "value",
            "numerator",
            "denominator",
            "n",
            "reliable",
            "details",
            "target",
            "computed_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_label(self, obj) -> str:
        return kpi_meta(obj.kpi).label

    @extend_schema_field(
        {
            "type": "string",
            "nullable": True,
            "description": "percent, yen, count, points, score, years, per_year; null: unknown",
        }
    )
    def get_unit(self, obj):
        return kpi_meta(obj.kpi).unit

    @extend_schema_field(OpenApiTypes.DATE)
    def get_period_end(self, obj):
        return period_end(obj.period, obj.period_start) - dt.timedelta(days=1)

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_reliable(self, obj) -> bool:
        return obj.value is None or kpi_meta(obj.kpi).reliable(obj.n)

    @extend_schema_field(TargetSerializer(allow_null=True))
    def get_target(self, obj):
        if obj.target_kind is None:
            return None
        return TargetSerializer(
            {"kind": obj.target_kind, "value": obj.target_value, "note": obj.target_note}
        ).data


EXAMPLE = {
    "kpi": "nps",
    "label": "NPS",
    "unit": "score",
    "segment": "store:TYO01",
    "period": "quarter",
    "period_start": "2026-04-01",
    "period_end": "2026-06-30",
    "value": 32.5,
    "numerator": 130,
    "denominator": 400,
    "n": 400,
    "reliable": True,
    "details": {"promoters": 0.45, "passives": 0.425, "detractors": 0.125},
    "target": {"kind": "change", "value": 5, "note": "NPS +5 this quarter"},
    "computed_at": "2026-07-01T03:10:00+09:00",
}


@extend_schema_view(
    get=extend_schema(
        operation_id="kpis_list",
        summary=gettext_lazy("KPI snapshots with their targets"),
        description=(
            "Pre-computed KPI values, one per KPI, segment and period (the dashboard's numbers), "
            "ordered by kpi, segment, period and period start. A key bound to a store must ask "
            "for `segment=store:<its store>`."
        ),
        examples=[OpenApiExample("KPI page", value=EXAMPLE, response_only=True)],
        responses={
            200: KpiSnapshotSerializer(many=True),
            400: error_response(
                field_error(
                    "Unknown KPI", "kpi", "Unknown KPI nope: use a KPI code from docs/metrics.md."
                ),
                field_error("From after to", "to", "Must not be before from."),
                description=DESCRIPTIONS[400],  # keeps the generated examples beside these
            ),
            403: error_response(
                error_example(
                    "Other store", "permission_denied", "This API key may act only for store TYO01."
                ),
                description=DESCRIPTIONS[403],
            ),
        },
    )
)
class KpiListView(generics.ListAPIView):
    permission_classes = [scoped("kpis:read")]
    serializer_class = KpiSnapshotSerializer
    pagination_class = Page
    filterset_class = KpiFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return KpiSnapshot.objects.none()
        key = self.request.auth
        if isinstance(key, ApiKey) and key.store_id is not None:
            own = f"{STORE_PREFIX}{key.store.code}"
            if self.request.query_params.get("segment") != own:
                raise exceptions.PermissionDenied(
                    _("This API key may act only for store %(code)s.") % {"code": key.store.code}
                )
        return kpi_snapshots_with_targets()
