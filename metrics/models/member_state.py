"""The KPI member state: what the nightly KPIs need to know of each member at the run's
cutoff, kept up to date from each day's new data (metrics.member_state, docs/metrics.md,
"Member state"). Derived data: `manage.py kpis state --rebuild` recomputes it from the
books at any time.

Its tables reference members without foreign-key constraints (as MemberActiveSpan always
did): the rows are written only from the members table itself, and PostgreSQL checks a
deferred constraint once per inserted row at commit, millions of lookups for a rebuild."""

from django.db import models


class MemberStateMark(models.Model):
    """The one row saying which date the member state is at, and with which settings it was
    computed: with others it is rebuilt."""

    as_of = models.DateField()  # exclusive cutoff: the state at local midnight of this date
    read_at = models.DateTimeField()  # when its last update began reading the books
    lapse_days = models.PositiveIntegerField()
    repeat_months = models.PositiveIntegerField()

    class Meta:
        verbose_name = "KPI member state mark"

    def __str__(self) -> str:
        return f"member state at {self.as_of}"


class MemberDimensions(models.Model):
    """A member's dimensions on a day, as metrics.kpis.segments defines them (d_<name>)."""

    d_segment = models.CharField(max_length=10)
    d_tier = models.CharField(max_length=20)
    d_store = models.CharField(max_length=20)
    d_cohort = models.DateField(null=True)
    d_age = models.CharField(max_length=8)
    d_gender = models.CharField(max_length=12)

    class Meta:
        abstract = True


class PurchaseMeasures(models.Model):
    """Purchases counting at the cutoff T and their net amount: the trailing year (y), the
    trailing repeat window (r, LOYALTY_REPEAT_MONTHS), and each current period (day, week,
    month, quarter containing T - 1) from its start: `<p>_start` names the period they
    belong to (a row of an earlier period counts as none)."""

    y_purchases = models.IntegerField()
    y_net = models.BigIntegerField()
    r_purchases = models.IntegerField()
    r_net = models.BigIntegerField()
    day_start = models.DateField()
    day_purchases = models.IntegerField()
    day_net = models.BigIntegerField()
    week_start = models.DateField()
    week_purchases = models.IntegerField()
    week_net = models.BigIntegerField()
    month_start = models.DateField()
    month_purchases = models.IntegerField()
    month_net = models.BigIntegerField()
    quarter_start = models.DateField()
    quarter_purchases = models.IntegerField()
    quarter_net = models.BigIntegerField()

    class Meta:
        abstract = True


class MemberState(MemberDimensions, PurchaseMeasures):
    """One member at the cutoff T (`MemberStateMark.as_of`): the dimensions on the day before
    (the state at the end of T - 1, as `metrics.kpis.segments` defines them) and the measures
    at T. `version` is the cutoff of the update that last recomputed the row: a row untouched
    since a date still describes the member at that date."""

    member = models.OneToOneField(
        "members.Member",
        primary_key=True,
        on_delete=models.CASCADE,
        db_constraint=False,
        related_name="+",
    )
    version = models.DateField()
    joined_at = models.DateTimeField()
    # The member's birth date: their age band on any day (LTV's trailing-year churn slices
    # its base by the dimensions a year ago from these rows, not from the members table).
    birth_date = models.DateField(null=True)
    is_member = models.SmallIntegerField()  # joined before T, not withdrawn before T
    active = models.SmallIntegerField()  # a member with a purchase counting at T in the lapse
    dormant = models.SmallIntegerField()
    points = models.BigIntegerField()  # points outstanding at T
    points_row = models.SmallIntegerField()  # has a row in points outstanding's facts
    # The latest purchase counting at T, within the trailing year (the challenge repeat
    # comparison's follow-up: bought since E <=> last_purchase_at >= E).
    last_purchase_at = models.DateTimeField(null=True)
    # Any purchase in the current month up to T, returned or not (cohort retention).
    month_bought = models.SmallIntegerField(default=0)
    # Points expired in each current period (`<p>_start`) up to T, and whether any did
    # (points_expired: expiry entries of the period, by the expiry they record).
    day_expired = models.BigIntegerField(default=0)
    day_expirer = models.SmallIntegerField(default=0)
    week_expired = models.BigIntegerField(default=0)
    week_expirer = models.SmallIntegerField(default=0)
    month_expired = models.BigIntegerField(default=0)
    month_expirer = models.SmallIntegerField(default=0)
    quarter_expired = models.BigIntegerField(default=0)
    quarter_expirer = models.SmallIntegerField(default=0)

    class Meta:
        verbose_name = "KPI member state"

    def __str__(self) -> str:
        return f"member {self.member_id} at {self.version}"


class MemberChannelState(PurchaseMeasures):
    """A member's purchases through one channel at the cutoff (the purchase KPIs' channel
    slices), for members with a purchase through it in the longest window the state keeps."""

    # Keyed by (member, channel), member first: found by member through that index. No
    # surrogate id: a rebuild writes 1.5 million rows at a million members, and each id
    # would be a sequence call and one more index to build.
    pk = models.CompositePrimaryKey("member_id", "channel")
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.CASCADE,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    channel = models.CharField(max_length=10)
    active = models.SmallIntegerField()

    class Meta:
        verbose_name = "KPI member channel state"

    def __str__(self) -> str:
        return f"member {self.member_id} {self.channel}"


class MemberActiveSpan(models.Model):
    """A stretch of time during which a member was active (metrics.kpis.activity): active at
    every instant X with starts_at < X <= ends_at. A member's spans are the union, over their
    purchases, of the instants at which each one makes them active (after it and after they
    joined; within the lapse window; until a full return; until they withdrew), so "active at
    E" for any past E is a lookup. With the member's last_purchase_at copied (the state's)."""

    # Keyed by (member, start), member first: found by member through that index (a
    # member's spans never share a start: they are disjoint).
    pk = models.CompositePrimaryKey("member_id", "starts_at")
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.CASCADE,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    last_purchase_at = models.DateTimeField(null=True)

    class Meta:
        verbose_name = "KPI member active span"

    def __str__(self) -> str:
        return f"member {self.member_id} active {self.starts_at}..{self.ends_at}"


class MemberPeriodBase(MemberDimensions):
    """Churn's base for a current period: a member who was active at the period's start and
    whose row has been recomputed since (MemberState.version after the start), with their
    dimensions on the day before the start, from the books. A member whose row is older than
    the start is read from the row itself: it still describes them at the start."""

    # Keyed by (member, period, start), member first: a night probes a few members' rows,
    # and a rebuild builds the index over millions of rows sorted by an integer first
    # (period first, the sort compared text: 3.7 s rather than about 1 s). No surrogate
    # id: 2.8 million sequence calls and one more index in a rebuild at a million members.
    pk = models.CompositePrimaryKey("member_id", "period", "start")
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.CASCADE,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    period = models.CharField(max_length=8)
    start = models.DateField()

    class Meta:
        verbose_name = "KPI member period base"

    def __str__(self) -> str:
        return f"member {self.member_id} in the base of {self.period} {self.start}"


class PurchaseSums(models.Model):
    """Sums over members of the purchase measures at the cutoff, per window: purchases, net
    amount, buyers (>= 1 purchase) and repeat buyers (>= 2). A current period's count only
    the rows of that period."""

    y_purchases = models.BigIntegerField()
    y_net = models.BigIntegerField()
    y_buyer = models.BigIntegerField()
    y_repeater = models.BigIntegerField()
    r_purchases = models.BigIntegerField()
    r_net = models.BigIntegerField()
    r_buyer = models.BigIntegerField()
    r_repeater = models.BigIntegerField()
    day_purchases = models.BigIntegerField()
    day_net = models.BigIntegerField()
    day_buyer = models.BigIntegerField()
    day_repeater = models.BigIntegerField()
    week_purchases = models.BigIntegerField()
    week_net = models.BigIntegerField()
    week_buyer = models.BigIntegerField()
    week_repeater = models.BigIntegerField()
    month_purchases = models.BigIntegerField()
    month_net = models.BigIntegerField()
    month_buyer = models.BigIntegerField()
    month_repeater = models.BigIntegerField()
    quarter_purchases = models.BigIntegerField()
    quarter_net = models.BigIntegerField()
    quarter_buyer = models.BigIntegerField()
    quarter_repeater = models.BigIntegerField()

    class Meta:
        abstract = True


class MemberStateTotals(PurchaseSums):
    """The member state's KPI facts summed per segment ("all" and each dimension's values,
    named as the snapshots name them), at the state's cutoff (metrics.member_state_totals):
    moved by each update by the touched members' old and new rows, so the nightly totals
    read some seventy rows, not a million. A segment may have several rows (summed)."""

    segment = models.CharField(max_length=100)
    is_member = models.BigIntegerField()
    active = models.BigIntegerField()
    dormant = models.BigIntegerField()
    points_row = models.BigIntegerField()
    points = models.BigIntegerField()
    holder = models.BigIntegerField()  # members with points outstanding above zero
    joined = models.BigIntegerField(default=0)  # members who joined before the cutoff
    month_bought = models.BigIntegerField(default=0)  # of them, bought in the current month
    day_expired = models.BigIntegerField(default=0)  # points expired in the current period
    day_expirer = models.BigIntegerField(default=0)  # members with points expired in it
    week_expired = models.BigIntegerField(default=0)
    week_expirer = models.BigIntegerField(default=0)
    month_expired = models.BigIntegerField(default=0)
    month_expirer = models.BigIntegerField(default=0)
    quarter_expired = models.BigIntegerField(default=0)
    quarter_expirer = models.BigIntegerField(default=0)
    new_day = models.BigIntegerField()  # joined in the current period, before the cutoff
    new_week = models.BigIntegerField()
    new_month = models.BigIntegerField()
    new_quarter = models.BigIntegerField()
    base_day = models.BigIntegerField()  # active, in a row older than the period's start
    base_week = models.BigIntegerField()
    base_month = models.BigIntegerField()
    base_quarter = models.BigIntegerField()

    class Meta:
        verbose_name = "KPI member state totals"

    def __str__(self) -> str:
        return f"{self.segment}: {self.is_member} members"


class MemberChannelTotals(PurchaseSums):
    """MemberChannelState summed per channel segment ("channel:<code>"), kept likewise."""

    segment = models.CharField(max_length=100)
    active = models.BigIntegerField()

    class Meta:
        verbose_name = "KPI member channel totals"

    def __str__(self) -> str:
        return f"{self.segment}: {self.active} active"


class MemberPeriodBaseTotals(models.Model):
    """MemberPeriodBase summed per current period and segment: the kept part of churn's
    base and, of it, the members not active at the cutoff (lost)."""

    period = models.CharField(max_length=8)
    start = models.DateField()
    segment = models.CharField(max_length=100)
    base = models.BigIntegerField()
    lost = models.BigIntegerField()

    class Meta:
        verbose_name = "KPI member period base totals"

    def __str__(self) -> str:
        return f"{self.period} {self.start} {self.segment}: {self.lost} of {self.base} lost"
