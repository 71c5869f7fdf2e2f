"""Per-member challenge state and the record of every effect written (the exactly-once key)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Award(models.Model):
    """One effect of one rule version on one event. Unique on (event, version, effect index):
    processing the same event again cannot write it twice."""

    class Kind(models.TextChoices):
        POINTS = "points", _("Points")
        COUPON = "coupon", _("Coupon")
        PROGRESS = "progress", _("Goal progress")

    event = models.ForeignKey(
        "challenges.Event", verbose_name=_("event"), on_delete=models.PROTECT, related_name="awards"
    )
    version = models.ForeignKey(
        "challenges.ChallengeVersion",
        verbose_name=_("challenge version"),
        on_delete=models.PROTECT,
        related_name="awards",
    )
    effect_index = models.PositiveSmallIntegerField(_("effect"))
    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="awards"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    points = models.BigIntegerField(_("points"), default=0)
    ledger_entry = models.OneToOneField(
        "loyalty.LedgerEntry",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="award",
    )
    coupon = models.OneToOneField(
        "loyalty.Coupon", on_delete=models.PROTECT, null=True, blank=True, related_name="award"
    )
    points_reversed = models.BigIntegerField(_("points reversed"), default=0)
    # The event's business time, copied when the award is written (an event's time never
    # changes): the challenge KPIs read a period's awards by it from their own index, not
    # through a join with every event.
    occurred_at = models.DateTimeField(_("occurred at"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("award")
        verbose_name_plural = _("awards")
        indexes = [
            models.Index(
                fields=["occurred_at"],
                include=["member", "version", "kind", "points", "event"],
                name="award_occurred",
            )
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "version", "effect_index"], name="award_once_per_effect"
            ),
            models.CheckConstraint(
                condition=Q(points_reversed__gte=0, points_reversed__lte=models.F("points")),
                name="award_reversed_within_points",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.points} (event {self.event_id}, version {self.version_id})"


class LimitCounter(models.Model):
    """How often a challenge fired for a member in one limit period ('campaign', '2026-11',
    '2026-W47', '2026-11-21')."""

    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+")
    challenge = models.ForeignKey(
        "challenges.Challenge", on_delete=models.CASCADE, related_name="+"
    )
    period = models.CharField(max_length=16)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["member", "challenge", "period"], name="limit_counter_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.period}: {self.count}"


class GoalProgress(models.Model):
    """A member's progress towards a challenge's goal in one window."""

    member = models.ForeignKey(
        "members.Member", on_delete=models.CASCADE, related_name="goal_progress"
    )
    challenge = models.ForeignKey(
        "challenges.Challenge", on_delete=models.CASCADE, related_name="progress"
    )
    window = models.CharField(_("window"), max_length=16)
    value = models.BigIntegerField(_("progress"), default=0)
    # Streak goals: the last ISO week (e.g. 2026-W47) that counted.
    last_step = models.CharField(max_length=16, blank=True)
    # Business times (Event.occurred_at), not processing times: started_at is the time of
    # the event that first made progress (set when the row is created: an event dated earlier
    # but processed later does not move it), completed_at the time of the event that
    # completed the goal (set once). Neither is rewritten afterwards.
    # started_at is null only where migration 0005 could not tell (see its backfill).
    started_at = models.DateTimeField(_("started at"), null=True, blank=True, db_index=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("goal progress")
        verbose_name_plural = _("goal progress")
        constraints = [
            models.UniqueConstraint(
                fields=["member", "challenge", "window"], name="goal_progress_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.window}: {self.value}"


class Verification(models.Model):
    """A rule that needs staff to confirm the event (an SNS follow, an attendance) waits here;
    approving applies its effects, rejecting records why."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    event = models.ForeignKey(
        "challenges.Event", on_delete=models.PROTECT, related_name="verifications"
    )
    version = models.ForeignKey(
        "challenges.ChallengeVersion", on_delete=models.PROTECT, related_name="verifications"
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    note = models.CharField(_("note"), max_length=255, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("verification")
        verbose_name_plural = _("verification queue")
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["event", "version"], name="verification_once"),
            models.CheckConstraint(
                condition=Q(status="pending", decided_at__isnull=True)
                | Q(status="approved", decided_at__isnull=False)
                | (Q(status="rejected", decided_at__isnull=False) & ~Q(note="")),
                name="verification_decided_rejection_has_note",
            ),
        ]

    def __str__(self) -> str:
        return _("%(status)s: event %(event)s") % {
            "status": self.get_status_display(),
            "event": self.event_id,
        }
