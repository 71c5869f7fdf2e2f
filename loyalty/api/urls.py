from django.urls import path

from members.api import MemberDetailView, MemberListCreateView, MemberWithdrawView

from .health import HealthView

app_name = "api"
urlpatterns = [
    path("health", HealthView.as_view(), name="health"),
    path("members", MemberListCreateView.as_view(), name="members"),
    path("members/<str:member_number>", MemberDetailView.as_view(), name="member"),
    path(
        "members/<str:member_number>/withdraw", MemberWithdrawView.as_view(), name="member-withdraw"
    ),
]
