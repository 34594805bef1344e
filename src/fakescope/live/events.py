"""What a watch says, one JSON object a line: typed pydantic events.

Every event has ``event`` (its kind), ``at`` (wall-clock time, UTC, ISO 8601) and, where it
concerns a moment of the stream, ``time_s``: stream time in seconds since the first frame
the watch received, continued across reconnections (the gap a break lasted is added), so
times never go back. ``delay_s`` is how long before the event the newest frame it speaks
for was decoded: what the verdict lags behind the stream as received.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Literal

from pydantic import BaseModel, Field, TypeAdapter

Verdict = Literal["fake", "real", "inconclusive", "no_face"]


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Event(BaseModel):
    at: str = Field(default_factory=now_iso, description="wall-clock time of the event (UTC)")

    def to_json(self) -> str:
        return self.model_dump_json()


class StartEvent(_Event):
    event: Literal["start"] = "start"
    source: str = Field(description="the source, with any password in it replaced by ***")
    window_s: float
    every_s: float
    fps: float = Field(description="most frames analysed per second")
    band: tuple[float, float] = Field(description="scores below the first are `real`, at or above the "
                                      "second `fake`, between them `inconclusive`")


class StreamEvent(_Event):
    """A connection delivered its first frame: what the stream is."""

    event: Literal["stream"] = "stream"
    connection: int = Field(description="1 for the first connection, 2 after the first reconnection...")
    codec: str
    width: int
    height: int
    fps: float | None = Field(description="the stream's nominal frame rate, when it states one")
    format: str = Field(description="the container or protocol FFmpeg opened")


class VerdictEvent(_Event):
    """One person's rolling verdict over the last ``window_s`` seconds (or, with
    ``person`` null and ``no_face``, that nobody was judged in the window)."""

    event: Literal["verdict"] = "verdict"
    time_s: float
    person: int | None = Field(description="1, 2...: a person followed across frames; null: nobody")
    verdict: Verdict
    score: float | None = Field(description="calibrated probability of manipulation over the window")
    frames: int = Field(description="frames of this person judged in the window")
    window_s: float
    delay_s: float
    box: tuple[float, float, float, float] | None = Field(
        default=None, description="the person's last face box, x0 y0 x1 y1 in frame pixels")
    reason: str


class AlertEvent(_Event):
    """A person's verdict turned to ``fake`` (once per turn: it re-arms when the person is
    judged ``real`` again)."""

    event: Literal["alert"] = "alert"
    time_s: float
    person: int
    score: float
    frames: int
    window_s: float
    delay_s: float
    box: tuple[float, float, float, float] | None = None
    reason: str


class DroppedEvent(_Event):
    """Frames that arrived while the analysis was busy past its next frame's due time were
    dropped rather than queued; the watch stays at the live edge of the stream."""

    event: Literal["dropped"] = "dropped"
    time_s: float
    since_s: float = Field(description="wall seconds this count covers")
    received: int = Field(description="frames decoded in that time")
    analysed: int
    dropped: int = Field(description="frames left out because the analysis was behind")
    skipped: int = Field(description="frames left out by design: the --fps cap")
    decoder_skipped: int = Field(description="frames the decoder was told not to decode to keep up")


class ReconnectEvent(_Event):
    event: Literal["reconnecting", "reconnected"]
    attempt: int = Field(description="consecutive attempt since the connection was lost")
    error: str | None = Field(default=None, description="why the connection was lost or refused")
    wait_s: float | None = Field(default=None, description="pause before this attempt")
    gap_s: float | None = Field(default=None, description="reconnected: seconds without frames")
    time_s: float | None = Field(default=None, description="reconnected: the stream time it resumes at")


class NoteEvent(_Event):
    event: Literal["note"] = "note"
    message: str


class EndEvent(_Event):
    event: Literal["end"] = "end"
    reason: str
    time_s: float | None
    seconds: float = Field(description="wall seconds the watch ran")
    received: int
    analysed: int
    dropped: int
    skipped: int
    decoder_skipped: int
    reconnects: int
    alerts: int
    verdicts: int
    error: str | None = Field(default=None, description="the last source error, when it ended on one")


LiveEvent = Annotated[
    StartEvent | StreamEvent | VerdictEvent | AlertEvent | DroppedEvent | ReconnectEvent
    | NoteEvent | EndEvent,
    Field(discriminator="event"),
]
EVENT_ADAPTER: TypeAdapter[LiveEvent] = TypeAdapter(LiveEvent)


def parse_event(line: str) -> LiveEvent:
    """One JSON line back into its typed event (tests, clients)."""
    return EVENT_ADAPTER.validate_json(line)
