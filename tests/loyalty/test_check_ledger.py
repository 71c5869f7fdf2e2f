import pytest
from django.core.management import call_command

from loyalty.ledger import points_earn, points_spend
from loyalty.models import PointLot
from loyalty.models.ledger import EntrySource
from members.models import Member
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def run(capsys):
    try:
        call_command("check_ledger")
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out + out.err


def test_clean_ledger_reports_ok(capsys):
    member = MemberFactory()
    points_earn(member=member, points=100, source=EntrySource.API)
    points_spend(member=member, points=40, reference="A")
    code, output = run(capsys)
    assert code == 0
    assert "ledger OK" in output


def test_drift_in_a_cached_balance_is_reported_and_exits_non_zero(capsys):
    member = MemberFactory()
    points_earn(member=member, points=100, source=EntrySource.API)
    Member.objects.filter(pk=member.pk).update(points_available=150)  # tampering
    code, output = run(capsys)
    assert code == 1
    assert f"member {member.pk}: points_available cached 150 != ledger 100" in output


def test_drift_in_a_lot_is_reported(capsys):
    member = MemberFactory()
    entry = points_earn(member=member, points=100, source=EntrySource.API)
    PointLot.objects.filter(entry=entry).update(remaining=90)
    code, output = run(capsys)
    assert code == 1
    assert "remaining 90 != 100 + movements" in output
    assert "available lots 90 != ledger 100" in output
