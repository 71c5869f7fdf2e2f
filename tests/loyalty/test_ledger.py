import datetime as dt
from dataclasses import replace

import pytest
from django.db import IntegrityError, connection, transaction

from loyalty.errors import IdempotencyConflict, InsufficientPoints, InvalidAmount
from loyalty.ledger import (
    Credit,
    ledger_sums,
    points_adjust,
    points_credit_many,
    points_earn,
    points_expire_due,
    points_refund,
    points_release_due,
    points_spend,
)
from loyalty.models import LedgerEntry, LotMovement, PointLot
from loyalty.models.ledger import EntryKind, EntrySource
from tests.members.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 1, 10, 12, 0, tzinfo=dt.UTC)


def day(n: int) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


def balances(member):
    member.refresh_from_db()
    return (member.points_available, member.points_pending, member.points_debt)


def assert_cache_matches_ledger(member):
    member.refresh_from_db()
    sums = ledger_sums([member.pk]).get(member.pk)
    assert sums == {
        "points_available": member.points_available,
        "points_pending": member.points_pending,
        "points_debt": member.points_debt,
        "points_lifetime": member.points_lifetime,
    }


def earn(member, points, *, at=T0, expires=None, available_at=None):
    return points_earn(
        member=member,
        points=points,
        source=EntrySource.PURCHASE,
        now=at,
        expires_at=expires,
        available_at=available_at,
    )


def test_earn_adds_an_available_lot_with_policy_expiry(settings):
    settings.LOYALTY_EXPIRY_MONTHS = 12
    member = MemberFactory()
    entry = earn(member, 120)
    assert balances(member) == (120, 0, 0)
    assert entry.expires_at == dt.datetime(2027, 1, 10, 12, 0, tzinfo=dt.UTC)
    lot = PointLot.objects.get(entry=entry)
    assert (lot.points, lot.remaining, lot.state) == (120, 120, "available")
    assert_cache_matches_ledger(member)


def test_spend_consumes_soonest_expiring_lots_first_and_records_them():
    member = MemberFactory()
    late = earn(member, 100, expires=day(300))
    soon = earn(member, 50, expires=day(30))
    never = earn(member, 70, expires=None)
    # An explicit None expiry falls back to the policy; make a truly never-expiring lot:
    PointLot.objects.filter(entry=never).update(expires_at=None)

    spend = points_spend(member=member, points=120, reference="ORDER-1", now=day(1))

    assert spend.points == -120
    moves = dict(LotMovement.objects.filter(entry=spend).values_list("lot__entry_id", "points"))
    assert moves == {soon.pk: -50, late.pk: -70}
    assert PointLot.objects.get(entry=never).remaining == 70
    assert balances(member) == (100, 0, 0)
    assert_cache_matches_ledger(member)


def test_spend_more_than_available_is_refused_and_changes_nothing():
    member = MemberFactory()
    earn(member, 30)
    with pytest.raises(InsufficientPoints) as exc:
        points_spend(member=member, points=31, reference="X", now=day(1))
    assert (exc.value.available, exc.value.requested) == (30, 31)
    assert LedgerEntry.objects.filter(member=member).count() == 1
    assert balances(member) == (30, 0, 0)


@pytest.mark.parametrize("bad", [0, -5, 1.5, "10", True])
def test_spend_rejects_non_positive_or_non_integer_points(bad):
    member = MemberFactory()
    earn(member, 30)
    with pytest.raises(InvalidAmount):
        points_spend(member=member, points=bad, reference="X")
    assert balances(member) == (30, 0, 0)


def test_expiry_takes_only_what_is_left_and_is_idempotent():
    member = MemberFactory()
    lot_entry = earn(member, 100, expires=day(10))
    earn(member, 40, expires=day(100))
    points_spend(member=member, points=60, reference="A", now=day(1))  # 60 from the soon lot

    assert points_expire_due(now=day(10)) == 1
    assert points_expire_due(now=day(10)) == 0  # second run of the same night: nothing

    expired = LedgerEntry.objects.get(member=member, kind=EntryKind.EXPIRE)
    assert expired.points == -40
    assert PointLot.objects.get(entry=lot_entry).remaining == 0
    assert balances(member) == (40, 0, 0)
    assert_cache_matches_ledger(member)


def test_spend_ignores_lots_past_expiry_not_yet_expired_by_the_job():
    member = MemberFactory()
    earn(member, 100, expires=day(10))
    with pytest.raises(InsufficientPoints):
        points_spend(member=member, points=50, reference="late", now=day(11))
    assert balances(member) == (100, 0, 0)  # the nightly job will expire them


def test_pending_points_release_once_after_the_window():
    member = MemberFactory()
    earn(member, 80, available_at=day(14))
    assert balances(member) == (0, 80, 0)
    with pytest.raises(InsufficientPoints):
        points_spend(member=member, points=1, reference="A", now=day(1))

    assert points_release_due(now=day(13)) == 0
    assert points_release_due(now=day(14)) == 1
    assert points_release_due(now=day(15)) == 0
    assert balances(member) == (80, 0, 0)
    kinds = list(
        LedgerEntry.objects.filter(member=member, kind=EntryKind.RELEASE)
        .order_by("id")
        .values_list("state", "points")
    )
    assert kinds == [("pending", -80), ("available", 80)]
    assert_cache_matches_ledger(member)


def test_refund_restores_the_exact_lots_a_spend_consumed():
    member = MemberFactory()
    a = earn(member, 50, expires=day(30))
    b = earn(member, 50, expires=day(60))
    points_spend(member=member, points=80, reference="ORDER-9", now=day(1))
    # Partial refund gives back the longest-lived points first.
    points_refund(member=member, reference="ORDER-9", points=20, now=day(2))
    assert PointLot.objects.get(entry=a).remaining == 0
    assert PointLot.objects.get(entry=b).remaining == 40
    points_refund(member=member, reference="ORDER-9", points=100, now=day(2))  # capped at spent
    assert PointLot.objects.get(entry=a).remaining == 50
    assert PointLot.objects.get(entry=b).remaining == 50
    assert balances(member) == (100, 0, 0)
    assert points_refund(member=member, reference="ORDER-9", points=1) is None
    assert_cache_matches_ledger(member)


def test_adjust_needs_a_reason_and_cannot_go_negative():
    member = MemberFactory()
    staff = UserFactory()
    with pytest.raises(InvalidAmount) as exc:
        points_adjust(member=member, points=10, reason="  ", created_by=staff)
    assert exc.value.field == "reason"
    entry, created = points_adjust(member=member, points=10, reason="goodwill", created_by=staff)
    assert created is True
    assert (entry.kind, entry.points, entry.created_by_id) == ("adjust", 10, staff.pk)
    with pytest.raises(InsufficientPoints):
        points_adjust(member=member, points=-11, reason="typo", created_by=staff)
    points_adjust(member=member, points=-4, reason="typo", created_by=staff)
    assert balances(member) == (6, 0, 0)
    assert_cache_matches_ledger(member)


def test_ledger_entries_cannot_be_updated_in_python_or_sql():
    member = MemberFactory()
    entry = earn(member, 10)
    with pytest.raises(RuntimeError):
        entry.save()
    with pytest.raises(RuntimeError):
        entry.delete()
    with pytest.raises(IntegrityError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE loyalty_ledgerentry SET points = 999 WHERE id = %s", [entry.pk])
    assert LedgerEntry.objects.get(pk=entry.pk).points == 10


@pytest.mark.postgres
def test_ledger_entries_cannot_be_deleted_in_sql_on_postgres():
    member = MemberFactory()
    entry = earn(member, 10)
    with pytest.raises(IntegrityError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM loyalty_ledgerentry WHERE id = %s", [entry.pk])
    assert LedgerEntry.objects.filter(pk=entry.pk).count() == 1


def test_adjust_with_a_reference_happens_once():
    member = MemberFactory()
    staff = UserFactory()
    first, created = points_adjust(
        member=member, points=25, reason="survey", created_by=staff, reference="K1"
    )
    again, created_again = points_adjust(
        member=member, points=25, reason="survey", created_by=staff, reference="K1"
    )
    assert (created, created_again, again.pk) == (True, False, first.pk)
    with pytest.raises(IdempotencyConflict):
        points_adjust(member=member, points=26, reason="survey", created_by=staff, reference="K1")
    assert balances(member) == (25, 0, 0)
    assert LedgerEntry.objects.filter(member=member).count() == 1


@pytest.mark.parametrize("parameter_limit", ["the database's", 999])
def test_credit_many_writes_every_members_balances(
    parameter_limit, monkeypatch, django_assert_max_num_queries
):
    # 250 members: more than one UPDATE's worth under 999 parameters (SQLite's limit; 9 a
    # member there, 5 on PostgreSQL).
    if parameter_limit == 999:
        monkeypatch.setattr(connection.features, "max_query_params", 999)
    members = MemberFactory.create_batch(250)
    bystander = MemberFactory()
    earn(bystander, 40)
    for member in members[::3]:
        earn(member, 10)  # an earlier balance the credit adds to
    credits = [
        Credit(
            member_id=member.pk,
            points=1 + i,
            source=EntrySource.CHALLENGE,
            occurred_at=T0,
            expires_at=None,
            # Every fourth waits out a return window: pending, not available.
            available_at=day(14) if i % 4 == 0 else None,
        )
        for i, member in enumerate(members)
    ]
    credits.append(replace(credits[1], points=1000))  # a second credit for one member
    with transaction.atomic(), django_assert_max_num_queries(12):
        entries = points_credit_many(credits, now=T0)

    assert len(entries) == 251
    for i, member in enumerate(members):
        before = 10 if i % 3 == 0 else 0
        points = 1 + i + (1000 if i == 1 else 0)
        pending = points if i % 4 == 0 else 0
        member.refresh_from_db()
        assert (member.points_available, member.points_pending, member.points_lifetime) == (
            before + points - pending,
            pending,
            before + points,
        ), i
        assert_cache_matches_ledger(member)
    assert balances(bystander) == (40, 0, 0)
