"""API keys for integrations (POS, e-commerce, back office).

A key is shown once when created: `lk_<prefix>_<secret>`. Only the prefix (to find the row)
and a SHA-256 of the whole key are stored; the secret has 256 random bits, so a fast hash is
enough (no password-style stretching needed) and verification stays cheap per request.
"""

import hashlib
import hmac
import secrets

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.errors import LoyaltyError

from .models import ApiKey, Store

SCOPES = {
    "members:read": "read members",
    "members:write": "register and update members",
    "events:write": "send purchases, returns and other events",
    "coupons:issue": "issue coupons",
    "coupons:redeem": "redeem coupons",
    "points:adjust": "adjust points",
    "kpis:read": "read KPIs",
}


class InvalidScope(LoyaltyError):
    code = "invalid_scope"
    field = "scopes"


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def api_key_create(
    *, name: str, scopes: list[str], store: Store | None = None
) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the raw key, which is never stored or shown again."""
    unknown = sorted(set(scopes) - SCOPES.keys())
    if unknown:
        raise InvalidScope(_("Unknown scope(s): %(scopes)s.") % {"scopes": ", ".join(unknown)})
    if not name.strip():
        raise LoyaltyError(_("A name is required."), field="name")
    prefix = secrets.token_hex(4)
    raw = f"lk_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        name=name.strip(),
        prefix=prefix,
        hashed_key=_digest(raw),
        scopes=sorted(set(scopes)),
        store=store,
    )
    return key, raw


def api_key_verify(raw: str) -> ApiKey | None:
    """The active key matching `raw`, or None."""
    parts = raw.split("_")
    if len(parts) < 3 or parts[0] != "lk":
        return None
    key = ApiKey.objects.select_related("store").filter(prefix=parts[1]).first()
    if key is None or key.revoked_at is not None:
        return None
    if not hmac.compare_digest(key.hashed_key, _digest(raw)):
        return None
    return key


def api_key_revoke(*, key: ApiKey) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key
