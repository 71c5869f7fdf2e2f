"""KPI snapshots (pre-aggregated rows the dashboard and API read), targets and fill state."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Period(models.TextChoices):
    DAY = "day", _("Day")
    WEEK = "week", _("Week")
    MONTH = "month", _("Month")
    QUARTER = "quarter", _("Quarter")


class KpiSnapshot(models.Model):
    """One KPI's value for one segment over one period. Recomputing upserts on
    (kpi, segment, period, period_start), so re-running a night changes nothing."""

    kpi = models.CharField(_("KPI"), max_length=40)
    # "all", or "<dimension>:<value>": segment:new, tier:gold, store:TYO01, channel:online,
    # cohort:2026-01, age:30-39, gender:female.
    segment = models.CharField(_("segment"), max_length=80, default="all")
    period = models.CharField(_("period"), max_length=8, choices=Period.choices)
    period_start = models.DateField(_("period start"))
    value = models.DecimalField(_("value"), max_digits=18, decimal_places=4, null=True)
    # What the value was computed from, e.g. promoters - detractors over answers; `n` is the
    # sample size (answers, members, purchases) the dashboard uses to flag unreliable values.
    numerator = models.DecimalField(max_digits=20, decimal_places=4, null=True)
    denominator = models.DecimalField(max_digits=20, decimal_places=4, null=True)
    n = models.PositiveIntegerField(_("sample size"), default=0)
    details = models.JSONField(_("details"), default=dict, blank=True)
    computed_at = models.DateTimeField(_("computed at"), auto_now=True)

    class Meta:
        verbose_name = _("KPI snapshot")
        verbose_name_plural = _("KPI snapshots")
        ordering = ["kpi", "segment", "period", "period_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["kpi", "segment", "period", "period_start"], name="kpi_snapshot_once"
            )
        ]
        indexes = [
            models.Index(fields=["period", "period_start"], name="kpi_snapshot_period"),
        ]

    def __str__(self) -> str:
        return f"{self.kpi} {self.segment} {self.period} {self.period_start}: {self.value}"


class KpiTarget(models.Model):
    """What a marketer aims for: an absolute value ("repeat rate 40%") or a change against the
    previous period ("NPS +5 this quarter")."""

    class Kind(models.TextChoices):
        ABSOLUTE = "absolute", _("Reach the value")
        CHANGE = "change", _("Change by the value against the previous period")

    kpi = models.CharField(_("KPI"), max_length=40)
    segment = models.CharField(_("segment"), max_length=80, default="all")
    period = models.CharField(_("period"), max_length=8, choices=Period.choices)
    period_start = models.DateField(_("period start"))
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.ABSOLUTE)
    value = models.DecimalField(_("target"), max_digits=18, decimal_places=4)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("KPI target")
        verbose_name_plural = _("KPI targets")
        ordering = ["kpi", "period", "-period_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["kpi", "segment", "period", "period_start"], name="kpi_target_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kpi} {self.segment} {self.period} {self.period_start}: {self.value}"


class KpiFillState(models.Model):
    """How far a recompute run got: one row per run name ("nightly", or a manual range). An
    interrupted run resumes from the day after `done_through`."""

    name = models.CharField(max_length=60, unique=True)
    range_start = models.DateField()
    range_end = models.DateField()
    done_through = models.DateField(null=True, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("KPI fill state")
        verbose_name_plural = _("KPI fill states")

    def __str__(self) -> str:
        return f"{self.name}: {self.range_start}..{self.range_end}, done {self.done_through}"
