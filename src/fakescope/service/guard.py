"""Browser guard for a service without API keys (the laptop default on 127.0.0.1).

Without keys, the browser is the only gatekeeper, and two browser tricks get past it:
- DNS rebinding: a page on attacker.example re-points its own name at 127.0.0.1 and then
  reads and deletes scans "same-origin". Its requests carry ``Host: attacker.example``, so
  only the names this service is reached by are answered (loopback names, the bound
  address, ``allowed_hosts``); others get 400.
- Cross-site writes: an HTML form or a ``text/plain`` fetch on any site can POST here
  without a CORS preflight. Browsers mark such requests (``Origin``, ``Sec-Fetch-Site``):
  a state-changing request from another origin than this one (or a CORS-allowed one) gets
  403.

With keys required neither applies: a request without a key is refused anyway.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from fakescope.service.settings import ServiceSettings, is_loopback

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "127.0.0.1", "::1"})


def _hostname(host: str) -> str:
    """``name[:port]`` or ``[v6]:port`` -> the name, lower-case, without brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host[1:]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class BrowserGuard:
    """Pure ASGI middleware; a no-op when the service requires API keys."""

    def __init__(self, app: Any, settings: ServiceSettings) -> None:
        self.app = app
        self.active = not settings.auth_required
        bound = _hostname(settings.host)
        wildcard = bound in ("0.0.0.0", "::", "")
        # Bound to every interface with keys off and no names given: the operator chose an
        # open service on a network; there is no list of names to hold requests to.
        self.check_host = self.active and (is_loopback(bound) or bool(settings.allowed_hosts) or not wildcard)
        self.hosts = _LOOPBACK_NAMES | {bound} | {_hostname(h) for h in settings.allowed_hosts}
        self.origins = {o.rstrip("/").lower() for o in settings.cors_origins}

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:  # type: ignore[type-arg]
        if not self.active or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if self.check_host and _hostname(host) not in self.hosts:
            await _refuse(send, 400, f"this service does not answer to the host name {_hostname(host)!r} "
                                     "(set allowed_hosts to add one)")
            return
        if scope.get("method", "GET") not in _SAFE_METHODS and self._cross_site(headers, host):
            await _refuse(send, 403, "cross-site request refused: without API keys only pages of "
                                     "this service (or of cors_origins) may change scans")
            return
        await self.app(scope, receive, send)

    def _cross_site(self, headers: dict[str, str], host: str) -> bool:
        origin = headers.get("origin")
        if origin is not None:
            if origin == "null":
                return True
            parts = urlsplit(origin)
            same = parts.netloc.lower() == host.strip().lower()
            return not same and origin.rstrip("/").lower() not in self.origins
        return headers.get("sec-fetch-site") == "cross-site"


async def _refuse(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
