"""Query filters that answer 400, not 500, for values the database cannot compare."""

import datetime as dt

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _
from django_filters.fields import IsoDateTimeField


class _InRangeIsoDateTimeField(IsoDateTimeField):
    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            # Compared in UTC: 9999-12-31T23:59-12:00 is in year 10000 there. And an offset
            # Python takes (+20:58) may be one PostgreSQL refuses (beyond 15:59).
            return parsed.astimezone(dt.UTC)
        except OverflowError:
            raise forms.ValidationError(_("Date and time out of range.")) from None


class IsoDateTimeInRangeFilter(django_filters.IsoDateTimeFilter):
    field_class = _InRangeIsoDateTimeField
