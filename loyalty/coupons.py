"""Issuing, redeeming, voiding and expiring coupons."""

import datetime as dt
import secrets

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import Member, Store

from .errors import (
    CouponAlreadyUsed,
    CouponError,
    CouponNotUsable,
    CouponNotValidAtStore,
    CouponUnavailable,
    MemberNotActive,
)
from .models import Coupon, CouponTemplate

# No 0/O, 1/I: codes are read out and typed at a till. 32 symbols x 12 = 60 random bits.
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 12


def coupon_code_generate() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def coupon_code_normalize(code: str) -> str:
    """Accept codes as printed (XXXX-XXXX-XXXX), in any case, with spaces."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def coupon_code_display(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


@transaction.atomic
def coupon_issue(
    *,
    template: CouponTemplate,
    member: Member,
    issued_via: str,
    issued_by: AbstractBaseUser | None = None,
    challenge_version_id: int | None = None,
    now: dt.datetime | None = None,
) -> Coupon:
    """Issue one coupon. The template row lock serialises issuers, so stock and the
    per-member limit hold under concurrency."""
    now = now or timezone.now()
    template = CouponTemplate.objects.select_for_update().get(pk=template.pk)
    if member.status != Member.Status.ACTIVE:
        raise MemberNotActive()
    if not template.is_active:
        raise CouponUnavailable(_("This coupon template is not active."))
    if template.valid_until is not None and template.valid_until <= now:
        raise CouponUnavailable(_("This coupon template's validity has ended."))
    if template.total_stock is not None and template.issued_count >= template.total_stock:
        raise CouponUnavailable(_("This coupon template is out of stock."))
    if template.per_member_limit is not None:
        held = (
            Coupon.objects.filter(template=template, member=member)
            .exclude(status=Coupon.Status.VOIDED)
            .count()
        )
        if held >= template.per_member_limit:
            raise CouponUnavailable(_("The member already has the maximum number of this coupon."))
    if template.valid_days is not None:
        valid_until = now + dt.timedelta(days=template.valid_days)
    else:
        valid_until = template.valid_until
    template.issued_count += 1
    template.save(update_fields=["issued_count"])
    return Coupon.objects.create(
        code=coupon_code_generate(),
        template=template,
        member=member,
        issued_at=now,
        valid_until=valid_until,
        issued_via=issued_via,
        issued_by=issued_by,
        challenge_version_id=challenge_version_id,
    )


@transaction.atomic
def coupon_redeem(
    *, code: str, order_reference: str, store: Store | None = None, now: dt.datetime | None = None
) -> tuple[Coupon, bool]:
    """Use a coupon exactly once. Returns (coupon, True) when this call used it and
    (coupon, False) when it was already used for the same order (a till's retry);
    another order gets CouponAlreadyUsed (409)."""
    now = now or timezone.now()
    order_reference = order_reference.strip()
    if not order_reference:
        raise CouponError(_("An order reference is required."), field="order_reference")
    coupon = (
        Coupon.objects.select_for_update()
        .select_related("template")
        .filter(code=coupon_code_normalize(code))
        .first()
    )
    if coupon is None:
        raise CouponError(_("No coupon has this code."))
    if coupon.status == Coupon.Status.USED:
        if coupon.order_reference == order_reference:
            return coupon, False
        raise CouponAlreadyUsed()
    if coupon.status != Coupon.Status.ISSUED:
        raise CouponNotUsable(
            _("This coupon is %(status)s.") % {"status": coupon.get_status_display().lower()}
        )
    template = coupon.template
    if coupon.valid_until <= now:
        raise CouponNotUsable(_("This coupon has expired."))
    if template.valid_from is not None and template.valid_from > now:
        raise CouponNotUsable(_("This coupon is not valid yet."))
    if template.stores.exists() and (
        store is None or not template.stores.filter(pk=store.pk).exists()
    ):
        raise CouponNotValidAtStore()
    coupon.status = Coupon.Status.USED
    coupon.used_at = now
    coupon.used_store = store
    coupon.order_reference = order_reference
    coupon.save(update_fields=["status", "used_at", "used_store", "order_reference"])
    return coupon, True


@transaction.atomic
def coupon_void(
    *,
    coupon: Coupon,
    reason: str,
    voided_by: AbstractBaseUser | None = None,
    now: dt.datetime | None = None,
) -> tuple[Coupon, bool]:
    """Void an unused coupon. Returns (coupon, True) when this call voided it and
    (coupon, False) when it was already voided (a retry)."""
    reason = (reason or "").strip()
    if not reason:
        raise CouponError(_("A reason is required to void a coupon."), field="reason")
    coupon = Coupon.objects.select_for_update().get(pk=coupon.pk)
    if coupon.status == Coupon.Status.VOIDED:
        return coupon, False
    if coupon.status != Coupon.Status.ISSUED:
        raise CouponNotUsable(
            _("Only an unused coupon can be voided; this one is %(status)s.")
            % {"status": coupon.get_status_display().lower()}
        )
    coupon.status = Coupon.Status.VOIDED
    coupon.voided_at = now or timezone.now()
    coupon.voided_by = voided_by
    coupon.void_reason = reason
    coupon.save(update_fields=["status", "voided_at", "voided_by", "void_reason"])
    return coupon, True


def coupons_expire_due(*, now: dt.datetime | None = None) -> int:
    """Mark issued coupons past their validity as expired. Safe to run twice."""
    now = now or timezone.now()
    return Coupon.objects.filter(status=Coupon.Status.ISSUED, valid_until__lte=now).update(
        status=Coupon.Status.EXPIRED
    )
