"""The watch loop: take the newest frame, analyse it, speak in events.

``Watch(scanner, spec, settings, emit).run()`` reads the source in a thread
(``source.LiveSource``), analyses at most ``fps`` frames a second with the Scanner's
models (``window.LiveAnalysis``) and calls ``emit`` with typed events (``events.py``):

- ``verdict`` every ``every_s`` seconds for each person in view over the last
  ``window_s`` seconds (``person: null``, ``no_face``, when nobody is);
- ``alert`` as soon as a person's verdict turns to ``fake`` (checked after every analysed
  frame, not only at verdict time), once per turn;
- ``dropped`` at most every ``DROP_NOTE_S`` seconds when frames were dropped because the
  analysis was behind;
- ``stream``, ``reconnecting``, ``reconnected`` from the source, and ``end`` last.

It returns the ``end`` event. ``stop()`` (from another thread or a signal handler) ends
it within a frame's analysis.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from fakescope.live.events import (
    AlertEvent,
    DroppedEvent,
    EndEvent,
    NoteEvent,
    StartEvent,
    VerdictEvent,
)
from fakescope.live.source import FrameSlot, LiveSource, SourceSpec
from fakescope.live.window import LiveAnalysis, Person

if TYPE_CHECKING:
    from fakescope.scan.scanner import Scanner

DROP_NOTE_S = 5.0


class WatchSettings(BaseModel):
    window_s: float = Field(default=2.0, ge=0.5, le=120.0,
                            description="seconds of stream each verdict covers")
    every_s: float = Field(default=1.0, ge=0.1, le=60.0, description="seconds between verdicts")
    fps: float = Field(default=10.0, gt=0.0, le=60.0,
                       description="most frames analysed per second (the rest are skipped)")
    duration_s: float | None = Field(default=None, gt=0.0, description="stop after this long")
    max_reconnects: int = Field(default=10, ge=0,
                                description="consecutive failed reconnection attempts before giving up")
    timeout_s: float = Field(default=10.0, gt=0.0, le=600.0,
                             description="longest wait for a connection or for data")


Emit = Callable[[Any], None]


class Watch:
    def __init__(self, scanner: Scanner, spec: SourceSpec, settings: WatchSettings | None = None,
                 emit: Emit | None = None) -> None:
        self.settings = settings or WatchSettings()
        self.spec = spec
        self.analysis = LiveAnalysis(scanner, self.settings.window_s)
        self.slot = FrameSlot(self.settings.fps)
        self._emit_to = emit or (lambda _ev: None)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.source = LiveSource(spec, self.slot, self.emit, timeout_s=self.settings.timeout_s,
                                 max_reconnects=self.settings.max_reconnects,
                                 max_pixels=scanner.settings.limits.max_pixels)
        self.alerts = 0
        self.verdicts = 0

    def emit(self, event: Any) -> None:
        """Events come from two threads (the source's notes, the loop's verdicts): one at a time."""
        with self._lock:
            self._emit_to(event)

    def stop(self) -> None:
        self._stop.set()
        self.source.stop()
        self.slot.end()

    def run(self) -> EndEvent:
        s = self.settings
        self.emit(StartEvent(source=self.spec.display, window_s=s.window_s, every_s=s.every_s, fps=s.fps,
                             band=tuple(round(float(b), 4) for b in self.analysis.band)))  # type: ignore[arg-type]
        t0 = time.monotonic()
        deadline = t0 + s.duration_s if s.duration_s else float("inf")
        self.source.start()
        next_verdict = t0 + s.every_s
        analysed = analysed_at_tick = 0
        last_note = t0
        noted = (0, 0, 0, 0, 0)  # received, analysed, dropped, skipped, decoder-skipped
        reported_errors: set[str] = set()
        reason = "stopped"
        try:
            while True:
                if self._stop.is_set():
                    break
                if time.monotonic() >= deadline:
                    reason = f"--duration {s.duration_s:g} s reached"
                    break
                frame = self.slot.take(until=min(next_verdict, deadline))
                if self._stop.is_set():
                    break
                if frame is None and self.slot.ended:
                    reason = self.source.state.end_reason or "the source ended"
                    break
                if frame is not None:
                    seen = self.analysis.add(frame.rgb(), frame.time_s, frame.arrived)
                    analysed += 1
                    for person in seen:
                        self._maybe_alert(person)
                    for name, message in self.analysis.errors.items():
                        if name not in reported_errors:
                            reported_errors.add(name)
                            self.emit(NoteEvent(message=f"analyzer {name} failed and is left out: {message}"))
                now = time.monotonic()
                if now >= next_verdict:
                    if analysed > analysed_at_tick:  # nothing new to say while no frame comes
                        self._verdicts()
                        analysed_at_tick = analysed
                    next_verdict = max(next_verdict + s.every_s, now + 0.5 * s.every_s)
                if now - last_note >= DROP_NOTE_S:
                    counts = self._counts(analysed)
                    if counts[2] > noted[2] or counts[4] > noted[4]:
                        self.emit(DroppedEvent(
                            time_s=round(self.analysis.latest_s or 0.0, 3),
                            since_s=round(now - last_note, 3),
                            **dict(zip(("received", "analysed", "dropped", "skipped", "decoder_skipped"),
                                       (a - b for a, b in zip(counts, noted, strict=True)), strict=True))))
                    noted, last_note = counts, now
        finally:
            self.source.stop(wait_s=1.0)
        st = self.source.state
        received, analysed, dropped, skipped, dec = self._counts(analysed)
        end = EndEvent(
            reason=reason, time_s=round(st.last_time_s, 3) if st.last_time_s is not None else None,
            seconds=round(time.monotonic() - t0, 3), received=received, analysed=analysed,
            dropped=dropped, skipped=skipped, decoder_skipped=dec, reconnects=st.reconnects,
            alerts=self.alerts, verdicts=self.verdicts,
            error=st.error if st.failed else None)
        self.emit(end)
        return end

    def _counts(self, analysed: int) -> tuple[int, int, int, int, int]:
        sl = self.slot
        return sl.received, analysed, sl.dropped, sl.skipped, self.source.state.decoder_skipped

    def _delay(self, person: Person | None = None) -> float:
        arrived = person.last_arrival if person is not None else self.analysis.latest_arrival
        return round(max(0.0, time.monotonic() - arrived), 3)

    def _maybe_alert(self, person: Person) -> None:
        j = self.analysis.judge(person)
        if j.verdict == "real":
            person.alerted = False  # re-armed: a later turn to fake alerts again
        if j.verdict != "fake" or person.alerted or j.score is None:
            return
        person.alerted = True
        self.alerts += 1
        self.emit(AlertEvent(
            time_s=round(person.last_seen_s, 3), person=person.number, score=j.score, frames=j.frames,
            window_s=self.settings.window_s, delay_s=self._delay(person), box=person.box,
            reason=f"person {person.number}: {j.reason}"))

    def _verdicts(self) -> None:
        a = self.analysis
        people = a.counted()
        t = round(a.latest_s or 0.0, 3)
        if not people:
            self.verdicts += 1
            self.emit(VerdictEvent(time_s=t, person=None, verdict="no_face", score=None, frames=0,
                                   window_s=self.settings.window_s, delay_s=self._delay(),
                                   reason=f"no face in the last {self.settings.window_s:g} s"))
            return
        for person in people:
            j = a.judge(person)
            self.verdicts += 1
            self.emit(VerdictEvent(
                time_s=t, person=person.number, verdict=j.verdict,  # type: ignore[arg-type]
                score=j.score, frames=j.frames, window_s=self.settings.window_s,
                delay_s=self._delay(person), box=person.box, reason=j.reason))
