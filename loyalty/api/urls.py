from django.db import transaction
from django.urls import path, register_converter

from challenges.api import DryRunView, EventDetailView, EventsView
from challenges.me_api import MeChallengesView, MeEventsView
from members.api import MemberDetailView, MemberListCreateView, MemberWithdrawView
from members.me_api import (
    LogoutView,
    MeCardView,
    MeCouponsView,
    MeLedgerView,
    MePasswordView,
    MePointsView,
    MeView,
    TokenView,
)
from metrics.kpi_api import KpiListView
from metrics.me_api import MeSurveyAnswersView, MeSurveysView, MeSurveyView

from .coupons import CouponIssueView, CouponRedeemView
from .health import HealthView
from .points import AdjustmentView
from .purchases import PurchaseView, ReturnView


class TextConverter:
    """A path segment without control characters: PostgreSQL text can't hold NUL, so a
    lookup by `a%00b` was a database error (500); such an address matches no route (404)."""

    regex = r"[^/\x00-\x1f\x7f]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(TextConverter, "text")

app_name = "api"
urlpatterns = [
    # No request transaction: a lost database must answer 503, not fail before the view.
    path("health", transaction.non_atomic_requests(HealthView.as_view()), name="health"),
    path("members", MemberListCreateView.as_view(), name="members"),
    path("members/<text:member_number>", MemberDetailView.as_view(), name="member"),
    path("members/<text:member_number>/withdraw", MemberWithdrawView.as_view(), name="withdraw"),
    path("purchases", PurchaseView.as_view(), name="purchases"),
    path("returns", ReturnView.as_view(), name="returns"),
    path("points/adjustments", AdjustmentView.as_view(), name="points-adjustments"),
    path("coupons/issue", CouponIssueView.as_view(), name="coupons-issue"),
    path("coupons/redeem", CouponRedeemView.as_view(), name="coupons-redeem"),
    path("events", EventsView.as_view(), name="events"),
    path("events/<text:client_id>", EventDetailView.as_view(), name="event"),
    path("challenges/<slug:code>/dry-run", DryRunView.as_view(), name="challenge-dry-run"),
    path("kpis", KpiListView.as_view(), name="kpis"),
    path("me/events", MeEventsView.as_view(), name="me-events"),
    path("me/challenges", MeChallengesView.as_view(), name="me-challenges"),
    path("auth/token", TokenView.as_view(), name="auth-token"),
    path("auth/logout", LogoutView.as_view(), name="auth-logout"),
    path("me", MeView.as_view(), name="me"),
    path("me/password", MePasswordView.as_view(), name="me-password"),
    path("me/points", MePointsView.as_view(), name="me-points"),
    path("me/ledger", MeLedgerView.as_view(), name="me-ledger"),
    path("me/coupons", MeCouponsView.as_view(), name="me-coupons"),
    path("me/card", MeCardView.as_view(), name="me-card"),
    path("me/surveys", MeSurveysView.as_view(), name="me-surveys"),
    path("me/surveys/<slug:code>", MeSurveyView.as_view(), name="me-survey"),
    path("me/surveys/<slug:code>/answers", MeSurveyAnswersView.as_view(), name="me-survey-answers"),
]
