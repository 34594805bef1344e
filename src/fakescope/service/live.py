"""Live checks in the service: start and stop a watch of a live stream over the API, and
stream its events to clients (Server-Sent Events) and to the web UI's live chart.

Watches run in threads of the server process, with one Scanner for all of them (made by
the service's scanner factory on the first watch: its models are the ones the workers
use, loaded once per process). They live in memory: a restart ends them. Only sources the
operator allows can be watched (``fakescope.live.policy``), at most ``live_max_watches``
at a time; each keeps its last ``EVENTS_KEPT`` events for clients that connect late, and
ended watches are forgotten after ``KEEP_ENDED_S``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from fakescope.errors import FakescopeError, SourceNotAllowedError
from fakescope.live.policy import Resolver, resolve_host
from fakescope.service.api import Problem, Svc, Who, problems
from fakescope.service.ratelimit import retry_after_header

log = logging.getLogger("fakescope.service")

EVENTS_KEPT = 1000
KEEP_ENDED_S = 3600.0
KEEP_ENDED = 50  # and never more ended watches than this
SSE_POLL_S = 0.2
SSE_HEARTBEAT_S = 15.0


class WatchRequest(BaseModel):
    # NaN passes no bound check but would be echoed back in the 422 (not JSON): refused as such.
    model_config = ConfigDict(allow_inf_nan=False)

    source: str = Field(max_length=2048, description="the stream's URL; it must start with one of the "
                        "prefixes the operator allows (FAKESCOPE_LIVE_SOURCES)",
                        examples=["rtsp://127.0.0.1:8554/live"])
    window_s: float = Field(2.0, ge=0.5, le=120.0, description="seconds each verdict covers")
    every_s: float = Field(1.0, ge=0.1, le=60.0, description="seconds between verdicts")
    fps: float = Field(10.0, gt=0.0, le=30.0, description="most frames analysed per second")
    duration_s: float | None = Field(None, gt=0.0, description="stop after this long (at most the "
                                     "operator's live_max_duration_s)")


class PersonState(BaseModel):
    person: int
    verdict: str
    score: float | None
    time_s: float


class WatchOut(BaseModel):
    id: str
    source: str = Field(description="the source as given, any password replaced by ***")
    status: str = Field(description="running or ended")
    started_at: str
    ended_at: str | None
    end: dict[str, Any] | None = Field(description="the watch's end event (reason and totals) once ended")
    people: list[PersonState] = Field(description="each person's latest verdict")
    alerts: int
    events: int = Field(description="events so far; GET .../events streams them")
    links: dict[str, str]


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class LiveWatch:
    """One running (or ended) watch and the events it said."""

    def __init__(self, wid: str, owner: str | None, display: str) -> None:
        self.id = wid
        self.owner = owner
        self.display = display
        self.started = time.time()
        self.ended: float | None = None
        self.end: dict[str, Any] | None = None
        self.people: dict[int, PersonState] = {}
        self.alerts = 0
        self._seq = itertools.count(1)
        self.last_seq = 0
        self.events: deque[tuple[int, str, str]] = deque(maxlen=EVENTS_KEPT)  # (seq, kind, json)
        self._lock = threading.Lock()
        self.watch: Any = None

    @property
    def holds_slot(self) -> bool:
        """Running, or stopped but its source not yet let go (a connection may still be open)."""
        return self.ended is None or (self.watch is not None and self.watch.source.alive)

    def add(self, event: Any) -> None:
        data = event.to_json()
        with self._lock:
            seq = next(self._seq)
            self.events.append((seq, event.event, data))
            self.last_seq = seq
            if event.event == "verdict" and event.person is not None:
                self.people[event.person] = PersonState(person=event.person, verdict=event.verdict,
                                                        score=event.score, time_s=event.time_s)
            elif event.event == "alert":
                self.alerts += 1
            elif event.event == "end":
                self.end = json.loads(data)
                self.ended = time.time()

    def after(self, seq: int) -> list[tuple[int, str, str]]:
        with self._lock:
            return [e for e in self.events if e[0] > seq]

    def resource(self) -> dict[str, Any]:
        with self._lock:
            people = [p.model_dump() for p in sorted(self.people.values(), key=lambda p: p.person)]
            return {"id": self.id, "source": self.display, "status": "ended" if self.ended else "running",
                    "started_at": _iso(self.started), "ended_at": _iso(self.ended), "end": self.end,
                    "people": people, "alerts": self.alerts, "events": self.last_seq,
                    "links": {"self": f"/v1/watches/{self.id}", "events": f"/v1/watches/{self.id}/events"}}


class LiveWatches:
    def __init__(self, settings: Any, scanner_factory: Callable[[], Any],
                 resolver: Resolver = resolve_host) -> None:
        self.settings = settings
        self._factory = scanner_factory
        self.resolver = resolver  # every destination of every watch is resolved by this, once
        self._scanner: Any = None
        self._lock = threading.Lock()
        self.watches: dict[str, LiveWatch] = {}
        self._leaving: list[LiveWatch] = []  # deleted, their source not yet let go

    def _scanner_now(self) -> Any:
        with self._lock:
            if self._scanner is None:
                self._scanner = self._factory()
            return self._scanner

    def start(self, req: WatchRequest, owner: str | None) -> LiveWatch:
        from fakescope.live.policy import check_live_source
        from fakescope.live.watch import Watch, WatchSettings

        s = self.settings
        spec = check_live_source(req.source, s.live_sources, allow_private=s.live_allow_private,
                                 resolver=self.resolver, tls_verify=s.live_tls_verify)
        self.forget_ended()
        with self._lock:
            self._leaving = [w for w in self._leaving if w.holds_slot]
            held = [w for w in [*self.watches.values(), *self._leaving] if w.holds_slot]
            if len(held) >= s.live_max_watches:
                raise _Busy(f"{len(held)} watch(es) running, the most this server runs at once "
                            f"(live_max_watches); stop one first")
            mine = sum(1 for w in held if w.owner == owner)
            # With keys off there is one user (the local one): the whole server is theirs.
            if owner is not None and mine >= s.live_per_key:
                raise _Busy(f"this API key runs {mine} watch(es), its share of the server's "
                            f"{s.live_max_watches} (live_max_watches_per_key); stop one first")
            w = LiveWatch(secrets.token_hex(8), owner, spec.display)
            self.watches[w.id] = w
        duration = min(req.duration_s or s.live_max_duration_s, s.live_max_duration_s)
        try:
            w.watch = Watch(self._scanner_now(), spec, WatchSettings(
                window_s=req.window_s, every_s=req.every_s, fps=req.fps, duration_s=duration,
                max_reconnects=10, timeout_s=10.0), w.add)
        except Exception:
            with self._lock:
                self.watches.pop(w.id, None)
            raise
        threading.Thread(target=self._run, args=(w,), name=f"fakescope-watch-{w.id}", daemon=True).start()
        return w

    @staticmethod
    def _run(w: LiveWatch) -> None:
        try:
            w.watch.run()
        except Exception as exc:  # a bug must end this watch, not the server
            log.exception("watch %s failed", w.id)
            from fakescope.live.events import EndEvent

            w.add(EndEvent(reason=f"internal error: {type(exc).__name__}", time_s=None, seconds=0.0,
                           received=0, analysed=0, dropped=0, skipped=0, decoder_skipped=0, reconnects=0,
                           alerts=w.alerts, verdicts=0, error=str(exc)))

    def stop(self, w: LiveWatch, wait_s: float = 5.0) -> None:
        if w.watch is not None and w.ended is None:
            w.watch.stop()
            deadline = time.monotonic() + wait_s
            while w.holds_slot and time.monotonic() < deadline:
                time.sleep(0.05)

    def forget(self, w: LiveWatch) -> None:
        """Gone from the API at once; its slot stays held until its source let go."""
        with self._lock:
            self.watches.pop(w.id, None)
            if w.holds_slot:
                self._leaving.append(w)

    def stop_all(self) -> None:
        for w in [*self.watches.values(), *self._leaving]:
            if w.watch is not None and w.ended is None:
                w.watch.stop()

    def forget_ended(self) -> None:
        now = time.time()
        with self._lock:
            ended = sorted((w for w in self.watches.values() if not w.holds_slot),
                           key=lambda w: -(w.ended or 0.0))
            for n, w in enumerate(ended):
                if n >= KEEP_ENDED or now - (w.ended or now) > KEEP_ENDED_S:
                    del self.watches[w.id]


class _Busy(FakescopeError):
    code = "too_many_watches"


def get_live(request: Request) -> LiveWatches:
    return request.app.state.live


Live = Annotated[LiveWatches, Depends(get_live)]
router = APIRouter(prefix="/v1", tags=["live"])


def _load(live: LiveWatches, who: Any, wid: str) -> LiveWatch:
    w = live.watches.get(wid)
    # Someone else's watch answers exactly like a missing one.
    if w is None or not who.can_see(w.owner):
        raise HTTPException(404, "no such watch")
    return w


@router.post("/watches", status_code=201, response_model=WatchOut,
             # 400: a body that is not JSON at all (FastAPI answers before validation)
             responses={**problems(400, 401, 422),
                        403: {"description": "the source is not allowed (or live watching is off)",
                              "model": Problem},
                        429: {"description": "as many watches as the server runs at once are running, "
                                             "the key runs its share of them, or the key's rate is "
                                             "spent (with Retry-After)",
                              "model": Problem}},
             summary="Start watching a live stream")
async def start_watch(req: WatchRequest, svc: Svc, who: Who, live: Live) -> dict[str, Any]:
    """Starts a watch of a live stream (RTSP, RTMP, HLS, MPEG-TS over UDP/TCP/HTTP): a
    rolling verdict per person every `every_s` over the last `window_s`, an alert when
    one turns fake (docs/live.md). Follow it with `GET /v1/watches/{id}/events`. Starting
    one counts against the key's rate, as an upload does."""
    wait = svc.limiter.take(who.bucket, who.rate_per_min)
    if wait > 0:
        raise HTTPException(429, f"rate limit of {who.rate_per_min} requests a minute exceeded",
                            headers={"Retry-After": retry_after_header(wait)})
    try:
        w = await run_in_threadpool(live.start, req, who.key_id)
    except SourceNotAllowedError as exc:
        raise HTTPException(403, str(exc)) from None
    except _Busy as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": "60"}) from None
    except FakescopeError as exc:
        raise HTTPException(422, str(exc)) from None
    await run_in_threadpool(svc.audit, who.key_id, "watch.start", None, f"{w.id} {w.display}"[:200])
    return w.resource()


@router.get("/watches", response_model=list[WatchOut], responses=problems(401),
            summary="The watches running and those that ended in the last hour")
def list_watches(who: Who, live: Live) -> list[dict[str, Any]]:
    live.forget_ended()
    return [w.resource() for w in sorted(live.watches.values(), key=lambda w: -w.started)
            if who.can_see(w.owner)]


@router.get("/watches/{watch_id}", response_model=WatchOut, responses=problems(401, 404),
            summary="A watch: status, each person's latest verdict, alerts")
def get_watch(watch_id: str, who: Who, live: Live) -> dict[str, Any]:
    return _load(live, who, watch_id).resource()


@router.post("/watches/{watch_id}/stop", response_model=WatchOut, responses=problems(401, 404),
             summary="Stop a watch (its events stay readable for an hour)")
async def stop_watch(watch_id: str, svc: Svc, who: Who, live: Live) -> dict[str, Any]:
    """Stops the watch and answers once its connections to the source are closed; a
    watch that has ended already is answered as it is."""
    w = _load(live, who, watch_id)
    await run_in_threadpool(live.stop, w)
    await run_in_threadpool(svc.audit, who.key_id, "watch.stop", None, w.id)
    return w.resource()


@router.delete("/watches/{watch_id}", status_code=204, responses=problems(401, 404),
               summary="Stop a watch if it runs, and forget it and its events")
async def delete_watch(watch_id: str, svc: Svc, who: Who, live: Live) -> Response:
    w = _load(live, who, watch_id)
    await run_in_threadpool(live.stop, w)
    live.forget(w)
    await run_in_threadpool(svc.audit, who.key_id, "watch.delete", None, w.id)
    return Response(status_code=204)


@router.get("/watches/{watch_id}/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "Server-Sent Events: `id` (a sequence number), `event` (the "
                             "kind: verdict, alert, dropped...), `data` (the event's JSON, as "
                             "`fakescope watch` prints it); ends after the `end` event"},
                       **problems(401, 404, 422, not_json=True)},
            summary="The watch's events as they come (Server-Sent Events)")
async def watch_events(watch_id: str, request: Request, who: Who, live: Live,
                       after: Annotated[int | None, Query(
                           ge=0, le=2**62, description="events after this id")] = None,
                       # str, not str | None: the schema must not admit a null (sent as "null").
                       last_event_id: Annotated[str, Header(
                           alias="Last-Event-ID", pattern=r"^[0-9]{1,18}$",
                           description="the id of the last event received (browsers resend it)")] = "",
                       ) -> StreamingResponse:
    """The events kept so far (the last 1000), then each new one as it comes. A client that
    reconnects with `Last-Event-ID` (browsers do) or `?after=` gets only what it missed."""
    w = _load(live, who, watch_id)
    start = after if after is not None else int(last_event_id or 0)

    async def stream() -> AsyncIterator[bytes]:
        last, quiet = start, time.monotonic()
        yield b"retry: 2000\n\n"
        while True:
            items = w.after(last)
            for seq, kind, data in items:
                yield f"id: {seq}\nevent: {kind}\ndata: {data}\n\n".encode()
                last = seq
            if items:
                quiet = time.monotonic()
            elif w.ended is not None:
                return
            elif time.monotonic() - quiet > SSE_HEARTBEAT_S:
                yield b": keep-alive\n\n"
                quiet = time.monotonic()
            if await request.is_disconnected():
                return
            await asyncio.sleep(SSE_POLL_S)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
