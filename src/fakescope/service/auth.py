"""Who is calling: an API key (``Authorization: Bearer fsk_…`` or ``X-API-Key``), or nobody
when auth is off (a server bound to localhost, by default)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import update

from fakescope.service.keys import verify
from fakescope.store.database import utcnow
from fakescope.store.models import ApiKey

LAST_USED_EVERY_S = 300.0
# Declared so that the OpenAPI document names both ways of presenting a key (tools that
# check authorisation read them); the key itself is read by ``_token``.
BEARER = HTTPBearer(auto_error=False, scheme_name="bearer",
                    description="an API key (`fakescope keys create`): `Authorization: Bearer fsk_…`")
API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="apiKey",
                       description="the same API key in an `X-API-Key` header")


@dataclass(frozen=True)
class Principal:
    key_id: str | None  # None: auth is off
    admin: bool  # sees every scan, not only its own
    rate_per_min: int
    max_upload_bytes: int
    bucket: str  # rate-limit bucket

    def can_see(self, owner_key_id: str | None) -> bool:
        return self.admin or self.key_id is None or owner_key_id == self.key_id


def _token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return request.headers.get("x-api-key") or None


def principal(request: Request,
              _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)] = None,
              _api_key: Annotated[str | None, Depends(API_KEY)] = None) -> Principal:
    svc = request.app.state.service
    s = svc.settings
    if not s.auth_required:
        host = request.client.host if request.client else "local"
        return Principal(None, True, s.rate_per_min, s.max_upload_bytes, f"anon:{host}")
    token = _token(request)
    if token is None:
        raise HTTPException(401, "an API key is required (Authorization: Bearer <key>)",
                            headers={"WWW-Authenticate": "Bearer"})
    row = verify(svc.db, token)
    if row is None:
        raise HTTPException(401, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    _touch(svc, row)
    return Principal(row.id, bool(row.admin), row.rate_per_min or s.rate_per_min,
                     row.max_upload_bytes or s.max_upload_bytes, f"key:{row.id}")


_last_touch: dict[str, float] = {}


def _touch(svc, row: ApiKey) -> None:  # type: ignore[no-untyped-def]
    # Not on every request: that would be a database write per poll.
    now = time.monotonic()
    if now - _last_touch.get(row.id, -1e9) < LAST_USED_EVERY_S:
        return
    _last_touch[row.id] = now
    with svc.db.write() as s:
        s.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=utcnow()))
