"""Domain errors raised by the services; each names the field it is about (for 4xx answers)."""

from django.utils.translation import gettext_lazy as _


class LoyaltyError(Exception):
    code = "invalid"
    status = 400
    field: str | None = None

    def __init__(self, message=None, *, field: str | None = None, messages=None):
        """`messages`: every reason when there are several (the API lists them all under the
        field); `message` is then the first."""
        self.messages = list(messages) if messages else []
        if message is None:
            message = self.messages[0] if self.messages else self.default_message()
        self.message = message
        if not self.messages:
            self.messages = [message]
        if field is not None:
            self.field = field
        super().__init__(str(self.message))

    def default_message(self):
        return _("The request is invalid.")


class InvalidAmount(LoyaltyError):
    code = "invalid_amount"
    field = "points"


class InsufficientPoints(LoyaltyError):
    code = "insufficient_points"
    status = 409
    field = "points"

    def __init__(self, *, available: int, requested: int):
        self.available = available
        self.requested = requested
        super().__init__(
            _("Only %(available)d points are available; %(requested)d requested.")
            % {"available": available, "requested": requested}
        )


class MemberNotActive(LoyaltyError):
    code = "member_not_active"
    status = 409
    field = "member"

    def default_message(self):
        return _("The member is not active.")


class IdempotencyConflict(LoyaltyError):
    code = "idempotency_conflict"
    status = 409

    def default_message(self):
        return _("This reference was already used for a different request.")


class ReturnExceedsPurchase(LoyaltyError):
    code = "return_exceeds_purchase"
    status = 409
    field = "amount"


class CouponError(LoyaltyError):
    field = "code"


class CouponAlreadyUsed(CouponError):
    code = "coupon_already_used"
    status = 409

    def default_message(self):
        return _("This coupon was already used for another order.")


class CouponNotUsable(CouponError):
    code = "coupon_not_usable"
    status = 409


class CouponNotValidAtStore(CouponError):
    code = "coupon_not_valid_at_store"
    status = 409
    field = "store"

    def default_message(self):
        return _("This coupon is not valid at this store.")


class CouponUnavailable(CouponError):
    """The template cannot issue: inactive, out of stock, or the member's limit reached."""

    code = "coupon_unavailable"
    status = 409
    field = "template"
