"""Rate limits per integration key, per member token and, for login, per client address.

Counters live in the default cache: Redis when REDIS_URL is set (shared by every web process),
a per-process memory cache otherwise. Rates come from settings (LOYALTY_THROTTLE_*).
"""

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from members.models import ApiKey, MemberToken


class _SettingsRate(SimpleRateThrottle):
    def get_rate(self):
        # Read the rates now, not at import (DRF's class attribute): settings can change them.
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]


class CallerRateThrottle(_SettingsRate):
    """One bucket per API key ("integration" rate) or member ("member" rate)."""

    def allow_request(self, request, view):
        if isinstance(request.auth, ApiKey):
            self.scope, ident = "integration", f"key:{request.auth.pk}"
        elif isinstance(request.auth, MemberToken):
            self.scope, ident = "member", f"member:{request.auth.member_id}"
        else:
            return True  # unauthenticated calls are refused before they cost anything
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self._ident = ident
        return super().allow_request(request, view)

    def __init__(self):
        # Rate depends on the caller: resolved in allow_request.
        pass

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self._ident}


class LoginRateThrottle(_SettingsRate):
    scope = "login"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
