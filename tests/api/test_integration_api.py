import pytest
from rest_framework.test import APIClient

from loyalty.coupons import coupon_issue
from loyalty.models import Coupon, LedgerEntry, Purchase
from members.api_keys import api_key_create
from members.services import member_withdraw
from tests.loyalty.factories import CouponTemplateFactory
from tests.members.factories import MemberFactory, StaffFactory, StoreFactory

pytestmark = pytest.mark.django_db

WHEN = "2026-05-01T10:00:00+09:00"


def client_with(*scopes, store=None):
    _key, raw = api_key_create(name="POS", scopes=list(scopes), store=store)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def purchase_body(member, **over):
    body = {
        "order_id": "POS-1",
        "member_number": member.member_number,
        "occurred_at": WHEN,
        "total": 3240,
        "lines": [
            {"sku": "TEA", "quantity": 2, "unit_price": 1000},
            {"sku": "CAKE", "quantity": 1, "unit_price": 1240},
        ],
    }
    return {**body, **over}


def test_purchase_earns_points_and_replays_identically():
    member = MemberFactory()
    store = StoreFactory(code="TKY01")
    StaffFactory(code="ST-9", store=store)
    client = client_with("events:write")
    body = purchase_body(member, store_code="TKY01", staff_code="ST-9")

    first = client.post("/api/v1/purchases", body, format="json")
    again = client.post("/api/v1/purchases", body, format="json")

    assert first.status_code == 201
    assert first.json() == {
        "order_id": "POS-1",
        "member_number": member.member_number,
        "total": 3240,
        "returned_total": 0,
        "points_earned": 32,
        "points_state": "available",
    }
    assert (again.status_code, again.json(), again["Idempotent-Replay"]) == (
        201,
        first.json(),
        "true",
    )
    assert Purchase.objects.get().staff.code == "ST-9"
    conflict = client.post("/api/v1/purchases", {**body, "total": 9999}, format="json")
    assert conflict.status_code == 409
    assert list(conflict.json()["error"]["fields"]) == ["order_id"]
    # The same order number at another store, time, channel or by other staff is another
    # purchase, not a retry: a conflict, not a silent success.
    StoreFactory(code="OSA01")
    StaffFactory(code="ST-8", store=store)
    for other in (
        {"store_code": "OSA01"},
        {"occurred_at": "2026-02-01T10:00:00+09:00"},
        {"channel": "online"},
        {"staff_code": "ST-8"},
    ):
        answer = client.post("/api/v1/purchases", {**body, **other}, format="json")
        assert (answer.status_code, answer.json()["error"]["code"]) == (
            409,
            "idempotency_conflict",
        ), other
    assert Purchase.objects.count() == 1


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"member_number": "4111111111111111"}, "member_number"),
        ({"store_code": "NOPE"}, "store_code"),
        ({"staff_code": "NOPE"}, "staff_code"),
        ({"total": -1}, "total"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"lines": [{"sku": "A", "quantity": 0, "unit_price": 1}]}, "lines[0].quantity"),
        (
            {
                "lines": [
                    {"sku": "A", "quantity": 1, "unit_price": 1},
                    {"sku": "", "quantity": 1, "unit_price": 1},
                ]
            },
            "lines[1].sku",
        ),
        ({"channel": "fax"}, "channel"),
        ({"order_id": 42}, "order_id"),
        ({"total": "3240"}, "total"),
        ({"total": 10**13}, "total"),
        ({"occurred_at": "2099-01-01T00:00:00+09:00"}, "occurred_at"),
        ({"occurred_at": "9999-12-31T23:59:59+09:00"}, "occurred_at"),
        ({"occurred_at": "1999-12-31T23:59:59+09:00"}, "occurred_at"),
        ({"lines": [{"sku": "A", "quantity": 10**7, "unit_price": 1}]}, "lines[0].quantity"),
    ],
)
def test_bad_purchase_is_a_400_naming_the_field_and_writes_nothing(override, field):
    member = MemberFactory()
    response = client_with("events:write").post(
        "/api/v1/purchases", purchase_body(member, **override), format="json"
    )
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [field]
    assert (Purchase.objects.count(), LedgerEntry.objects.count()) == (0, 0)


def test_store_bound_key_may_only_act_for_its_store():
    member = MemberFactory()
    mine, other = StoreFactory(code="MINE"), StoreFactory(code="OTHER")
    client = client_with("events:write", store=mine)
    denied = client.post(
        "/api/v1/purchases", purchase_body(member, store_code="OTHER"), format="json"
    )
    assert denied.status_code == 403
    assert (
        client.post(
            "/api/v1/purchases", purchase_body(member, store_code="MINE"), format="json"
        ).status_code
        == 201
    )
    assert other.pk != mine.pk


def test_return_reverses_points_and_is_idempotent():
    member = MemberFactory()
    client = client_with("events:write")
    client.post("/api/v1/purchases", purchase_body(member), format="json")
    body = {"order_id": "POS-1", "return_id": "RET-1", "amount": 1620}
    first = client.post("/api/v1/returns", body, format="json")
    again = client.post("/api/v1/returns", body, format="json")
    assert (first.status_code, first.json()["points_reversed"]) == (201, 16)
    assert again.json() == first.json()
    # The same return id at another time is another return: a conflict.
    elsewhen = client.post(
        "/api/v1/returns", {**body, "occurred_at": "2026-12-01T10:00:00+09:00"}, format="json"
    )
    assert (elsewhen.status_code, elsewhen.json()["error"]["code"]) == (
        409,
        "idempotency_conflict",
    )
    member.refresh_from_db()
    assert member.points_available == 16
    unknown = client.post(
        "/api/v1/returns", {**body, "order_id": "NOPE", "return_id": "R2"}, format="json"
    )
    assert (unknown.status_code, list(unknown.json()["error"]["fields"])) == (400, ["order_id"])
    too_much = client.post(
        "/api/v1/returns", {**body, "return_id": "R3", "amount": 5000}, format="json"
    )
    assert (too_much.status_code, too_much.json()["error"]["code"]) == (
        409,
        "return_exceeds_purchase",
    )
    early = client.post(
        "/api/v1/returns",
        {**body, "return_id": "R4", "amount": 100, "occurred_at": "2020-01-01T00:00:00Z"},
        format="json",
    )
    assert (early.status_code, list(early.json()["error"]["fields"])) == (400, ["occurred_at"])
    member.refresh_from_db()
    assert member.points_available == 16


def test_points_adjustment_needs_scope_reason_and_key_and_happens_once():
    member = MemberFactory()
    body = {"member_number": member.member_number, "points": 50, "reason": "survey reward"}
    assert (
        client_with("events:write")
        .post("/api/v1/points/adjustments", body, format="json")
        .status_code
        == 403
    )
    client = client_with("points:adjust")
    first = client.post(
        "/api/v1/points/adjustments", body, format="json", HTTP_IDEMPOTENCY_KEY="adj-1"
    )
    again = client.post(
        "/api/v1/points/adjustments", body, format="json", HTTP_IDEMPOTENCY_KEY="adj-1"
    )
    assert (first.status_code, first.json()["balance_available"]) == (201, 50)
    assert again.json() == first.json()
    no_reason = client.post(
        "/api/v1/points/adjustments",
        {**body, "reason": ""},
        format="json",
        HTTP_IDEMPOTENCY_KEY="adj-2",
    )
    assert (no_reason.status_code, list(no_reason.json()["error"]["fields"])) == (400, ["reason"])
    overdraw = client.post(
        "/api/v1/points/adjustments",
        {**body, "points": -51},
        format="json",
        HTTP_IDEMPOTENCY_KEY="adj-3",
    )
    assert (overdraw.status_code, overdraw.json()["error"]["code"]) == (409, "insufficient_points")
    member.refresh_from_db()
    assert member.points_available == 50


def test_points_adjustments_are_once_per_caller_and_whole_key():
    member = MemberFactory()
    body = {"member_number": member.member_number, "points": 10, "reason": "monthly bonus"}
    first, second = client_with("points:adjust"), client_with("points:adjust")
    prefix = "loyalty-monthly-bonus-2026-12-member-" + "x" * 30  # longer than 58 characters
    answers = [
        first.post("/api/v1/points/adjustments", body, format="json", HTTP_IDEMPOTENCY_KEY=key)
        for key in (f"{prefix}-001", f"{prefix}-002")
    ]
    # Another caller's key is its own, even when the same text.
    answers.append(
        second.post(
            "/api/v1/points/adjustments", body, format="json", HTTP_IDEMPOTENCY_KEY=f"{prefix}-001"
        )
    )
    assert [a.status_code for a in answers] == [201, 201, 201]
    assert [a.has_header("Idempotent-Replay") for a in answers] == [False, False, False]
    assert len({a.json()["id"] for a in answers}) == 3
    member.refresh_from_db()
    assert member.points_available == 30
    assert LedgerEntry.objects.filter(member=member, kind="adjust").count() == 3
    # A withdrawn member's points are frozen until they expire: no adjustment either way.
    member_withdraw(member=member)
    for points in (10, -5):
        refused = first.post(
            "/api/v1/points/adjustments",
            {**body, "points": points},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"after-withdrawal-{points}",
        )
        assert (refused.status_code, refused.json()["error"]["code"]) == (409, "member_not_active")
    member.refresh_from_db()
    assert member.points_available == 30


def test_coupon_issue_and_redeem_exactly_once_over_the_api():
    member = MemberFactory()
    template = CouponTemplateFactory(code="welcome-500")
    issuer = client_with("coupons:issue")
    issued = issuer.post(
        "/api/v1/coupons/issue",
        {"template": "welcome-500", "member_number": member.member_number},
        format="json",
        HTTP_IDEMPOTENCY_KEY="iss-1",
    )
    assert issued.status_code == 201
    code = issued.json()["code"]
    assert Coupon.objects.filter(template=template).count() == 1

    till = client_with("coupons:redeem")
    used = till.post("/api/v1/coupons/redeem", {"code": code, "order_id": "T-1"}, format="json")
    retry = till.post(
        "/api/v1/coupons/redeem", {"code": code.lower(), "order_id": "T-1"}, format="json"
    )
    other = till.post("/api/v1/coupons/redeem", {"code": code, "order_id": "T-2"}, format="json")
    assert (used.status_code, used.json()["status"], used.json()["order_reference"]) == (
        200,
        "used",
        "T-1",
    )
    assert (retry.status_code, retry["Idempotent-Replay"]) == (200, "true")
    assert (other.status_code, other.json()["error"]["code"]) == (409, "coupon_already_used")
    unknown = till.post(
        "/api/v1/coupons/redeem", {"code": "NOPE", "order_id": "T-3"}, format="json"
    )
    assert (unknown.status_code, list(unknown.json()["error"]["fields"])) == (400, ["code"])


def test_coupon_valid_only_at_some_stores_reports_the_store_field():
    member = MemberFactory()
    allowed, other = StoreFactory(code="A1"), StoreFactory(code="B1")
    template = CouponTemplateFactory()
    template.stores.add(allowed)
    coupon = coupon_issue(template=template, member=member, issued_via="api")
    response = client_with("coupons:redeem").post(
        "/api/v1/coupons/redeem",
        {"code": coupon.code, "order_id": "X", "store_code": other.code},
        format="json",
    )
    assert (response.status_code, list(response.json()["error"]["fields"])) == (409, ["store_code"])
