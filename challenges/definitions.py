"""A challenge definition: the JSON a marketer writes (admin, API, presets), checked once when
saved, with errors naming the field, and compiled once per version into an evaluator Rule.

{
  "name": "Rainy day visit", "description": "Visit a store when it rains: 50 points.",
  "triggers": ["visit"],
  "conditions": {"all": [{"field": "weather.condition", "op": "eq", "value": "rain"}]},
  "effects": [{"type": "points", "points": 50}],
  "goal": null,                      # or {"kind": "count", "target": 3, "window": "month"}
  "starts_at": "2026-11-01T00:00:00+09:00", "ends_at": null,
  "limit": {"count": 1, "period": "day"},        # or null: no limit
  "budget": {"points": 100000, "coupons": null},
  "priority": 0, "exclusive": false,
  "audience": {"tiers": [], "stores": [], "segments": []},
  "requires_verification": false
}
"""

from decimal import Decimal
from functools import lru_cache

from django.utils.translation import gettext as _
from rest_framework import serializers

from loyalty.api.fields import OffsetDateTimeField, StrictSlugRelatedField
from loyalty.models import CouponTemplate
from members.models import Store, Tier

from .conditions import InvalidCondition, compile_condition, validate_condition
from .evaluator import SEGMENTS, Effect, Goal, Rule
from .models import ChallengeVersion, EventType
from .models.rules import LimitPeriod

PURCHASE_TYPES = {"purchase"}
EFFECT_TYPES = ("points", "points_per_amount", "multiplier", "coupon")
GOAL_KINDS = ("count", "total_spend", "streak_weeks")
GOAL_WINDOWS = ("campaign", "month", "week", "day")
_JSON_TYPES = {"string": "string", "number": "number", "integer": "number", "boolean": "boolean"}


def payload_fields(type_codes) -> dict[str, str]:
    """Condition field types of `event.payload.<key>`, read from the event types' schemas."""
    fields: dict[str, str] = {}
    for event_type in EventType.objects.filter(code__in=list(type_codes)):
        properties = (event_type.payload_schema or {}).get("properties", {})
        for key, spec in properties.items():
            json_type = spec.get("type") if isinstance(spec, dict) else None
            if json_type == "array" and spec.get("items", {}).get("type") == "string":
                fields[key] = "string_set"
            elif json_type in _JSON_TYPES:
                fields[key] = _JSON_TYPES[json_type]
    return fields


class EffectSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=EFFECT_TYPES)
    points = serializers.IntegerField(min_value=1, max_value=10_000_000, required=False)
    per = serializers.IntegerField(min_value=1, max_value=10_000_000, required=False)
    factor = serializers.DecimalField(
        max_digits=4, decimal_places=2, min_value=Decimal("1.01"), required=False
    )
    template = StrictSlugRelatedField(
        slug_field="code", queryset=CouponTemplate.objects.all(), required=False
    )

    NEEDS = {
        "points": ("points",),
        "points_per_amount": ("points", "per"),
        "multiplier": ("factor",),
        "coupon": ("template",),
    }

    def validate(self, attrs):
        needed = self.NEEDS[attrs["type"]]
        missing = {name: [_("Required for a %s effect.") % attrs["type"]] for name in needed}
        for name in needed:
            if name in attrs:
                missing.pop(name)
        if missing:
            raise serializers.ValidationError(missing)
        extra = sorted(set(attrs) - set(needed) - {"type"})
        if extra:
            raise serializers.ValidationError(
                {name: [_("Not used by a %s effect.") % attrs["type"]] for name in extra}
            )
        return attrs


class GoalSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=GOAL_KINDS)
    target = serializers.IntegerField(min_value=1, max_value=100_000_000)
    window = serializers.ChoiceField(choices=GOAL_WINDOWS, default="campaign")

    def validate(self, attrs):
        if attrs["kind"] == "streak_weeks" and attrs["window"] != "campaign":
            raise serializers.ValidationError(
                {"window": [_("A streak runs over the whole challenge: use campaign.")]}
            )
        return attrs


class LimitSerializer(serializers.Serializer):
    count = serializers.IntegerField(min_value=1, max_value=10_000)
    period = serializers.ChoiceField(choices=LimitPeriod.choices, default=LimitPeriod.CAMPAIGN)


class BudgetSerializer(serializers.Serializer):
    # The columns' ranges (bigint, integer): beyond them a save was a database error (500).
    points = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, required=False, allow_null=True, default=None
    )
    coupons = serializers.IntegerField(
        min_value=1, max_value=2**31 - 1, required=False, allow_null=True, default=None
    )


class AudienceSerializer(serializers.Serializer):
    tiers = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    stores = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    segments = serializers.ListField(
        child=serializers.ChoiceField(choices=SEGMENTS), required=False, default=list
    )

    def validate_tiers(self, codes):
        known = set(Tier.objects.filter(code__in=codes).values_list("code", flat=True))
        unknown = sorted(set(codes) - known)
        if unknown:
            raise serializers.ValidationError(_("Unknown tier(s): %s") % ", ".join(unknown))
        return codes

    def validate_stores(self, codes):
        known = set(Store.objects.filter(code__in=codes).values_list("code", flat=True))
        unknown = sorted(set(codes) - known)
        if unknown:
            raise serializers.ValidationError(_("Unknown store(s): %s") % ", ".join(unknown))
        return codes


class DefinitionSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(allow_blank=True, required=False, default="")
    triggers = serializers.ListField(
        child=serializers.SlugField(max_length=40), min_length=1, max_length=20
    )
    conditions = serializers.JSONField(required=False, default=dict)
    effects = EffectSerializer(many=True, allow_empty=False, max_length=10)
    goal = GoalSerializer(required=False, allow_null=True, default=None)
    starts_at = OffsetDateTimeField()
    ends_at = OffsetDateTimeField(required=False, allow_null=True, default=None)
    limit = LimitSerializer(required=False, allow_null=True, default=None)
    budget = BudgetSerializer(required=False, default=dict)
    priority = serializers.IntegerField(min_value=-1000, max_value=1000, default=0)
    exclusive = serializers.BooleanField(default=False)
    audience = AudienceSerializer(required=False, default=dict)
    requires_verification = serializers.BooleanField(default=False)

    def validate_triggers(self, codes):
        known = set(EventType.objects.filter(code__in=codes).values_list("code", flat=True))
        unknown = sorted(set(codes) - known)
        if unknown:
            raise serializers.ValidationError(_("Unknown event type(s): %s") % ", ".join(unknown))
        return sorted(set(codes))

    def validate_conditions(self, tree):
        # Checked on its own (not in validate) so its errors come with every other field's.
        triggers = self.initial_data.get("triggers") if isinstance(self.initial_data, dict) else []
        triggers = [t for t in triggers if isinstance(t, str)] if isinstance(triggers, list) else []
        try:
            validate_condition(tree, payload_fields=payload_fields(triggers))
        except InvalidCondition as exc:
            raise serializers.ValidationError(
                [f"{e.path}: {e.message}" if e.path else e.message for e in exc.errors]
            ) from None
        return tree

    def validate(self, attrs):
        errors = {}
        triggers = set(attrs.get("triggers", ()))
        if attrs.get("ends_at") and attrs["ends_at"] <= attrs["starts_at"]:
            errors["ends_at"] = [_("Must be after starts_at.")]
        amount_based = [
            e for e in attrs["effects"] if e["type"] in ("points_per_amount", "multiplier")
        ]
        goal = attrs.get("goal")
        if (amount_based or (goal and goal["kind"] in ("total_spend", "streak_weeks"))) and (
            triggers - PURCHASE_TYPES
        ):
            errors["triggers"] = [
                _("Amount-based effects and spend or streak goals need purchase events only.")
            ]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


def definition_from_version(version: ChallengeVersion) -> dict:
    """The definition a version was created from (for editing and the API)."""
    return {
        "name": version.name,
        "description": version.description,
        "triggers": list(version.triggers),
        "conditions": version.conditions,
        "effects": version.effects,
        "goal": version.goal,
        "starts_at": serializers.DateTimeField().to_representation(version.starts_at),
        "ends_at": version.ends_at
        and serializers.DateTimeField().to_representation(version.ends_at),
        "limit": {"count": version.limit_count, "period": version.limit_period}
        if version.limit_count
        else None,
        "budget": {"points": version.budget_points, "coupons": version.budget_coupons},
        "priority": version.priority,
        "exclusive": version.exclusive,
        "audience": version.audience,
        "requires_verification": version.requires_verification,
    }


def version_fields(data: dict) -> dict:
    """Validated definition -> ChallengeVersion field values (JSON-ready effects)."""
    effects = []
    for effect in data["effects"]:
        stored = {"type": effect["type"]}
        for key in ("points", "per"):
            if key in effect:
                stored[key] = effect[key]
        if "factor" in effect:
            stored["factor"] = str(effect["factor"])
        if "template" in effect:
            stored["template"] = effect["template"].code
        effects.append(stored)
    limit = data.get("limit") or {}
    budget = data.get("budget") or {}
    audience = data.get("audience") or {}
    return {
        "name": data["name"],
        "description": data.get("description", ""),
        "triggers": data["triggers"],
        "conditions": data.get("conditions") or {},
        "effects": effects,
        "goal": dict(data["goal"]) if data.get("goal") else None,
        "starts_at": data["starts_at"],
        "ends_at": data.get("ends_at"),
        "limit_count": limit.get("count"),
        "limit_period": limit.get("period", LimitPeriod.CAMPAIGN),
        "budget_points": budget.get("points"),
        "budget_coupons": budget.get("coupons"),
        "priority": data.get("priority", 0),
        "exclusive": data.get("exclusive", False),
        "audience": {
            "tiers": list(audience.get("tiers", [])),
            "stores": list(audience.get("stores", [])),
            "segments": list(audience.get("segments", [])),
        },
        "requires_verification": data.get("requires_verification", False),
    }


@lru_cache(maxsize=4096)
def _compiled(version_id: int, created_at) -> Rule:
    return rule_from_version(ChallengeVersion.objects.get(pk=version_id))


def rule_for(version: ChallengeVersion | tuple[int, object]) -> Rule:
    """The compiled rule of a version, cached (versions never change). The key includes the
    creation time, so an id reused after a rolled-back insert (SQLite) is never confused."""
    if isinstance(version, ChallengeVersion):
        return _compiled(version.pk, version.created_at)
    return _compiled(*version)


def rule_from_version(version: ChallengeVersion) -> Rule:
    audience = version.audience or {}
    goal = version.goal
    return Rule(
        version_id=version.pk,
        challenge_id=version.challenge_id,
        name=version.name,
        triggers=frozenset(version.triggers),
        predicate=compile_condition(
            version.conditions or {}, payload_fields=payload_fields(version.triggers)
        ),
        effects=tuple(
            Effect(
                kind=e["type"],
                points=e.get("points", 0),
                per=e.get("per", 0),
                factor=Decimal(e.get("factor", "1")),
                template=e.get("template", ""),
            )
            for e in version.effects
        ),
        starts_at=version.starts_at,
        ends_at=version.ends_at,
        goal=Goal(kind=goal["kind"], target=goal["target"], window=goal.get("window", "campaign"))
        if goal
        else None,
        limit_count=version.limit_count,
        limit_period=version.limit_period,
        budget_points=version.budget_points,
        budget_coupons=version.budget_coupons,
        priority=version.priority,
        exclusive=version.exclusive,
        audience_tiers=frozenset(audience.get("tiers", ())),
        audience_stores=frozenset(audience.get("stores", ())),
        audience_segments=frozenset(audience.get("segments", ())),
        requires_verification=version.requires_verification,
    )
