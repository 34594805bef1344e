"""API keys: ``fsk_<id>_<secret>``. Only SHA-256(key) is stored; the id finds the row, a
constant-time comparison checks the secret. The key is printed once, at creation."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from fakescope.store.database import Database, utcnow
from fakescope.store.models import ApiKey

PREFIX = "fsk"


@dataclass(frozen=True)
class NewKey:
    id: str
    token: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_key(db: Database, name: str, *, rate_per_min: int | None = None,
               max_upload_bytes: int | None = None, admin: bool = False) -> NewKey:
    key_id = secrets.token_hex(6)
    token = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    with db.write() as s:
        s.add(ApiKey(id=key_id, name=name, secret_sha256=_hash(token), created_at=utcnow(),
                     rate_per_min=rate_per_min, max_upload_bytes=max_upload_bytes, admin=admin))
    return NewKey(id=key_id, token=token)


def parse_token(token: str) -> str | None:
    """The key id of a well-formed token, else None."""
    parts = token.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1]


def verify(db: Database, token: str) -> ApiKey | None:
    key_id = parse_token(token)
    if key_id is None:
        return None
    with db.read() as s:
        row = s.get(ApiKey, key_id)
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.secret_sha256, _hash(token.strip())):
        return None
    return row


def list_keys(db: Database) -> list[ApiKey]:
    with db.read() as s:
        return list(s.scalars(select(ApiKey).order_by(ApiKey.created_at)))


def revoke_key(db: Database, key_id: str) -> bool:
    with db.write() as s:
        row = s.get(ApiKey, key_id)
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = utcnow()
        return True
