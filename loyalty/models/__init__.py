from .coupons import Coupon, CouponTemplate
from .idempotency import IdempotencyRecord
from .ledger import LedgerEntry, LotMovement, PointLot
from .purchases import Purchase, PurchaseLine, PurchaseReturn

__all__ = [
    "Coupon",
    "CouponTemplate",
    "IdempotencyRecord",
    "LedgerEntry",
    "LotMovement",
    "PointLot",
    "Purchase",
    "PurchaseLine",
    "PurchaseReturn",
]
