"""Member counts: members, active, new and dormant members (docs/metrics.md, "Members").

- members: joined before the end (as_of) and not withdrawn before it.
- active_members: active at the end (activity.py): a purchase counting then within the
  lapse window before it. Also by channel (members who bought through it in that window).
- new_members: joined during the period (whatever happened to them after).
- dormant_members: members (not withdrawn) at the end who are past the "new" stage
  (joined NEW_MEMBER_DAYS or more before the end) with no purchase counting then within the
  lapse window: the audience segment "dormant" with the KPIs' lapse window and purchase
  rule. With the default LOYALTY_CHURN_LAPSE_DAYS (180) members = active + dormant + new
  members who have not bought yet.

Members are sliced by their dimensions on the period's last measured day.
"""

import datetime as dt
from decimal import Decimal

from django.db.models import Count, F
from django.utils.translation import gettext_noop

from challenges.evaluator import NEW_MEMBER_DAYS

from . import activity, state
from .base import Kpi, Value, Window, register
from .rollup import rollup, whole
from .segments import DIMENSIONS, local_midnight

CHANNEL = ("channel",)
_DAY = dt.timedelta(days=1)


def _count_values(rows: dict[str, dict]) -> list[Value]:
    values = []
    for segment, row in rows.items():
        count = whole(row["members"])
        values.append(Value(segment=segment, value=Decimal(count), n=count))
    return values


def _members_frame(queryset):
    return queryset.order_by().values(member_id=F("id"))


def _from_state(counts: dict[str, int] | None) -> list[Value] | None:
    """The member state's counts (metrics.kpis.state), when it is at the window's cutoff."""
    if counts is None:
        return None
    return [Value(segment=s, value=Decimal(count), n=count) for s, count in counts.items()]


def members_compute(window: Window) -> list[Value]:
    from members.models import Member

    kept = _from_state(state.counted(window.as_of, "is_member"))
    if kept is not None:
        return kept
    at = local_midnight(window.as_of)
    facts = _members_frame(Member.objects.filter(activity.member_was_member(at)))
    rows = rollup(facts=facts, aggregates={"members": "COUNT(*)"}, at=window.as_of - _DAY)
    return _count_values(rows)


def active_members_compute(window: Window) -> list[Value]:
    kept = _from_state(state.counted(window.as_of, "active", channels=True))
    if kept is not None:
        return kept
    at = local_midnight(window.as_of)
    purchases = activity.active_purchases(at)
    rows = rollup(
        facts=purchases.values("member_id").annotate(purchases=Count("id")),
        aggregates={"members": "COUNT(*)"},
        at=window.as_of - _DAY,
    )
    by_channel = rollup(
        facts=purchases.values("member_id", "channel").annotate(purchases=Count("id")),
        aggregates={"members": "COUNT(*)"},
        at=None,
        dims=(),
        fact_dims=CHANNEL,
    )
    by_channel.pop("all")
    return _count_values({**rows, **by_channel})


def new_members_compute(window: Window) -> list[Value]:
    from members.models import Member

    kept = _from_state(state.new_members(window.start, window.as_of, window.period))
    if kept is not None:
        return kept
    joined = Member.objects.filter(
        joined_at__gte=local_midnight(window.start), joined_at__lt=local_midnight(window.as_of)
    )
    rows = rollup(
        facts=_members_frame(joined), aggregates={"members": "COUNT(*)"}, at=window.as_of - _DAY
    )
    return _count_values(rows)


def dormant_members_compute(window: Window) -> list[Value]:
    from members.models import Member

    kept = _from_state(state.counted(window.as_of, "dormant"))
    if kept is not None:
        return kept
    at = local_midnight(window.as_of)
    # Uncorrelated: the database hashes the recent buyers once (work_mem permitting).
    recent_buyers = activity.purchases_counted(
        at - dt.timedelta(days=activity.lapse_days()), at, at=at
    ).values("member_id")
    dormant = (
        Member.objects.filter(activity.member_was_member(at))
        .filter(joined_at__lt=at - dt.timedelta(days=NEW_MEMBER_DAYS))
        .exclude(pk__in=recent_buyers)
    )
    rows = rollup(
        facts=_members_frame(dormant), aggregates={"members": "COUNT(*)"}, at=window.as_of - _DAY
    )
    return _count_values(rows)


def _member_kpi(code: str, label: str, compute, *, dims=DIMENSIONS, higher=True, pit=True) -> Kpi:
    return register(
        Kpi(
            code=code,
            label=label,
            unit="count",
            compute=compute,
            higher_is_better=higher,
            group="behaviour",
            dimensions=dims,
            point_in_time=pit,
        )
    )


MEMBERS = _member_kpi("members", gettext_noop("Members"), members_compute)
ACTIVE_MEMBERS = _member_kpi(
    "active_members",
    gettext_noop("Active members"),
    active_members_compute,
    dims=(*DIMENSIONS, *CHANNEL),
)
NEW_MEMBERS = _member_kpi(
    "new_members", gettext_noop("New members"), new_members_compute, pit=False
)
DORMANT_MEMBERS = _member_kpi(
    "dormant_members", gettext_noop("Dormant members"), dormant_members_compute, higher=False
)
