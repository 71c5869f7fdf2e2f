from django.urls import path

from members.api import MemberDetailView, MemberListCreateView, MemberWithdrawView

from .coupons import CouponIssueView, CouponRedeemView
from .health import HealthView
from .points import AdjustmentView
from .purchases import PurchaseView, ReturnView

app_name = "api"
urlpatterns = [
    path("health", HealthView.as_view(), name="health"),
    path("members", MemberListCreateView.as_view(), name="members"),
    path("members/<str:member_number>", MemberDetailView.as_view(), name="member"),
    path("members/<str:member_number>/withdraw", MemberWithdrawView.as_view(), name="withdraw"),
    path("purchases", PurchaseView.as_view(), name="purchases"),
    path("returns", ReturnView.as_view(), name="returns"),
    path("points/adjustments", AdjustmentView.as_view(), name="points-adjustments"),
    path("coupons/issue", CouponIssueView.as_view(), name="coupons-issue"),
    path("coupons/redeem", CouponRedeemView.as_view(), name="coupons-redeem"),
]
