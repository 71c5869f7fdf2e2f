"""Bearer secrets shown once and stored as a hash: `<kind>_<prefix>_<secret>`.

The prefix finds the row; the SHA-256 of the whole string proves it. The secret has 256 random
bits, so a fast hash is enough (no password stretching) and checking stays cheap per request.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class Credential:
    prefix: str
    raw: str
    digest: str


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def credential_new(kind: str) -> Credential:
    prefix = secrets.token_hex(4)
    raw = f"{kind}_{prefix}_{secrets.token_urlsafe(32)}"
    return Credential(prefix=prefix, raw=raw, digest=digest(raw))


def credential_prefix(raw: str, kind: str) -> str | None:
    """The prefix of a well-formed credential of this kind, else None."""
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != kind:
        return None
    prefix = parts[1]
    # Prefixes are short hex (credential_new); anything else finds no row, and must not reach
    # the database as is (PostgreSQL refuses a NUL in text: a 500, not a 401).
    return prefix if prefix.isascii() and prefix.isalnum() and len(prefix) <= 16 else None


def credential_matches(stored_digest: str, raw: str) -> bool:
    return hmac.compare_digest(stored_digest, digest(raw))
