"""Writes for members, and the tier recalculation."""

import datetime as dt

from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.errors import LoyaltyError, MemberNotActive

from .contact import normalize_email, normalize_phone
from .models import HomeStoreChange, Member, Store, Tier, TierChange
from .numbers import generate_member_number
from .passwords import member_login_create


class ContactTaken(LoyaltyError):
    code = "contact_taken"
    status = 409


def _check_contact_free(*, email: str | None, phone: str | None, exclude_pk: int | None = None):
    others = Member.objects.exclude(pk=exclude_pk) if exclude_pk else Member.objects.all()
    if email and others.filter(email=email).exists():
        raise ContactTaken(_("Another member already uses this email address."), field="email")
    if phone and others.filter(phone=phone).exists():
        raise ContactTaken(_("Another member already uses this phone number."), field="phone")


@transaction.atomic
def member_register(
    *,
    name: str = "",
    email: str | None = None,
    phone: str | None = None,
    birth_date: dt.date | None = None,
    gender: str = Member.Gender.UNSPECIFIED,
    home_store: Store | None = None,
    joined_at: dt.datetime | None = None,
    password: str | None = None,
) -> Member:
    """Register a member; with a `password`, also their app login (members/passwords.py)."""
    email, phone = normalize_email(email), normalize_phone(phone)
    _check_contact_free(email=email, phone=phone)
    entry_tier = Tier.objects.order_by("rank").first()
    for _attempt in range(5):
        try:
            with transaction.atomic():
                member = Member.objects.create(
                    member_number=generate_member_number(),
                    name=name,
                    email=email,
                    phone=phone,
                    birth_date=birth_date,
                    gender=gender,
                    home_store=home_store,
                    joined_at=joined_at or timezone.now(),
                    tier=entry_tier,
                )
            break
        except IntegrityError:
            # A member-number collision (1 in 10^15 per pair) or a concurrent registration
            # with the same contact; the re-check tells which.
            _check_contact_free(email=email, phone=phone)
    else:
        raise RuntimeError("could not allocate a unique member number")
    if password is not None:
        member_login_create(member=member, password=password)
    return member


@transaction.atomic
def member_update_contact(
    *, member: Member, email: str | None = None, phone: str | None = None, name: str | None = None
) -> Member:
    member = Member.objects.select_for_update().get(pk=member.pk)
    if member.status == Member.Status.WITHDRAWN:
        # Withdrawal erased their personal data; it is not to be stored again.
        raise MemberNotActive(_("The member has withdrawn: their details can't be set again."))
    fields = []
    if email is not None:
        member.email = normalize_email(email)
        fields.append("email")
    if phone is not None:
        member.phone = normalize_phone(phone)
        fields.append("phone")
    if name is not None:
        member.name = name
        fields.append("name")
    _check_contact_free(email=member.email, phone=member.phone, exclude_pk=member.pk)
    member.save(update_fields=fields)
    return member


@transaction.atomic
def member_home_store_change(
    *, member: Member, store: Store | None, now: dt.datetime | None = None
) -> Member:
    """Move a member to another home store (None: none), recording the change: the KPIs'
    store dimension on an earlier date is the store the member had then."""
    member = Member.objects.select_for_update().get(pk=member.pk)
    if member.home_store_id == (store.pk if store else None):
        return member
    HomeStoreChange.objects.create(
        member=member,
        from_store_id=member.home_store_id,
        to_store=store,
        changed_at=now or timezone.now(),
    )
    member.home_store = store
    member.save(update_fields=["home_store"])
    return member


@transaction.atomic
def member_withdraw(*, member: Member, now: dt.datetime | None = None) -> Member:
    """Withdraw a member: the ledger and purchases stay (they are the books), personal data
    goes. The member number stays as the key the books refer to; the app login is disabled,
    unused coupons are voided, and the remaining points can no longer be spent (they expire
    as usual)."""
    member = Member.objects.select_for_update().get(pk=member.pk)
    if member.status == Member.Status.WITHDRAWN:
        return member
    member.status = Member.Status.WITHDRAWN
    member.withdrawn_at = now or timezone.now()
    member.name = ""
    member.email = None
    member.phone = None
    member.birth_date = None
    member.gender = Member.Gender.UNSPECIFIED
    if member.user_id:
        user = member.user
        user.is_active = False
        user.set_unusable_password()
        user.email = ""
        user.first_name = user.last_name = ""
        user.save(update_fields=["is_active", "password", "email", "first_name", "last_name"])
    member.save(
        update_fields=["status", "withdrawn_at", "name", "email", "phone", "birth_date", "gender"]
    )
    # Unused coupons die with the membership; used ones stay as the record of what was given.
    from loyalty.models import Coupon

    Coupon.objects.filter(member=member, status=Coupon.Status.ISSUED).update(
        status=Coupon.Status.VOIDED, voided_at=member.withdrawn_at, void_reason="member withdrew"
    )
    return member


def tier_for_spend(tiers: list[Tier], spend: int) -> Tier | None:
    """The highest tier whose threshold the spend reaches (tiers sorted by rank)."""
    best = None
    for tier in tiers:
        if spend >= tier.threshold_spend and (best is None or tier.rank > best.rank):
            best = tier
    return best


def tiers_recalculate(*, now: dt.datetime | None = None, batch_size: int = 2000) -> int:
    """Set every active member's tier from net spend (purchases minus returns) over the rolling
    window; record each change. Returns the number of members whose tier changed."""
    from django.conf import settings

    from loyalty.models import Purchase

    now = now or timezone.now()
    since = now - dt.timedelta(days=settings.LOYALTY_TIER_WINDOW_DAYS)
    tiers = list(Tier.objects.order_by("rank"))
    if not tiers:
        return 0
    spend = (
        Purchase.objects.filter(member=OuterRef("pk"), occurred_at__gt=since, occurred_at__lte=now)
        .values("member")
        .annotate(s=Sum("total") - Sum("returned_total"))
        .values("s")
    )
    members = (
        Member.objects.filter(status=Member.Status.ACTIVE)
        .annotate(window_spend=Coalesce(Subquery(spend), 0))
        .only("pk", "tier_id")
        .order_by("pk")
    )
    changed = 0
    batch: list[tuple[Member, Tier | None, int]] = []

    def flush():
        nonlocal changed
        if not batch:
            return
        with transaction.atomic():
            Member.objects.bulk_update([m for m, _t, _s in batch], ["tier"])
            TierChange.objects.bulk_create(
                TierChange(
                    member=m, from_tier_id=old, to_tier=m.tier, window_spend=s, changed_at=now
                )
                for m, old, s in batch
            )
        changed += len(batch)
        batch.clear()

    for member in members.iterator(chunk_size=batch_size):
        new_tier = tier_for_spend(tiers, member.window_spend)
        new_id = new_tier.pk if new_tier else None
        if new_id != member.tier_id:
            old = member.tier_id
            member.tier = new_tier
            batch.append((member, old, member.window_spend))
            if len(batch) >= batch_size:
                flush()
    flush()
    return changed
