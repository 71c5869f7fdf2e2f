from .coupons import Coupon, CouponTemplate
from .ledger import LedgerEntry, LotMovement, PointLot
from .purchases import Purchase, PurchaseLine, PurchaseReturn

__all__ = [
    "Coupon",
    "CouponTemplate",
    "LedgerEntry",
    "LotMovement",
    "PointLot",
    "Purchase",
    "PurchaseLine",
    "PurchaseReturn",
]
