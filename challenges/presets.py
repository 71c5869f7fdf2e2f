"""Shipped, tested presets: the challenges retailers ask for first, as definitions a marketer
creates with a few parameters (admin "Add from preset", `manage.py challenge_presets`) and can
then edit like any other challenge. docs/challenges.md shows each one's JSON.
"""

from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Preset:
    key: str
    title: str  # translated when shown
    params: dict[str, Any]  # parameter -> default (None: required)

    def definition(self, **given) -> dict:
        params = {**self.params, **given}
        missing = sorted(k for k, v in params.items() if v is None)
        if missing:
            raise ValueError(f"preset {self.key} needs: {', '.join(missing)}")
        return {"starts_at": timezone.now(), **BUILDERS[self.key](**params)}


def _first_purchase_of_product(*, sku, points):
    return {
        "name": f"First purchase of {sku}",
        "description": f"Buy {sku} for the first time: {points} bonus points.",
        "triggers": ["purchase"],
        "conditions": {"field": "member.new_skus", "op": "contains", "value": sku},
        "effects": [{"type": "points", "points": points}],
        "limit": {"count": 1, "period": "campaign"},
    }


def _staff_ambassador(*, staff_code, points):
    return {
        "name": f"Served by {staff_code}",
        "description": f"Shop with our ambassador {staff_code}: {points} points (once a day).",
        "triggers": ["purchase"],
        "conditions": {"field": "event.staff", "op": "eq", "value": staff_code},
        "effects": [{"type": "points", "points": points}],
        "limit": {"count": 1, "period": "day"},
    }


def _sns_follow(*, platform, account, points):
    return {
        "name": f"Follow us on {platform}",
        "description": f"Follow {account} on {platform}: {points} points once staff confirm it.",
        "triggers": ["sns_follow"],
        "conditions": {
            "all": [
                {"field": "event.payload.platform", "op": "eq", "value": platform},
                {"field": "event.payload.account", "op": "eq", "value": account},
            ]
        },
        "effects": [{"type": "points", "points": points}],
        "limit": {"count": 1, "period": "campaign"},
        "requires_verification": True,
    }


def _survey_answered(*, survey, points):
    return {
        "name": f"Answer the survey {survey}",
        "description": f"Tell us what you think: {points} points.",
        "triggers": ["survey_answered"],
        "conditions": {"field": "event.payload.survey", "op": "eq", "value": survey},
        "effects": [{"type": "points", "points": points}],
        "limit": {"count": 1, "period": "campaign"},
    }


def _event_attendance(*, event_code, points):
    return {
        "name": f"Join us at {event_code}",
        "description": f"Come to our event {event_code}: {points} points, confirmed at the door.",
        "triggers": ["event_attendance"],
        "conditions": {"field": "event.payload.event_code", "op": "eq", "value": event_code},
        "effects": [{"type": "points", "points": points}],
        "limit": {"count": 1, "period": "campaign"},
        "requires_verification": True,
    }


def _rainy_day_visit(*, points):
    return {
        "name": "Rainy day visit",
        "description": f"Visit a store on a rainy day: {points} points (once a day).",
        "triggers": ["visit"],
        "conditions": {"field": "weather.condition", "op": "eq", "value": "rain"},
        "effects": [{"type": "points", "points": points}],
        "limit": {"count": 1, "period": "day"},
    }


def _visit_three_times_a_month(*, visits, points):
    return {
        "name": f"Visit {visits} times this month",
        "description": f"Visit any store {visits} times in a month: {points} points.",
        "triggers": ["visit"],
        "goal": {"kind": "count", "target": visits, "window": "month"},
        "effects": [{"type": "points", "points": points}],
        "limit": {"count": 1, "period": "month"},
    }


def _birthday_double_points(*, factor):
    return {
        "name": "Birthday month double points",
        "description": "Purchases in your birthday month earn double points.",
        "triggers": ["purchase"],
        "conditions": {"field": "member.is_birthday_month", "op": "eq", "value": True},
        "effects": [{"type": "multiplier", "factor": str(factor)}],
    }


# The scheduler sends one birthday and one anniversary event a year and one win_back event per
# threshold crossed; the monthly limit also stops a second one sent by any other source.
def _birthday_gift(*, points):
    return {
        "name": "Birthday gift",
        "description": f"Happy birthday! {points} points on your birthday.",
        "triggers": ["birthday"],
        "effects": [{"type": "points", "points": points}],
        "limit": {"count": 1, "period": "month"},
    }


def _membership_anniversary(*, points):
    return {
        "name": "Membership anniversary",
        "description": f"Thank you for another year with us: {points} points.",
        "triggers": ["anniversary"],
        "effects": [{"type": "points", "points": points}],
        "limit": {"count": 1, "period": "month"},
    }


def _win_back(*, days, points, coupon_template):
    effect = (
        {"type": "coupon", "template": coupon_template}
        if coupon_template
        else {"type": "points", "points": points}
    )
    gift = "a coupon" if coupon_template else f"{points} points"
    return {
        "name": f"We miss you ({days} days)",
        "description": f"No visit or purchase for {days} days: {gift} to welcome you back.",
        "triggers": ["win_back"],
        "conditions": {"field": "event.payload.days_absent", "op": "eq", "value": days},
        "effects": [effect],
        "limit": {"count": 1, "period": "month"},
    }


BUILDERS = {
    "first_purchase_of_product": _first_purchase_of_product,
    "staff_ambassador": _staff_ambassador,
    "sns_follow": _sns_follow,
    "survey_answered": _survey_answered,
    "event_attendance": _event_attendance,
    "rainy_day_visit": _rainy_day_visit,
    "visit_three_times_a_month": _visit_three_times_a_month,
    "birthday_double_points": _birthday_double_points,
    "birthday_gift": _birthday_gift,
    "membership_anniversary": _membership_anniversary,
    "win_back": _win_back,
}

PRESETS = {
    p.key: p
    for p in [
        Preset(
            "first_purchase_of_product",
            _("First purchase of a product"),
            {"sku": None, "points": 100},
        ),
        Preset(
            "staff_ambassador",
            _("Purchase served by a staff member"),
            {"staff_code": None, "points": 50},
        ),
        Preset(
            "sns_follow",
            _("Follow the store on SNS"),
            {"platform": "instagram", "account": None, "points": 100},
        ),
        Preset("survey_answered", _("Answer a survey"), {"survey": None, "points": 30}),
        Preset("event_attendance", _("Attend an event"), {"event_code": None, "points": 200}),
        Preset("rainy_day_visit", _("Visit a store on a rainy day"), {"points": 50}),
        Preset(
            "visit_three_times_a_month", _("Visit 3 times this month"), {"visits": 3, "points": 150}
        ),
        Preset("birthday_double_points", _("Birthday month double points"), {"factor": 2}),
        Preset("birthday_gift", _("Birthday gift (points on the birthday)"), {"points": 500}),
        Preset("membership_anniversary", _("Membership anniversary bonus"), {"points": 300}),
        Preset(
            "win_back",
            _("Win back after 60 days away"),
            {"days": 60, "points": 200, "coupon_template": ""},
        ),
    ]
}
