"""The nightly scheduler's record of the days it has done (challenges/scheduled.py)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class ScheduledEventsDay(models.Model):
    """One programme-local day whose scheduled events (birthday, anniversary, win_back) were
    created. The nightly task catches up from the last finished day; re-running a day is
    harmless (the events' client ids are deterministic), and only updates this row."""

    day = models.DateField(_("day"), unique=True)
    counts = models.JSONField(_("events created"), default=dict, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("scheduled events day")
        verbose_name_plural = _("scheduled events days")
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"{self.day}: {self.counts}"
