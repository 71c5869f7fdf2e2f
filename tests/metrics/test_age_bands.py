"""Which members' age band moves between two days (segments.age_band_moved): the nightly
member state re-reads those members, and no others, for their age."""

import datetime as dt

import pytest

from members.models import Member
from metrics.kpis.segments import age_band_moved, member_dimension
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def _moved(before: str, after: str) -> set[str]:
    members = Member.objects.filter(age_band_moved(d(before), d(after)))
    return set(members.values_list("member_number", flat=True))


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def test_a_night_moves_the_members_turning_20_30_40_50_60():
    for number, born in [
        ("turns-20", "2006-10-10"),  # -19 on 9 October 2026, 20-29 on the 10th
        ("turned-20", "2006-10-09"),  # 20-29 on both days
        ("turns-21", "2005-10-10"),  # 20-29 on both days
        ("turns-60", "1966-10-10"),  # 50-59 -> 60+
        ("turns-59", "1967-10-10"),  # 50-59 on both days
        ("turns-40-next", "1986-10-11"),  # 30-39 on both days
        ("no-birth-date", None),
    ]:
        MemberFactory(member_number=number, birth_date=born and d(born))

    assert _moved("2026-10-09", "2026-10-10") == {"turns-20", "turns-60"}
    # Two nights caught up at once: the birthdays of both days.
    assert _moved("2026-10-09", "2026-10-11") == {"turns-20", "turns-60", "turns-40-next"}
    assert _moved("2026-10-10", "2026-10-10") == set()


def test_29_february_birthdays_move_the_band_when_the_age_expression_says():
    # Born 29 February 2008: 20 on 29 February 2028; in 2027 (no 29th) the band's bound for
    # 1 March is 1 March 2007, so no one born in 2008 moves in 2027. Born 28 February 1998:
    # 30 on 28 February 2028 (the bound for the 29th, 1998 having none, is the 28th too).
    MemberFactory(member_number="leapling", birth_date=d("2008-02-29"))
    MemberFactory(member_number="28th", birth_date=d("1998-02-28"))
    MemberFactory(member_number="1st", birth_date=d("2008-03-01"))

    assert _moved("2028-02-27", "2028-02-28") == {"28th"}
    assert _moved("2028-02-28", "2028-02-29") == {"leapling"}
    assert _moved("2028-02-29", "2028-03-01") == {"1st"}


def test_the_moved_members_are_exactly_those_whose_age_dimension_differs():
    # Birth dates a few days either side of each band edge, over day pairs around the ends
    # of February in leap and common years and a year's end.
    days = [
        d(day)
        for day in ("2027-02-27", "2027-02-28", "2027-03-01", "2028-02-27", "2028-02-28")
        + ("2028-02-29", "2028-03-01", "2026-12-31", "2027-01-01")
    ]
    for day in days:
        for years in (0, 20, 30, 40, 50, 60, 201):
            for shift in range(-2, 3):
                born = day.replace(year=day.year - years, day=min(day.day, 28)) + dt.timedelta(
                    days=shift
                )
                MemberFactory(birth_date=born)
    pairs = [(a, b) for a in days for b in days if a <= b and (b - a).days <= 3]
    assert len(pairs) == 19  # 9 days with themselves, 10 later days within three
    for before, after in pairs:
        bands = Member.objects.annotate(
            then=member_dimension("age", before), now=member_dimension("age", after)
        )
        differ = {m.pk for m in bands if m.then != m.now}
        moved = set(
            Member.objects.filter(age_band_moved(before, after)).values_list("pk", flat=True)
        )
        assert moved == differ, (before, after)
        # Each later day has someone turning 20 (or 30, ...) on it or on a day between.
        assert bool(differ) == (before < after), (before, after)
