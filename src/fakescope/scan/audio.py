"""The audio branch of the pipeline, and the soundtrack of videos.

Audio files: the stream is decoded in 30 s blocks and handed to every ``audio`` analyzer
(today: ``voice``), each of which makes its own pass, so memory stays bounded however
long the file is. Verdict rule (documented in docs/architecture.md, "Audio"):

- the file's score is the maximum over audio analyzers that gave one (the voice
  analyzer's score is a calibrated trimmed mean over its speech segments);
- no analyzer scored (no speech in the file): ``inconclusive`` with that reason, and no
  score: absence of speech says nothing about authenticity;
- provenance then applies exactly as for images and video.

Videos: ``soundtrack_evidence`` runs the ``soundtrack`` analyzers over the *whole* audio
track (streamed the same way); the video report shows their scores and segments, and
``count_soundtrack`` makes the clip `fake` when a voice is called synthetic at its card's
threshold (never the reverse). Voice 1.0.0 called 5 of 21 real soundtracks of video/dev
synthetic and was not counted; voice 2.x's threshold keeps real speech of every source
measured under 5 % (docs/metrics.md, "Voice").
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from fakescope import __version__
from fakescope.analyzers.base import Analyzer, AudioItem, Evidence, media_types
from fakescope.errors import FakescopeError
from fakescope.fusion import Fused, apply_provenance, band_for, verdict_for
from fakescope.media import LoadedFile
from fakescope.media.audio import RATE, AudioMedia, stream_samples
from fakescope.report.schema import AnalyzerResult, AudioInfo, AudioSegment, ErrorInfo, ScanReport, Timing
from fakescope.scan.timing import ms_since

if TYPE_CHECKING:
    from fakescope.media.video import VideoMedia
    from fakescope.scan.scanner import Scanner


@dataclass
class AudioEvidence:
    results: list[tuple[Analyzer, Evidence]] = field(default_factory=list)
    reports: list[AnalyzerResult] = field(default_factory=list)
    segments: list[AudioSegment] = field(default_factory=list)
    speech_s: float | None = None
    time_ms: float = 0.0


# Errors that describe the file rather than an analyzer.
_MEDIA_ERRORS = frozenset({"corrupt_media", "truncated_file", "unsupported_media"})


def run_audio_analyzers(analyzers: list[Analyzer], item: AudioItem) -> AudioEvidence:
    """Each analyzer over the stream; the first one with segments gives the report's timeline."""
    out = AudioEvidence()
    t_all = time.perf_counter()
    for a in analyzers:
        ta = time.perf_counter()
        try:
            ev = a.analyze(item)  # type: ignore[arg-type]
        except FakescopeError as exc:
            err = ErrorInfo(code=exc.code, message=str(exc))
            out.reports.append(AnalyzerResult(name=a.name, version=a.version, error=err,
                                              time_ms=ms_since(ta)))
            continue
        out.results.append((a, ev))
        out.reports.append(AnalyzerResult(name=a.name, version=a.version, score=ev.score, details=ev.details,
                                          time_ms=ms_since(ta)))
        if ev.segments is not None and not out.segments:
            out.segments = [AudioSegment(start_s=s.start_s, end_s=s.end_s, speech=s.speech, score=s.score,
                                         traces=s.traces)
                            for s in ev.segments]
            speech = ev.details.get("speech_s")
            out.speech_s = float(speech) if isinstance(speech, (int, float)) else None
    out.time_ms = ms_since(t_all)
    return out


def fuse_audio(results: list[tuple[Analyzer, Evidence]], band: tuple[float, float]) -> Fused:
    scored = [(ev.score, a.name) for a, ev in results if ev.score is not None]
    if not scored:
        reasons = [str(ev.details["reason"]) for _, ev in results if ev.details.get("reason")]
        why = reasons[0] if reasons else "no analyzer could score this audio"
        return Fused("inconclusive", None, [], why)
    score, _name = max(scored)
    verdict, reason = verdict_for(score, band)
    findings = [f for _, ev in results for f in ev.details.get("findings", []) if ev.score is not None
                and ev.score >= band[1]]
    if findings:
        reason += "; " + "; ".join(findings)
    return Fused(verdict, float(score), [], reason, "synthetic_voice")


def scan_audio(scanner: Scanner, loaded: LoadedFile, media: AudioMedia, display: str,
               t_start: float, timing: Timing) -> ScanReport:
    s = scanner.settings
    analyzers = [a for a in scanner.analyzers if "audio" in media_types(a)]
    item = AudioItem(media=media, chunks=lambda: media.chunks(RATE), rate=RATE, settings=s)
    ev = run_audio_analyzers(analyzers, item)
    timing.analyzers = ev.time_ms
    t0 = time.perf_counter()
    provenance = scanner.provenance.check(loaded, None)
    timing.provenance = ms_since(t0)
    band, _ = scanner.audio_band(band_for(analyzers))
    fused = apply_provenance(fuse_audio(ev.results, band), provenance)
    verdict, reason = fused.verdict, fused.reason
    error = None
    if not analyzers:
        verdict, reason = "inconclusive", "no audio analyzer is enabled"
    elif not ev.results:
        verdict = "error"
        failed = [r.error for r in ev.reports if r.error]
        codes = {e.code for e in failed}
        if len(codes) == 1 and codes <= _MEDIA_ERRORS:
            # Every analyzer met the same undecodable stream: that is what the file is
            # (a header that probes as audio over data that does not decode), not a failure
            # of the analyzers.
            reason = failed[0].message
            error = ErrorInfo(code=failed[0].code, message=reason)
        else:
            reason = "every analyzer failed: " + "; ".join(e.message for e in failed)
            error = ErrorInfo(code="analyzers_failed", message=reason)
    timing.total = ms_since(t_start)
    info = media.info
    decoded_s = max((seg.end_s for seg in ev.segments), default=0.0)
    if ev.segments and info.duration_s and decoded_s < info.duration_s - max(1.0, 0.05 * info.duration_s):
        media.notes.append(f"the audio ends at {decoded_s:.1f} s although the container states "
                           f"{info.duration_s:.1f} s: the file may be truncated")
    return ScanReport(
        fakescope_version=__version__, file=display, sha256=loaded.sha256, media_type="audio",
        verdict=verdict,  # type: ignore[arg-type]
        score=fused.score if verdict != "error" else None, reason=reason, error=error,
        decided_by=fused.decided_by if verdict != "error" else None,  # type: ignore[arg-type]
        analyzers=ev.reports, timing_ms=timing, models=scanner.models,
        notes=list(media.notes) + scanner.calibration_notes("audio"),
        provenance=provenance,
        audio=AudioInfo(duration_s=round(info.duration_s or decoded_s, 3), sample_rate=info.sample_rate,
                        channels=info.channels, codec=info.codec, container=info.container,
                        speech_s=ev.speech_s),
        segments=ev.segments,
    )


def soundtrack_evidence(scanner: Scanner, media: VideoMedia) -> AudioEvidence | None:
    """The ``soundtrack`` analyzers over a video's whole audio track; None without one."""
    analyzers = [a for a in scanner.analyzers if "soundtrack" in media_types(a)]
    if not analyzers or not media.info.has_audio:
        return None
    limit = media.limits.max_duration_s
    def chunks() -> Iterator[np.ndarray]:
        return stream_samples(media.source, RATE, 30.0, limit, 0, media.notes)

    item = AudioItem(media=media, chunks=chunks, rate=RATE, settings=scanner.settings)
    return run_audio_analyzers(analyzers, item)


def soundtrack_info(media: VideoMedia, ev: AudioEvidence) -> AudioInfo:
    return AudioInfo(duration_s=round(max((s.end_s for s in ev.segments), default=0.0), 3),
                     sample_rate=media.info.audio_rate or 0, codec=media.info.audio_codec or "unknown",
                     container=media.info.container, speech_s=ev.speech_s)


def count_soundtrack(fused: Fused, sound: AudioEvidence | None) -> Fused:
    """A soundtrack whose voice is called synthetic (at the voice card's own threshold) makes
    the clip `fake`; a natural-sounding voice never lowers a clip's score, because a real
    voice says nothing about the faces (face reenactment keeps the speaker's own voice)."""
    if sound is None or fused.verdict == "fake":
        return fused
    called = [(ev.score, a) for a, ev in sound.results
              if ev.score is not None and a.card is not None and ev.score >= a.card.inconclusive_band[1]]
    if not called:
        return fused
    score, a = max(called, key=lambda sa: sa[0])
    findings = [f for x, ev in sound.results if x is a for f in ev.details.get("findings", [])]
    reason = (f"the soundtrack's voice: synthetic-speech probability {score:.2f} ≥ "
              f"{a.card.inconclusive_band[1]:.2f}" + ("; " + "; ".join(findings) if findings else ""))
    return Fused("fake", max(score, fused.score or 0.0), fused.face_scores, reason, "synthetic_voice",
                 dict(fused.evidence))
