"""Challenges and their immutable versions.

A Challenge is the thing marketers name and switch on and off; what it does lives in
ChallengeVersion rows that are never changed once written (a database trigger refuses UPDATE
and DELETE). Editing creates the next version; ledger entries and coupons point at the
version that produced them, so "why did I get these points?" always has an answer.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Challenge(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")
        ENDED = "ended", _("Ended")

    code = models.SlugField(_("code"), max_length=64, unique=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DRAFT
    )
    current_version = models.OneToOneField(
        "ChallengeVersion",
        verbose_name=_("current version"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    preset = models.CharField(_("preset"), max_length=40, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("challenge")
        verbose_name_plural = _("challenges")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.current_version.name if self.current_version_id else self.code


class LimitPeriod(models.TextChoices):
    CAMPAIGN = "campaign", _("Whole challenge")
    DAY = "day", _("Per day")
    WEEK = "week", _("Per week")
    MONTH = "month", _("Per month")


class ChallengeVersion(models.Model):
    challenge = models.ForeignKey(
        Challenge, verbose_name=_("challenge"), on_delete=models.PROTECT, related_name="versions"
    )
    number = models.PositiveIntegerField(_("version"))
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description (shown to members)"), blank=True)
    triggers = models.JSONField(_("trigger event types"), help_text=_("Event type codes."))
    conditions = models.JSONField(_("conditions"), default=dict, blank=True)
    effects = models.JSONField(_("effects"), default=list)
    goal = models.JSONField(_("progress goal"), null=True, blank=True)
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True)
    limit_count = models.PositiveIntegerField(_("limit per member"), null=True, blank=True)
    limit_period = models.CharField(
        _("limit period"), max_length=10, choices=LimitPeriod.choices, default=LimitPeriod.CAMPAIGN
    )
    budget_points = models.PositiveBigIntegerField(_("points budget"), null=True, blank=True)
    budget_coupons = models.PositiveIntegerField(_("coupon budget"), null=True, blank=True)
    priority = models.IntegerField(_("priority"), default=0, help_text=_("Higher runs first."))
    exclusive = models.BooleanField(
        _("exclusive"), default=False, help_text=_("When it fires, lower priority rules don't.")
    )
    audience = models.JSONField(
        _("audience"), default=dict, blank=True, help_text=_("tiers, stores, segments")
    )
    requires_verification = models.BooleanField(_("requires staff verification"), default=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("challenge version")
        verbose_name_plural = _("challenge versions")
        ordering = ["challenge", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["challenge", "number"], name="version_number_unique"),
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=models.F("starts_at")),
                name="version_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(limit_count__isnull=True) | Q(limit_count__gt=0),
                name="version_limit_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.number}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise RuntimeError("challenge versions are immutable; create a new version")
        super().save(*args, **kwargs)


class ChallengeCounter(models.Model):
    """What a challenge has granted, across its versions: the budget is checked against it in
    the transaction that grants (the row is locked), so concurrent workers never overspend."""

    challenge = models.OneToOneField(
        Challenge, on_delete=models.CASCADE, primary_key=True, related_name="counter"
    )
    points_granted = models.BigIntegerField(_("points granted"), default=0)
    coupons_granted = models.IntegerField(_("coupons granted"), default=0)
    awards = models.IntegerField(_("times fired"), default=0)

    class Meta:
        verbose_name = _("challenge counter")
        constraints = [
            models.CheckConstraint(
                condition=Q(points_granted__gte=0, coupons_granted__gte=0, awards__gte=0),
                name="counter_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.challenge_id}: {self.points_granted} points, {self.coupons_granted} coupons"
