"""OpenAPI examples of the events and challenge endpoints (shown in /api/docs/ and used by the
schemathesis run's example phase)."""

from drf_spectacular.utils import OpenApiExample

from loyalty.api.common import MEMBER_NUMBER
from loyalty.api.schema import error_example, error_response

CLIENT_ID_CONFLICT = error_response(
    error_example(
        "client_id used for another event",
        "idempotency_conflict",
        "This client_id was already used for a different event.",
        {"client_id": ["Already used for a different event."]},
    )
)

EVENT_IN = {
    "client_id": "app-7f3c9a2e",
    "type": "sns_follow",
    "member_number": MEMBER_NUMBER,
    "occurred_at": "2026-06-05T10:00:00+09:00",
    "store_code": "TYO01",
    "payload": {"platform": "instagram", "account": "@matcha_tokyo"},
}

EVENT_OUT = {
    "client_id": "app-7f3c9a2e",
    "type": "sns_follow",
    "member_number": MEMBER_NUMBER,
    "store_code": "TYO01",
    "occurred_at": "2026-06-05T10:00:00+09:00",
    "payload": {"platform": "instagram", "account": "@matcha_tokyo"},
    "weather": {"condition": "rain", "precipitation_mm": 4.5},
    "status": "processed",
    "rejection": "",
    "received_at": "2026-06-05T10:00:01+09:00",
    "processed_at": "2026-06-05T10:00:02+09:00",
    "effects": [
        {
            "challenge": "sns-follow",
            "version": 2,
            "kind": "points",
            "points": 100,
            "points_reversed": 0,
            "coupon": None,
        }
    ],
    "verifications": [],
}

EVENTS_CREATE = [
    OpenApiExample("One event", request_only=True, value=EVENT_IN),
    OpenApiExample(
        "A batch",
        request_only=True,
        value={
            "events": [
                {**EVENT_IN, "client_id": "visit-0001", "type": "visit", "payload": {}},
                {
                    **EVENT_IN,
                    "client_id": "survey-0001",
                    "type": "survey_answered",
                    "payload": {"survey": "nps-2026-06", "score": 9},
                },
            ]
        },
    ),
    OpenApiExample(
        "Accepted",
        response_only=True,
        status_codes=["201"],
        value={
            **EVENT_OUT,
            "status": "pending",
            "processed_at": None,
            "effects": [],
            "weather": None,
        },
    ),
    OpenApiExample(
        "Batch results",
        response_only=True,
        status_codes=["200"],
        value={
            "accepted": 1,
            "duplicates": 0,
            "rejected": 1,
            "conflicts": 0,
            "results": [
                {
                    "index": 0,
                    "client_id": "visit-0001",
                    "result": "accepted",
                    "status": "pending",
                    "errors": {},
                },
                {
                    "index": 1,
                    "client_id": "survey-0001",
                    "result": "rejected",
                    "status": "",
                    "errors": {"payload": ["'survey' is a required property"]},
                },
            ],
        },
    ),
]

EVENTS_RETRIEVE = [OpenApiExample("Processed", response_only=True, value=EVENT_OUT)]

ME_EVENTS_CREATE = [
    OpenApiExample(
        "SNS follow",
        request_only=True,
        value={key: value for key, value in EVENT_IN.items() if key != "member_number"},
    ),
    OpenApiExample(
        "Accepted",
        response_only=True,
        status_codes=["201"],
        value={
            **EVENT_OUT,
            "status": "pending",
            "processed_at": None,
            "effects": [],
            "weather": None,
        },
    ),
]

ME_EVENTS_CREATE.append(
    OpenApiExample("Sent before", response_only=True, status_codes=["200"], value=EVENT_OUT)
)

DRY_RUN = [
    OpenApiExample(
        "A visit on a clear day",
        request_only=True,
        value={
            "type": "visit",
            "member_number": MEMBER_NUMBER,
            "occurred_at": "2026-06-05T10:00:00+09:00",
            "store_code": "TYO01",
            "weather": {"condition": "clear", "precipitation_mm": 0},
        },
    ),
    OpenApiExample(
        "Why each rule would or would not fire",
        response_only=True,
        value={
            "event_type": "visit",
            "member_number": MEMBER_NUMBER,
            "base_points": 0,
            "weather": {"condition": "clear", "precipitation_mm": 0},
            "outcomes": [
                {
                    "challenge": "rainy-day-visit",
                    "version": 1,
                    "name": "Rainy day visit",
                    "fires": False,
                    "stage": "condition",
                    "reason": "condition: weather.condition is 'clear', needs eq 'rain'",
                    "failed_path": "",
                    "points": 0,
                    "coupons": [],
                    "progress": None,
                },
                {
                    "challenge": "visit-three-times-a-month",
                    "version": 1,
                    "name": "Visit 3 times this month",
                    "fires": False,
                    "stage": "goal",
                    "reason": "goal: progress 2 of 3",
                    "failed_path": "",
                    "points": 0,
                    "coupons": [],
                    "progress": 2,
                },
            ],
        },
    ),
]

ME_CHALLENGES = [
    OpenApiExample(
        "Open challenges",
        response_only=True,
        value=[
            {
                "code": "visit-three-times-a-month",
                "version": 1,
                "name": "Visit 3 times this month",
                "description": "Visit any store 3 times in a month: 150 points.",
                "triggers": ["visit"],
                "ends_at": None,
                "reward_points": 150,
                "reward_coupons": [],
                "limit": 1,
                "limit_period": "month",
                "times_this_period": 0,
                "progress": {
                    "kind": "count",
                    "target": 3,
                    "window": "2026-06",
                    "value": 2,
                    "completed": False,
                },
            }
        ],
    )
]
