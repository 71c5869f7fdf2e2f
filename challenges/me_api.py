"""The member app's side of challenges: send app events, see challenges with progress."""

from django.db.models import Q
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from members.authentication import IsMember
from members.models import Member

from . import api_examples as examples
from . import evaluator
from .api import EventOutSerializer, events_response
from .definitions import rule_for
from .intake import EventInSerializer, events_ingest
from .models import Challenge, GoalProgress, LimitCounter


class MeEventInSerializer(EventInSerializer):
    member_number = None  # always the caller

    class Meta:
        ref_name = "MeEventIn"


class MeEventsView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="me_events_create",
        request=MeEventInSerializer,
        examples=examples.ME_EVENTS_CREATE,
        responses={
            201: EventOutSerializer,
            200: EventOutSerializer,
            409: examples.CLIENT_ID_CONFLICT,
        },
        summary="Send an app event (SNS follow, app open, event attendance)",
        description=(
            "Only event types marked for the member app (400 naming `type` for any other); "
            "idempotent on client_id. Not survey_answered: answering a survey "
            "(POST /api/v1/me/surveys/{code}/answers) emits it."
        ),
    )
    def post(self, request):
        member = Member.objects.get(pk=request.auth.member_id)
        data = request.data if isinstance(request.data, dict) else {}
        results = events_ingest(
            source_key=f"member:{member.pk}", items=[data], member=member, member_app=True
        )
        return events_response(results, single=True)


class ProgressSerializer(serializers.Serializer):
    kind = serializers.CharField()
    target = serializers.IntegerField()
    window = serializers.CharField()
    value = serializers.IntegerField()
    completed = serializers.BooleanField()


class MeChallengeSerializer(serializers.Serializer):
    code = serializers.CharField()
    version = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    triggers = serializers.ListField(child=serializers.CharField())
    ends_at = serializers.DateTimeField(allow_null=True)
    reward_points = serializers.IntegerField(help_text="Fixed points; 0 when amount-based.")
    reward_coupons = serializers.ListField(child=serializers.CharField())
    limit = serializers.IntegerField(allow_null=True)
    limit_period = serializers.CharField()
    times_this_period = serializers.IntegerField()
    progress = ProgressSerializer(allow_null=True)


class MeChallengesView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="me_challenges_list",
        responses={200: MeChallengeSerializer(many=True)},
        examples=examples.ME_CHALLENGES,
        summary="Challenges the member can take part in now, with their progress",
    )
    def get(self, request):
        member = Member.objects.select_related("tier", "home_store").get(pk=request.auth.member_id)
        now = timezone.now()
        challenges = (
            Challenge.objects.filter(status=Challenge.Status.ACTIVE)
            .filter(current_version__starts_at__lte=now)
            .filter(Q(current_version__ends_at__isnull=True) | Q(current_version__ends_at__gt=now))
            .select_related("current_version")
            .order_by("-current_version__priority", "pk")
        )
        today = timezone.localdate(now)
        limits = {
            (row["challenge_id"], row["period"]): row["count"]
            for row in LimitCounter.objects.filter(member=member).values(
                "challenge_id", "period", "count"
            )
        }
        progress = {
            (p.challenge_id, p.window): p for p in GoalProgress.objects.filter(member=member)
        }
        out = []
        for challenge in challenges:
            version = challenge.current_version
            rule = rule_for(version)
            audience = version.audience or {}
            # Segments depend on the event (a member turns dormant); tiers and stores are shown.
            tier = member.tier.code if member.tier_id else None
            if audience.get("tiers") and tier not in audience["tiers"]:
                continue
            if audience.get("stores") and (
                not member.home_store_id or member.home_store.code not in audience["stores"]
            ):
                continue
            period = evaluator.period_key(version.limit_period, today)
            goal = None
            if rule.goal is not None:
                window = evaluator.period_key(rule.goal.window, today)
                state = progress.get((challenge.pk, window))
                goal = {
                    "kind": rule.goal.kind,
                    "target": rule.goal.target,
                    "window": window,
                    "value": state.value if state else 0,
                    "completed": bool(state and state.completed_at),
                }
            out.append(
                {
                    "code": challenge.code,
                    "version": version.number,
                    "name": version.name,
                    "description": version.description,
                    "triggers": version.triggers,
                    "ends_at": version.ends_at,
                    "reward_points": sum(e.points for e in rule.effects if e.kind == "points"),
                    "reward_coupons": [e.template for e in rule.effects if e.kind == "coupon"],
                    "limit": version.limit_count,
                    "limit_period": version.limit_period,
                    "times_this_period": limits.get((challenge.pk, period), 0),
                    "progress": goal,
                }
            )
        return Response(MeChallengeSerializer(out, many=True).data)
