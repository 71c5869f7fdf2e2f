"""The points ledger: append-only entries, the lots they create and what consumed the lots.

Balances are sums of LedgerEntry.points per state:
  available = sum(state=available) >= 0, pending = sum(state=pending) >= 0,
  owed (debt) = -sum(state=debt) >= 0 (a return after the points were spent).
A positive entry that adds spendable points opens a PointLot with its expiry; every entry that
takes points from (or gives them back to) a lot records a LotMovement, so spending is FIFO by
expiry, expiry only takes what is left of a lot and a reversal restores the exact lots.
PointLot.remaining is a cache of lot.points + sum(movements), checked by `check_ledger`.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class EntryKind(models.TextChoices):
    EARN = "earn", _("Earned")
    SPEND = "spend", _("Spent")
    EXPIRE = "expire", _("Expired")
    REVERSE = "reverse", _("Reversed")
    ADJUST = "adjust", _("Adjusted")
    RELEASE = "release", _("Released from pending")
    SETTLE = "settle", _("Debt repaid")
    REFUND = "refund", _("Refunded")


class EntryState(models.TextChoices):
    PENDING = "pending", _("Pending")
    AVAILABLE = "available", _("Available")
    DEBT = "debt", _("Owed")


class EntrySource(models.TextChoices):
    PURCHASE = "purchase", _("Purchase")
    RETURN = "return", _("Return")
    STAFF = "staff", _("Staff")
    API = "api", _("Integration")
    CHALLENGE = "challenge", _("Challenge")
    EXPIRY_JOB = "expiry_job", _("Expiry job")
    RELEASE_JOB = "release_job", _("Pending release job")
    REDEMPTION = "redemption", _("Redemption")
    DEMO = "demo", _("Demo data")


class LedgerEntry(models.Model):
    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="ledger"
    )
    points = models.BigIntegerField(_("points"))
    kind = models.CharField(_("kind"), max_length=10, choices=EntryKind.choices)
    state = models.CharField(_("state"), max_length=10, choices=EntryState.choices)
    source = models.CharField(_("source"), max_length=12, choices=EntrySource.choices)
    available_at = models.DateTimeField(_("available at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    purchase = models.ForeignKey(
        "loyalty.Purchase",
        verbose_name=_("purchase"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
    )
    reference = models.CharField(_("reference"), max_length=64, blank=True, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff user"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    # The challenge version that produced this entry (its award or the award's reversal).
    challenge_version = models.ForeignKey(
        "challenges.ChallengeVersion",
        verbose_name=_("challenge version"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
    )
    # The entry this one undoes or completes (a reversal's spend, a release's pending earn).
    related_entry = models.ForeignKey(
        "self", verbose_name=_("related entry"), on_delete=models.PROTECT, null=True, blank=True
    )
    # Business time (value date): when the change happened, which for back-dated POS data or
    # a replayed history is earlier than created_at, the time the row was recorded (audit).
    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now)
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        ordering = ["-occurred_at", "-id"]
        # created_at: the nightly KPI run re-reads the members with entries recorded since its
        # last update (metrics.member_state).
        indexes = [
            models.Index(fields=["member", "-occurred_at"]),
            # With the member: the KPI member state finds the members with entries of a day
            # or recorded since its last update from the index alone (metrics.member_state).
            models.Index(fields=["occurred_at"], include=["member"], name="entry_occurred_member"),
            models.Index(fields=["created_at"], include=["member"], name="entry_created_member"),
            # The expiry job's entries by the expiry they record (points expired per period),
            # with every column the KPIs read of them: the member state's expiry facts scan a
            # quarter's entries from the index alone (a night's: 0.4-1.2 s -> 0.13 s at a
            # million members, where the heap's pages were read, and the occurred_at index
            # ANDed in).
            models.Index(
                fields=["expires_at", "occurred_at"],
                include=["member", "points", "id", "kind"],
                condition=Q(kind="expire"),
                name="entry_expired_by_expiry",
            ),
        ]
        permissions = [("adjust_points", _("Can adjust a member's points"))]
        constraints = [
            models.CheckConstraint(condition=~Q(points=0), name="entry_points_not_zero"),
            models.CheckConstraint(
                condition=~Q(kind="adjust") | ~Q(reason=""), name="entry_adjust_has_reason"
            ),
            models.CheckConstraint(
                condition=~Q(source="staff") | Q(created_by__isnull=False),
                name="entry_staff_has_user",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["earn"]) | Q(points__gt=0), name="entry_earn_positive"
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["spend", "expire"]) | Q(points__lt=0),
                name="entry_spend_expire_negative",
            ),
            # An adjustment with a reference (form token, idempotency key) happens once.
            models.UniqueConstraint(
                fields=["member", "reference"],
                condition=Q(kind="adjust") & ~Q(reference=""),
                name="entry_one_adjust_per_reference",
            ),
            # One base earn per purchase: a replayed purchase can never earn twice.
            models.UniqueConstraint(
                fields=["purchase"],
                condition=Q(kind="earn", source="purchase"),
                name="entry_one_base_earn_per_purchase",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.points:+d}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise RuntimeError("ledger entries are append-only; write a correcting entry instead")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise RuntimeError("ledger entries are append-only; write a correcting entry instead")


class PointLot(models.Model):
    member = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="lots")
    entry = models.OneToOneField(LedgerEntry, on_delete=models.PROTECT, related_name="lot")
    points = models.BigIntegerField(_("points"))
    remaining = models.BigIntegerField(_("remaining"))
    state = models.CharField(_("state"), max_length=10, choices=EntryState.choices)
    available_at = models.DateTimeField(_("available at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)

    class Meta:
        verbose_name = _("point lot")
        verbose_name_plural = _("point lots")
        indexes = [
            models.Index(
                fields=["member", "state", "expires_at"],
                condition=Q(remaining__gt=0),
                name="lot_open_by_member",
            ),
            models.Index(
                fields=["expires_at"], condition=Q(remaining__gt=0), name="lot_open_by_expiry"
            ),
            models.Index(
                fields=["available_at"], condition=Q(state="pending"), name="lot_pending_by_date"
            ),
            # Every lot by expiry, emptied or not: the KPI member state re-reads the members
            # whose lots pass their expiry (points outstanding corrects for them).
            models.Index(fields=["expires_at"], include=["member"], name="lot_expiry_member"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(points__gt=0), name="lot_points_positive"),
            models.CheckConstraint(
                condition=Q(remaining__gte=0, remaining__lte=F("points")),
                name="lot_remaining_in_range",
            ),
            models.CheckConstraint(condition=~Q(state="debt"), name="lot_not_debt"),
        ]

    def __str__(self) -> str:
        return f"lot {self.entry_id}: {self.remaining}/{self.points}"


class LotMovement(models.Model):
    """Points an entry took from a lot (negative) or gave back to it (positive)."""

    entry = models.ForeignKey(LedgerEntry, on_delete=models.PROTECT, related_name="movements")
    lot = models.ForeignKey(PointLot, on_delete=models.PROTECT, related_name="movements")
    points = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["entry", "lot"], name="movement_once_per_entry_lot"),
            models.CheckConstraint(condition=~Q(points=0), name="movement_not_zero"),
        ]

    def __str__(self) -> str:
        return f"{self.points:+d} lot {self.lot_id}"
