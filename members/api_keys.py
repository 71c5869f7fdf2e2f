"""API keys for integrations (POS, e-commerce, back office): `lk_<prefix>_<secret>`, shown
once, stored as a hash (members/credentials.py)."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.errors import LoyaltyError

from .credentials import credential_matches, credential_new, credential_prefix
from .models import ApiKey, Store

SCOPES = {
    "members:read": "read members",
    "members:write": "register and update members",
    "events:write": "send purchases, returns and other events",
    "events:read": "read the status and effects of events this key sent",
    "challenges:read": "dry-run challenges against an event",
    "coupons:issue": "issue coupons",
    "coupons:redeem": "redeem coupons",
    "points:adjust": "adjust points",
    "kpis:read": "read KPIs",
}


class InvalidScope(LoyaltyError):
    code = "invalid_scope"
    field = "scopes"


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
    credential = credential_new("lk")
    key = ApiKey.objects.create(
        name=name.strip(),
        prefix=credential.prefix,
        hashed_key=credential.digest,
        scopes=sorted(set(scopes)),
        store=store,
    )
    return key, credential.raw


def api_key_verify(raw: str) -> ApiKey | None:
    """The active key matching `raw`, or None."""
    prefix = credential_prefix(raw, "lk")
    if prefix is None:
        return None
    key = ApiKey.objects.select_related("store").filter(prefix=prefix).first()
    if key is None or key.revoked_at is not None or not credential_matches(key.hashed_key, raw):
        return None
    return key


def api_key_revoke(*, key: ApiKey) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key
