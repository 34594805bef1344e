"""Report callbacks: POST the finished scan to the ``callback_url`` given at upload.

Sent from one background thread, never from a worker, with a short timeout and
exponential back-off; the state lives in the database, so callbacks due when the server
stopped are sent after it restarts. Only http(s) URLs are accepted, and unless the
operator allows it, none that resolve to loopback, private or link-local addresses: a
callback must not become a way to reach the service's internal network.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update

from fakescope.store.database import Database, utcnow
from fakescope.store.models import Scan

log = logging.getLogger("fakescope.callbacks")


class CallbackURLError(ValueError):
    pass


def check_callback_url(url: str, *, allow_private: bool, resolve: bool = True) -> str:
    """The URL if it may be called back, else CallbackURLError with the reason."""
    url = url.strip()
    if len(url) > 2048:
        raise CallbackURLError("callback_url is longer than 2048 characters")
    try:
        parts = urlsplit(url)
        _ = parts.port  # an out-of-range or non-numeric port raises here
    except ValueError as exc:  # "Invalid IPv6 URL", bad port: not a URL one can call
        raise CallbackURLError(f"callback_url is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise CallbackURLError("callback_url must be an http:// or https:// URL")
    if not parts.hostname:
        raise CallbackURLError("callback_url has no host")
    if parts.username or parts.password:
        raise CallbackURLError("callback_url must not carry credentials")
    if allow_private:
        return url
    try:
        addrs = [ipaddress.ip_address(parts.hostname)]
    except ValueError:
        if not resolve:
            return url
        try:
            infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError) as exc:  # UnicodeError: not a valid (IDNA) host name
            raise CallbackURLError(f"callback_url host {parts.hostname!r} does not resolve") from exc
        addrs = [ipaddress.ip_address(i[4][0]) for i in infos]
    for a in addrs:
        if not a.is_global:
            raise CallbackURLError(
                f"callback_url resolves to a non-public address ({a}); the operator can allow "
                "that with FAKESCOPE_CALLBACK_ALLOW_PRIVATE=true")
    return url


def pinned_target(url: str, *, allow_private: bool) -> tuple[str, dict[str, str], dict[str, Any]]:
    """Where to send a callback: the URL with its host replaced by the one address that was
    checked, the ``Host`` header and TLS server name of the original host.

    Checking a name and then letting the HTTP client resolve it again would let a DNS
    answer that changes in between (rebinding) send the callback to an internal address."""
    url = check_callback_url(url, allow_private=allow_private, resolve=False)
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        ipaddress.ip_address(host)
        return url, {}, {}  # an address already: nothing to resolve again
    except ValueError:
        pass
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise CallbackURLError(f"callback_url host {host!r} does not resolve") from exc
    addrs = [ipaddress.ip_address(i[4][0]) for i in infos]
    if not allow_private:
        for a in addrs:
            if not a.is_global:
                raise CallbackURLError(
                    f"callback_url resolves to a non-public address ({a}); the operator can allow "
                    "that with FAKESCOPE_CALLBACK_ALLOW_PRIVATE=true")
    addr = sorted(addrs, key=lambda a: a.version)[0]  # IPv4 first, as most receivers listen
    literal = f"[{addr}]" if addr.version == 6 else str(addr)
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    pinned = parts._replace(netloc=netloc).geturl()
    headers = {"host": parts.netloc.rsplit("@", 1)[-1]}
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return pinned, headers, extensions


class CallbackDispatcher:
    def __init__(self, db: Database, payload: Callable[[Scan], dict[str, Any]], *,
                 timeout_s: float = 5.0, max_attempts: int = 5, allow_private: bool = False,
                 secret: str | None = None, clock: Callable[[], datetime] = utcnow,
                 poll_s: float = 1.0) -> None:
        self.db = db
        self.payload = payload
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.allow_private = allow_private
        self.secret = secret
        self.clock = clock
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fakescope-callbacks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self.timeout_s + 1)

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        import httpx

        with httpx.Client(timeout=self.timeout_s, follow_redirects=False) as client:
            while not self._stop.is_set():
                try:
                    sent = self.send_due(client)
                except Exception:
                    log.exception("callback round failed")
                    sent = 0
                if not sent:
                    self._wake.wait(self.poll_s)
                    self._wake.clear()

    def send_due(self, client: Any) -> int:
        """Send the callbacks that are due; returns how many were attempted."""
        now = self.clock()
        with self.db.read() as s:
            due = s.scalars(select(Scan).where(Scan.callback_state == "pending",
                                               Scan.callback_next_at <= now)
                            .order_by(Scan.callback_next_at).limit(20)).all()
        n = 0
        for scan in due:
            # Claim it (another server may share the database) by pushing its next try out.
            with self.db.write() as s:
                claimed = s.execute(update(Scan).where(
                    Scan.id == scan.id, Scan.callback_state == "pending",
                    Scan.callback_next_at == scan.callback_next_at,
                ).values(callback_next_at=now + timedelta(seconds=self.timeout_s * 4 + 30))).rowcount
            if not claimed:
                continue
            n += 1
            error = self._post(client, scan)
            attempts = scan.callback_attempts + 1
            values: dict[str, Any] = {"callback_attempts": attempts}
            if error is None:
                values.update(callback_state="sent", callback_next_at=None, callback_error=None)
            elif attempts >= self.max_attempts:
                values.update(callback_state="failed", callback_next_at=None, callback_error=error)
                log.warning("callback for scan %s given up after %d tries: %s", scan.id, attempts, error)
            else:
                values.update(callback_error=error,
                              callback_next_at=self.clock() + timedelta(seconds=2.0 * 4 ** (attempts - 1)))
            with self.db.write() as s:
                s.execute(update(Scan).where(Scan.id == scan.id).values(**values))
        return n

    def _post(self, client: Any, scan: Scan) -> str | None:
        try:
            url, pin_headers, extensions = pinned_target(scan.callback_url or "",
                                                         allow_private=self.allow_private)
        except CallbackURLError as exc:
            return str(exc)
        body = json.dumps(self.payload(scan), separators=(",", ":")).encode()
        headers = {"content-type": "application/json", "user-agent": "fakescope-callback",
                   "x-fakescope-scan-id": scan.id}
        if self.secret:
            sig = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            headers["x-fakescope-signature"] = f"sha256={sig}"
        headers.update(pin_headers)
        try:
            r = client.post(url, content=body, headers=headers, extensions=extensions)
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
        if 200 <= r.status_code < 300:
            return None
        return f"HTTP {r.status_code}"
