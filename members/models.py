from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import ExtractDay, ExtractMonth
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Store(models.Model):
    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    prefecture = models.CharField(_("prefecture"), max_length=50, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    latitude = models.DecimalField(
        _("latitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    longitude = models.DecimalField(
        _("longitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("store")
        verbose_name_plural = _("stores")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(latitude__isnull=True) | Q(latitude__gte=-90, latitude__lte=90),
                name="store_latitude_range",
            ),
            models.CheckConstraint(
                condition=Q(longitude__isnull=True) | Q(longitude__gte=-180, longitude__lte=180),
                name="store_longitude_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Staff(models.Model):
    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    store = models.ForeignKey(
        Store, verbose_name=_("store"), on_delete=models.PROTECT, related_name="staff"
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("login"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="staff_profile",
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("staff member")
        verbose_name_plural = _("staff")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Tier(models.Model):
    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    rank = models.PositiveSmallIntegerField(
        _("rank"), unique=True, help_text=_("Higher rank = better tier; rank 0 is the entry tier.")
    )
    threshold_spend = models.PositiveBigIntegerField(
        _("threshold spend"),
        help_text=_("Spend over the rolling window (in yen) needed to reach this tier."),
    )
    earn_multiplier = models.DecimalField(
        _("earn multiplier"), max_digits=4, decimal_places=2, default=1
    )

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["rank"]
        constraints = [
            models.CheckConstraint(
                condition=Q(earn_multiplier__gt=0), name="tier_multiplier_positive"
            ),
            models.UniqueConstraint(fields=["threshold_spend"], name="tier_threshold_unique"),
        ]

    def __str__(self) -> str:
        return self.name


def validate_birth_date(value) -> None:
    """A birth date is in the past (in the programme's zone) and after 1900: ages, age bands
    and birthday rewards read it."""
    if value > timezone.localdate():
        raise ValidationError(_("A birth date can't be in the future."))
    if value.year < 1900:
        raise ValidationError(_("A birth date must be in 1900 or later."))


class Member(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    class Gender(models.TextChoices):
        FEMALE = "female", _("Female")
        MALE = "male", _("Male")
        OTHER = "other", _("Other")
        UNSPECIFIED = "unspecified", _("Prefer not to say")

    member_number = models.CharField(_("member number"), max_length=16, unique=True, editable=False)
    # NULL, not "", when absent: unique constraints must ignore members without one.
    email = models.EmailField(_("email"), null=True, blank=True)  # noqa: DJ001
    phone = models.CharField(_("phone"), max_length=20, null=True, blank=True)  # noqa: DJ001
    name = models.CharField(_("name"), max_length=200, blank=True)
    birth_date = models.DateField(
        _("birth date"), null=True, blank=True, validators=[validate_birth_date]
    )
    gender = models.CharField(
        _("gender"), max_length=12, choices=Gender.choices, default=Gender.UNSPECIFIED
    )
    home_store = models.ForeignKey(
        Store,
        verbose_name=_("home store"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="home_members",
    )
    joined_at = models.DateTimeField(_("joined at"), default=timezone.now, db_index=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True, db_index=True)
    tier = models.ForeignKey(
        Tier, verbose_name=_("tier"), on_delete=models.PROTECT, null=True, blank=True
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("app login"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="member",
    )
    # Cached balances: written only by loyalty.ledger in the same transaction as the ledger
    # entries they summarise; `manage.py check_ledger` proves they equal the ledger sums.
    points_available = models.BigIntegerField(_("available points"), default=0, editable=False)
    points_pending = models.BigIntegerField(_("pending points"), default=0, editable=False)
    points_debt = models.BigIntegerField(_("points owed"), default=0, editable=False)
    points_lifetime = models.BigIntegerField(_("lifetime earned points"), default=0, editable=False)
    # When a field the KPI dimensions read last changed (stamped by save(), see there): the
    # nightly KPI run re-reads the members changed since its last update (metrics.member_state).
    changed_at = models.DateTimeField(
        _("profile changed at"), default=timezone.now, editable=False, db_index=True
    )

    # Saving any of these (or the whole row) stamps changed_at.
    TRACKED_FIELDS = frozenset(
        {"birth_date", "gender", "home_store", "joined_at", "status", "withdrawn_at", "tier"}
    )

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        ordering = ["-joined_at"]
        constraints = [
            models.UniqueConstraint(fields=["email"], name="member_email_unique"),
            models.UniqueConstraint(fields=["phone"], name="member_phone_unique"),
            models.CheckConstraint(
                condition=Q(points_available__gte=0), name="member_available_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(points_pending__gte=0), name="member_pending_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(points_debt__gte=0), name="member_debt_not_negative"
            ),
            models.CheckConstraint(
                condition=~Q(status="withdrawn") | Q(withdrawn_at__isnull=False),
                name="member_withdrawn_has_date",
            ),
        ]
        # The birthday (month, day): the birthday challenges' daily scan. The birth date: the
        # nightly KPI run re-reads the members whose age moved into another band, a range of
        # birth dates per band edge (metrics.member_state).
        indexes = [
            models.Index(
                ExtractMonth("birth_date"), ExtractDay("birth_date"), name="member_birthday"
            ),
            models.Index(fields=["birth_date"], name="member_birth_date"),
        ]
        permissions = [("withdraw_member", _("Can withdraw a member"))]

    def __str__(self) -> str:
        return f"{self.member_number} {self.name}".strip()

    def save(self, *args, update_fields=None, **kwargs):
        if update_fields is None or self.TRACKED_FIELDS & {
            name.removesuffix("_id") for name in update_fields
        }:
            self.changed_at = timezone.now()
            if update_fields is not None:
                update_fields = {*update_fields, "changed_at"}
        super().save(*args, update_fields=update_fields, **kwargs)


class HomeStoreChange(models.Model):
    """A member's home store changed (members.services.member_update_profile): the KPIs'
    store dimension on a past date is the store the first later change left."""

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="store_changes"
    )
    from_store = models.ForeignKey(
        Store,
        verbose_name=_("previous store"),
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
    )
    to_store = models.ForeignKey(
        Store, verbose_name=_("new store"), on_delete=models.PROTECT, null=True, related_name="+"
    )
    changed_at = models.DateTimeField(_("changed at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("home store change")
        verbose_name_plural = _("home store changes")
        ordering = ["-changed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.from_store or '-'} → {self.to_store or '-'}"


class TierChange(models.Model):
    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="tier_changes"
    )
    from_tier = models.ForeignKey(
        Tier, verbose_name=_("from"), on_delete=models.PROTECT, null=True, related_name="+"
    )
    to_tier = models.ForeignKey(
        Tier, verbose_name=_("to"), on_delete=models.PROTECT, null=True, related_name="+"
    )
    window_spend = models.BigIntegerField(_("spend in window"))
    changed_at = models.DateTimeField(_("changed at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("tier change")
        verbose_name_plural = _("tier changes")
        ordering = ["-changed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.from_tier or '-'} → {self.to_tier or '-'}"


class Visit(models.Model):
    """A store visit (check-in) by a member."""

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="visits"
    )
    store = models.ForeignKey(Store, verbose_name=_("store"), on_delete=models.PROTECT)
    visited_at = models.DateTimeField(_("visited at"), db_index=True)

    class Meta:
        verbose_name = _("visit")
        verbose_name_plural = _("visits")
        ordering = ["-visited_at"]
        indexes = [models.Index(fields=["member", "visited_at"])]

    def __str__(self) -> str:
        return f"{self.member_id} @ {self.store_id} {self.visited_at:%Y-%m-%d}"


class ApiKey(models.Model):
    """An integration's credential; see members/api_keys.py. The raw key is never stored."""

    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=16, unique=True, editable=False)
    hashed_key = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(_("scopes"), default=list)
    store = models.ForeignKey(
        Store,
        verbose_name=_("store"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        help_text=_("When set, the key acts only for this store."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} (lk_{self.prefix}_…)"


class MemberToken(models.Model):
    """A member-app login session; see members/member_tokens.py. Only a hash is stored."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="tokens")
    prefix = models.CharField(max_length=16, unique=True)
    hashed_key = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("member app token")
        verbose_name_plural = _("member app tokens")

    def __str__(self) -> str:
        return f"mt_{self.prefix}_… ({self.member_id})"
