"""Input fields that take only the JSON type the schema documents.

DRF's CharField turns 42 into "42" and its IntegerField turns "42" into 42. The API's contract
says string or integer, and a client sending the other type has a bug (a dropped leading zero,
a price built as text) that deserves a 400 naming the field rather than a guess.
"""

import datetime as dt
import json

from django.core.exceptions import ObjectDoesNotExist
from django.utils import dateparse, timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.fields import empty


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data):
        integral_float = isinstance(data, float) and data.is_integer()
        if isinstance(data, bool) or not (isinstance(data, int) or integral_float):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictSlugRelatedField(serializers.SlugRelatedField):
    """A slug is a string: not a number, not "" (DRF's related fields take it for a null),
    and without NUL, which PostgreSQL refuses in a query (a 500, not a 400)."""

    def run_validation(self, data=empty):
        if data == "" or (data not in (empty, None) and not isinstance(data, str)):
            self.fail("invalid")
        if isinstance(data, str) and "\x00" in data:
            self.fail("invalid")
        return super().run_validation(data)

    def to_internal_value(self, data):
        queryset = self.get_queryset()
        try:
            return queryset.get(**{self.slug_field: data})
        except (TypeError, ValueError):
            self.fail("invalid")
        except ObjectDoesNotExist:
            # Not DRF's "Object with code=X does not exist.": the thing, in the reader's words.
            raise serializers.ValidationError(
                _("No %(thing)s has this code.") % {"thing": queryset.model._meta.verbose_name}
            ) from None


# Bounds of what the API takes, far beyond any real purchase yet inside the database's 64-bit
# integers (and Python's datetimes) with room for sums: past them a request is a 400, not a 500.
MAX_YEN = 1_000_000_000_000
MAX_POINTS = 1_000_000_000_000
MAX_QUANTITY = 1_000_000
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
# A till's clock may run a little fast; further ahead than this is not "when it happened".
MAX_CLOCK_SKEW = dt.timedelta(minutes=15)


class OffsetDateTimeField(serializers.DateTimeField):
    """A date-time that gives its offset from UTC when it comes as text. One without would
    be read in the server's zone: a till elsewhere, or a client sending UTC without saying
    so, would shift every time it sends by hours."""

    default_error_messages = {
        "no_offset": _("Give the time's offset from UTC (+09:00, or Z for UTC)."),
    }

    def to_internal_value(self, value):
        parsed = super().to_internal_value(value)
        if isinstance(value, str):
            bare = dateparse.parse_datetime(value.strip())
            if bare is not None and bare.tzinfo is None:
                self.fail("no_offset")
        return parsed


class EventTimeField(OffsetDateTimeField):
    """When a purchase or return happened: text with its offset, from 2000 on and not in
    the future (beyond a till's clock skew), so the expiry and return-window dates computed
    from it exist."""

    default_error_messages = {
        "future": _("Must not be in the future."),
        "too_early": _("Must not be before 2000-01-01."),
    }

    def to_internal_value(self, value):
        if not isinstance(value, str):
            self.fail("invalid", format="YYYY-MM-DDThh:mm[:ss[.uuuuuu]](+HH:MM|-HH:MM|Z)")
        parsed = super().to_internal_value(value)
        if parsed < EARLIEST:
            self.fail("too_early")
        if parsed > timezone.now() + MAX_CLOCK_SKEW:
            self.fail("future")
        return parsed


class StrictFloatField(serializers.FloatField):
    """A JSON number (true/false and strings refused)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class JsonObjectField(serializers.DictField):
    """A JSON object stored as is. PostgreSQL's jsonb refuses the NUL character (a 500, not a
    400), so it is refused here, in keys and values at any depth."""

    default_error_messages = {"nul": _("Must not contain the NUL character (\\u0000).")}

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if "\\u0000" in json.dumps(value):
            self.fail("nul")
        return value
