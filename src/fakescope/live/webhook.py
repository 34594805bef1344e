"""Post a watch's events to a URL, one JSON object per request, from a thread of its own.

The watch never waits for the receiver: events go into a bounded queue (the oldest is
dropped when it is full), each POST has a short timeout, and a failure is logged (once,
then at most once a minute) and forgotten. Only http(s) URLs without credentials are
accepted. The URL is the operator's own (a command-line flag): unlike the service's
callbacks, private addresses are allowed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from fakescope import __version__
from fakescope.errors import FakescopeError

log = logging.getLogger("fakescope.live")

QUEUE = 256
LOG_EVERY_S = 60.0


class WebhookError(FakescopeError):
    code = "webhook"


def check_webhook_url(url: str) -> str:
    try:
        parts = urlsplit(url.strip())
        _ = parts.port
    except ValueError as exc:
        raise WebhookError(f"--webhook is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError("--webhook must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise WebhookError("--webhook must not carry credentials (use a token in the path)")
    return url.strip()


class Webhook:
    """``send(event)`` never blocks; ``close()`` flushes for at most ``flush_s``."""

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url = check_webhook_url(url)
        self.timeout_s = timeout_s
        self.sent = self.failed = self.lost = 0
        self._q: queue.Queue = queue.Queue(maxsize=QUEUE)
        self._last_log = -LOG_EVERY_S
        self._thread = threading.Thread(target=self._run, name="fakescope-webhook", daemon=True)
        self._thread.start()

    def send(self, event: Any) -> None:
        body = event.to_json().encode()
        while True:
            try:
                self._q.put_nowait(body)
                return
            except queue.Full:
                try:
                    self._q.get_nowait()  # the oldest goes: the newest verdict matters most
                    self.lost += 1
                except queue.Empty:
                    pass

    def close(self, flush_s: float = 5.0) -> None:
        deadline = time.monotonic() + flush_s
        while not self._q.empty() and time.monotonic() < deadline:
            time.sleep(0.05)
        self._q.put(None)
        self._thread.join(max(0.0, deadline - time.monotonic()) + 0.1)

    def _run(self) -> None:
        while True:
            body = self._q.get()
            if body is None:
                return
            error = self._post(body)
            if error is None:
                self.sent += 1
                continue
            self.failed += 1
            now = time.monotonic()
            if now - self._last_log >= LOG_EVERY_S:
                self._last_log = now
                log.warning("webhook %s failed (%d so far; the watch goes on): %s",
                            self.url, self.failed, error)

    def _post(self, body: bytes) -> str | None:
        req = urllib.request.Request(self.url, data=body, method="POST", headers={
            "content-type": "application/json", "user-agent": f"fakescope-watch/{__version__}"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as r:
                r.read(1024)
                return None if 200 <= r.status < 300 else f"HTTP {r.status}"
        except urllib.error.HTTPError as exc:
            return f"HTTP {exc.code}"
        except Exception as exc:  # refused, timed out, TLS: the watch goes on
            return f"{type(exc).__name__}: {exc}"
