"""The video branch of the pipeline: sampled frames -> faces -> tracks -> per-frame and
temporal evidence -> one fused score per person and per clip.

Frames stream through one at a time; only small aligned face crops (for tracks) and a
few downscaled "most suspicious" frames (for the HTML report) are kept, so memory does
not grow with the length of the clip.

Aggregation (documented in docs/architecture.md):
- a track's frame score is the mean face-forgery logit over its frames after dropping
  the highest and lowest 10 % (robust to a few outlier frames), turned back into a
  probability;
- temporal analyzers speak for the followed track (the most prominent one that is not a
  still picture): its score is the maximum of its frame score and the fusion card's clip
  model (with card 4.1.0: the ``appearance`` analyzer's CLIP reading; beside its
  opinion a face score counts only at the card's ``face_gate`` or more), or without a
  clip model the scores of the analyzers in ``SCORED_TEMPORAL`` (blink, lip-sync) that
  lean towards fake (above 0.5, their "no opinion"); a still picture's timing counts
  neither way. A maximum, not a sum: the frame
  model looks for blending traces, and its confident "real" on a fully generated talking
  head must not cancel missing blinks; but a temporal analyzer with no opinion (a short
  clip) or a human pattern must not lift a clean frame score to 0.5 either. ``motion`` is
  reported but not scored (see docs/metrics.md, "Video": on the dev clips it flagged real
  footage more often than generated footage);
- whole-frame analyzers contribute their mean over frames;
- the clip's score is the maximum over tracks and whole-frame evidence; a track seen in
  fewer than 10 % of the analysed frames (at least 2) only counts when no track is
  seen more often;
- the soundtrack's ``voice`` counts only towards `fake`: a voice at or above the voice
  card's threshold makes the clip fake (``scan.audio.count_soundtrack``); a natural voice
  never lowers the clip's score.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np

from fakescope import __version__
from fakescope.analyzers.base import Analyzer, Evidence, FaceHeatmap, ScanItem, VideoItem, media_types
from fakescope.errors import FakescopeError
from fakescope.evaluation.calibration import sigmoid
from fakescope.faces.landmark_series import LandmarkSeries
from fakescope.faces.tracking import Track, Tracker
from fakescope.faces.types import Face
from fakescope.fusion import FACE, Fused, apply_provenance, band_of, calibrate, verdict_for
from fakescope.media import LoadedFile
from fakescope.media.types import ImageMedia
from fakescope.media.video import VideoMedia
from fakescope.report.schema import (
    AnalyzerResult,
    ErrorInfo,
    MediaInfo,
    ScanReport,
    TimelinePoint,
    Timing,
    TrackResult,
    VideoInfo,
)
from fakescope.scan.timing import ms_since

if TYPE_CHECKING:
    from fakescope.scan.scanner import Scanner

SCORED_TEMPORAL = frozenset({"blink", "lip-sync"})  # without a clip model in the fusion card
# Whole-frame analyzers (generated-image traces) read every WHOLE_FRAME_EVERY-th sampled
# frame, and in dense mode one frame every WHOLE_FRAME_EVERY_S: their evidence is a mean,
# reported beside the verdict (fusion card 4.1.0's clip model reads the appearance
# analyzer's CLIP reading of the frames instead), so a few frames are enough.
WHOLE_FRAME_EVERY = 8
WHOLE_FRAME_EVERY_S = 1.0
# Detection cost on video (docs/architecture.md, "Video"): the small-face tile search runs
# on every TILE_EVERY-th detection (and whenever a frame shows no face otherwise); in
# dense mode the detectors run every REDETECT_S seconds and FaceMesh follows the faces
# between, as long as it finds every one of them.
TILE_EVERY = 4
REDETECT_S = 0.5
# A person seen in fewer of the analysed frames than this (and never in fewer than
# MIN_TRACK_FRAMES) is reported but does not decide the clip: on the dev clips, single-
# frame "people" were detector false alarms, and one frame is too little to judge anyway.
MIN_TRACK_SHARE = 0.1
MIN_TRACK_FRAMES = 2
TOP_FRAMES = 4
THUMB_SIDE = 720
AUDIO_RATE = 16000


@dataclass(order=True)
class SuspiciousFrame:
    score: float
    frame: int
    time_s: float = field(compare=False)
    rgb: np.ndarray = field(compare=False, repr=False)
    heatmaps: list[FaceHeatmap] = field(compare=False, default_factory=list)
    boxes: list[tuple[np.ndarray, float | None]] = field(compare=False, default_factory=list)


@dataclass
class VideoVisual:
    """What the HTML report draws for a video."""

    frames: list[SuspiciousFrame]


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return float(np.log(p / (1 - p)))


def robust_track_score(scores: list[float]) -> float | None:
    """Trimmed mean (10 % each side) of the frame logits, as a probability."""
    vals = sorted(_logit(s) for s in scores if s is not None)
    if not vals:
        return None
    k = int(len(vals) * 0.1)
    core = vals[k : len(vals) - k] if len(vals) - 2 * k > 0 else vals
    return float(sigmoid(float(np.mean(core))))


def _thumb(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    h, w = rgb.shape[:2]
    f = min(1.0, THUMB_SIDE / max(h, w))
    if f < 1.0:
        rgb = cv2.resize(rgb, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
    return rgb, f


def scan_video(scanner: Scanner, loaded: LoadedFile, media: VideoMedia, display: str,
               t_start: float, timing: Timing) -> ScanReport:
    s = scanner.settings
    vs = s.video
    frame_analyzers = [a for a in scanner.analyzers if "frame" in media_types(a)]
    clip_analyzers = [a for a in scanner.analyzers if "video" in media_types(a)]
    needs_faces = any(a.needs_faces for a in frame_analyzers + clip_analyzers)
    errors: dict[str, ErrorInfo] = {}
    spent: dict[str, float] = {}

    if vs.fps:
        frames = media.frames_every(vs.fps)
        sampling = f"{vs.fps:g} fps"
    else:
        frames = media.frames_at(media.sample_times(vs.frames))
        sampling = f"{vs.frames} evenly spaced"

    tracker = Tracker()
    timeline: list[TimelinePoint] = []
    whole_frame: dict[str, list[float]] = {}
    whole_details: dict[str, list[dict]] = {}
    last_whole = -np.inf
    top: list[SuspiciousFrame] = []
    n = 0
    t_faces = t_an = 0.0
    detections, last_detection = 0, -np.inf
    faces: list[Face] = []
    for n, fr in enumerate(frames):
        t0 = time.perf_counter()
        followed = None
        if needs_faces and vs.fps and faces and fr.time_s - last_detection < REDETECT_S:
            followed = scanner.detector.follow(fr.rgb, faces)
        if followed is not None and all(f is not None for f in followed):
            faces = followed
        elif needs_faces:
            faces = scanner.detector.detect(fr.rgb, tiles=detections % TILE_EVERY == 0)
            detections, last_detection = detections + 1, fr.time_s
        tracks = tracker.add(n, fr.time_s, fr.rgb, faces)
        t_faces += time.perf_counter() - t0
        t0 = time.perf_counter()
        item = ScanItem(media=ImageMedia(rgb=fr.rgb, format="frame", source_mode="RGB"),
                        faces=faces, settings=s)
        per_face: list[list[float]] = [[] for _ in faces]
        heatmaps: list[FaceHeatmap] = []
        # Whole-frame evidence is a mean over the clip: a few frames a second carry it.
        whole_now = (fr.time_s - last_whole >= WHOLE_FRAME_EVERY_S) if vs.fps else n % WHOLE_FRAME_EVERY == 0
        if whole_now:
            last_whole = fr.time_s
        for a in frame_analyzers:
            if a.name in errors or (not a.needs_faces and not whole_now):
                continue
            ta = time.perf_counter()
            try:
                ev = a.analyze(item)
            except FakescopeError as exc:
                errors[a.name] = ErrorInfo(code=exc.code, message=str(exc))
                continue
            finally:
                spent[a.name] = spent.get(a.name, 0.0) + (time.perf_counter() - ta) * 1000
            if a.needs_faces and ev.face_scores:
                for i, sc in enumerate(ev.face_scores):
                    if sc is not None and i < len(per_face):
                        per_face[i].append(sc)
                heatmaps += ev.heatmaps
            elif not a.needs_faces and ev.score is not None:
                whole_frame.setdefault(a.name, []).append(ev.score)
                whole_details.setdefault(a.name, []).append(ev.details)
        t_an += time.perf_counter() - t0
        face_scores = [float(np.mean(v)) if v else None for v in per_face]
        for track, sc in zip(tracks, face_scores, strict=True):
            track.last.score = sc
        scored = [x for x in face_scores if x is not None]
        frame_score = max(scored) if scored else None
        timeline.append(TimelinePoint(
            time_s=round(fr.time_s, 3), frame=n, faces=len(faces), score=frame_score,
            track_scores={str(t.id): (round(x, 4) if x is not None else None)
                          for t, x in zip(tracks, face_scores, strict=True)},
        ))
        if frame_score is not None and s.explain:
            entry = SuspiciousFrame(frame_score, n, fr.time_s, np.empty(0), heatmaps,
                                    [(f.box, x) for f, x in zip(faces, face_scores, strict=True)])
            if len(top) < TOP_FRAMES or entry > top[0]:
                entry.rgb = fr.rgb  # only now worth keeping; downscaled below
                heapq.heappush(top, entry) if len(top) < TOP_FRAMES else heapq.heapreplace(top, entry)
        _thin(tracker.tracks, vs.max_track_points)
    frames_analysed = n + 1 if timeline else 0
    timing.faces = round(t_faces * 1000, 2)

    # Dense landmarks and audio for the temporal analyzers, over the start of the clip.
    series, audio, main = None, None, None
    t0 = time.perf_counter()
    if clip_analyzers and tracker.tracks:
        main, series = _follow(media, tracker.tracks, vs.dense_fps, vs.dense_window_s, frames_analysed)
        end = min(media.info.duration_s or vs.dense_window_s, vs.dense_window_s)
        if media.info.has_audio:
            try:
                audio = media.audio(AUDIO_RATE, max_seconds=end + 1.0)
            except FakescopeError as exc:
                media.notes.append(f"audio not analysed: {exc}")
    timing.faces += ms_since(t0)
    t0 = time.perf_counter()
    clip_results: list[tuple[Analyzer, Evidence]] = []
    if clip_analyzers and tracker.tracks:
        vitem = VideoItem(media=media, tracks=tracker.tracks, series=series, audio=audio,
                          audio_rate=AUDIO_RATE, settings=s, followed=main)
        for a in clip_analyzers:
            ta = time.perf_counter()
            try:
                clip_results.append((a, a.analyze(vitem)))
            except FakescopeError as exc:
                errors[a.name] = ErrorInfo(code=exc.code, message=str(exc))
            spent[a.name] = ms_since(ta)
    timing.analyzers = round(t_an * 1000, 2) + ms_since(t0)

    # The voice over the whole soundtrack: a voice called synthetic makes the clip fake
    # (count_soundtrack); its false alarms on real soundtracks are in docs/metrics.md, "Voice".
    from fakescope.scan.audio import count_soundtrack, soundtrack_evidence, soundtrack_info

    sound = soundtrack_evidence(scanner, media)
    if sound is not None:
        timing.analyzers += sound.time_ms
    whole_summary = {name: _mean_details(ds) for name, ds in whole_details.items()}
    tracks_out, fused = _fuse_video(tracker.tracks, clip_results, scanner, frames_analysed, whole_summary,
                                    main=main)
    t0 = time.perf_counter()
    provenance = scanner.provenance.check(loaded, None)
    timing.provenance = ms_since(t0)
    fused = apply_provenance(count_soundtrack(fused, sound), provenance)

    analyzer_reports = []
    for a in frame_analyzers + clip_analyzers:
        ev = next((e for x, e in clip_results if x is a), None)
        if a.name in errors:
            analyzer_reports.append(AnalyzerResult(name=a.name, version=a.version, error=errors[a.name],
                                                   time_ms=round(spent.get(a.name, 0.0), 2)))
        elif ev is not None:
            analyzer_reports.append(AnalyzerResult(name=a.name, version=a.version, score=ev.score,
                                                   details=ev.details, time_ms=round(spent[a.name], 2)))
        else:
            vals = whole_frame.get(a.name)
            score = float(np.mean(vals)) if vals else (
                max((t.frame_score for t in tracks_out if t.frame_score is not None and t.counted),
                    default=None) if a.needs_faces else None)
            analyzer_reports.append(AnalyzerResult(
                name=a.name, version=a.version,
                score=round(score, 4) if score is not None else None,
                details={"frames": len(vals) if vals else frames_analysed,
                         **whole_summary.get(a.name, {}), "aggregation": (
                    "mean over frames" if not a.needs_faces else
                    "per track: trimmed mean of frame logits; clip: max over counted tracks")},
                time_ms=round(spent.get(a.name, 0.0), 2)))
    if sound is not None:
        analyzer_reports += sound.reports
    verdict = fused.verdict
    if frames_analysed == 0:
        verdict, fused = "error", Fused("error", None, [], "no frame could be decoded")
    timing.total = ms_since(t_start)
    report = ScanReport(
        fakescope_version=__version__, file=display, sha256=loaded.sha256, media_type="video",
        verdict=verdict,  # type: ignore[arg-type]
        score=fused.score if verdict not in ("no_face", "error") else None,
        reason=fused.reason,
        decided_by=fused.decided_by if verdict != "error" else None,  # type: ignore[arg-type]
        error=ErrorInfo(code="no_frames", message=fused.reason) if verdict == "error" else None,
        media=MediaInfo(format=media.format, width=media.width, height=media.height),
        analyzers=analyzer_reports, timing_ms=timing, models=scanner.models,
        notes=list(media.notes) + scanner.calibration_notes("video"),
        provenance=provenance,
        video=VideoInfo(
            duration_s=round(media.info.duration_s, 3), fps=round(media.info.fps, 3),
            codec=media.info.codec, rotation=media.info.rotation, has_audio=media.info.has_audio,
            sampling=sampling, frames_analysed=frames_analysed,
            landmark_frames=int(series.found.sum()) if series is not None else 0,
        ),
        timeline=timeline, tracks=tracks_out,
        audio=soundtrack_info(media, sound) if sound is not None else None,
        segments=sound.segments if sound is not None else [],
    )
    if s.explain:
        shots = []
        for sf in sorted(top, reverse=True):
            rgb, f = _thumb(sf.rgb)
            sf.rgb = rgb
            sf.heatmaps = [FaceHeatmap(h.face_index, h.heat, h.crop_size,
                                       np.hstack([h.image_to_crop[:, :2] / f, h.image_to_crop[:, 2:]]))
                           for h in sf.heatmaps]
            sf.boxes = [(b * f, x) for b, x in sf.boxes]
            shots.append(sf)
        report._visual = VideoVisual(frames=shots)
    return report


def _mean_details(details: list[dict]) -> dict[str, float]:
    """The mean over frames of each number a whole-frame analyzer reports per frame."""
    keys = {k for d in details for k, v in d.items()
            if isinstance(v, int | float) and not isinstance(v, bool)}
    return {k: round(float(np.mean([d[k] for d in details if k in d])), 4) for k in sorted(keys)
            if k not in ("crops", "crop_size")}


def clip_features(clip_results: list[tuple[Analyzer, Evidence]],
                  whole_summary: dict[str, dict[str, float]]) -> dict[str, float | None]:
    """The values a clip model reads, named as in the report: ``analyzer`` (its score) and
    ``analyzer.statistic`` (its details)."""
    out: dict[str, float | None] = {}
    for a, ev in clip_results:
        out[a.name] = ev.score
        for k, v in ev.details.items():
            if isinstance(v, int | float) and not isinstance(v, bool):
                out[f"{a.name}.{k}"] = float(v)
    for name, d in whole_summary.items():
        for k, v in d.items():
            out[f"{name}.{k}"] = v
    return out


def _follow(media: VideoMedia, tracks: list[Track], fps: float, window_s: float,
            frames_analysed: int) -> tuple[Track, LandmarkSeries]:
    """The person the temporal analyzers follow, and their dense landmark series.

    The most prominent face, unless it is a still picture (a reference photo beside a
    generated panel, a portrait on the wall) and another person seen long enough to count
    is not: then that person. Following a second face costs one more dense pass, paid
    only when the first is still."""
    from fakescope.analyzers.still_picture import is_live, is_still
    from fakescope.faces.landmark_series import collect, track_box_at, window_region

    end = min(media.info.duration_s or window_s, window_s)
    need = max(MIN_TRACK_FRAMES, MIN_TRACK_SHARE * frames_analysed)
    ranked = sorted(tracks, key=lambda t: len(t.points), reverse=True)
    others = [t for t in ranked[1:] if t.seen >= need]

    def follow(track: Track) -> LandmarkSeries:
        box_at = track_box_at(track)
        return collect(media.frames_every(fps, 0.0, end, region_at=lambda t: window_region(box_at(t))),
                       fps, box_at=box_at)

    series = follow(ranked[0])
    if not is_still(series.rigid):
        return ranked[0], series
    for track in others[:2]:
        alt = follow(track)
        if is_live(alt.rigid):
            return track, alt
    return ranked[0], series


def _thin(tracks: list[Track], cap: int) -> None:
    """Keep memory bounded in dense mode: halve a track's stored points when it overflows."""
    for t in tracks:
        if len(t.points) > cap:
            t.points = t.points[::2]


def _fuse_video(tracks: list[Track], clip_results: list[tuple[Analyzer, Evidence]], scanner: Scanner,
                frames_analysed: int | None = None,
                whole_summary: dict[str, dict[str, float]] | None = None,
                main: Track | None = None,
                ) -> tuple[list[TrackResult], Fused]:
    if main is None:
        main = max(tracks, key=lambda t: len(t.points), default=None)
    model = scanner.fusion.video_model if scanner.fusion is not None else None
    # A still picture moved across the frame: its timing is evidence of nothing.
    still = any(ev.details.get("still") is True for a, ev in clip_results if a.name == "still-picture")
    clip_p = None
    values = clip_features(clip_results, whole_summary or {})
    if model is not None and main is not None and not still and model.reads_any(values):
        clip_p = float(sigmoid(model.logit(values)))
    # Beside a clip model with an opinion, the face model counts only when it is sure.
    gate = model.face_gate if model is not None and clip_p is not None else None
    if frames_analysed is None:
        frames_analysed = max((p.frame + 1 for t in tracks for p in t.points), default=0)
    need = max(MIN_TRACK_FRAMES, MIN_TRACK_SHARE * frames_analysed)
    # Brief tracks count only when there is nothing better (a clip of a few frames).
    counted = {t.id for t in tracks if t.seen >= need} or {t.id for t in tracks}
    temporal = {a.name: ev.score for a, ev in clip_results}
    out: list[TrackResult] = []
    kind_of: dict[int, str] = {}  # per track: which kind of evidence gave its score
    for t in tracks:
        ff = robust_track_score([p.score for p in t.points if p.score is not None])
        counted_ff = ff if gate is None or ff is None or ff >= gate else 0.0
        score = counted_ff
        kind_of[t.id] = FACE
        evidence: dict[str, float | None] = {}
        if t is main and ff is not None:
            evidence = dict(temporal)
            if still:
                leaning = []
            elif clip_p is not None:
                # The clip model (card 4.1.0: the appearance analyzer's CLIP reading of
                # the frames over time) beside the face model: the higher decides.
                evidence["clip-model"] = round(clip_p, 4)
                leaning = [clip_p]
            else:
                leaning = [v for n, v in temporal.items()
                           if n in SCORED_TEMPORAL and v is not None and v > 0.5]
            score = max([counted_ff, *leaning])  # type: ignore[list-item]
            if score > counted_ff:  # type: ignore[operator]
                kind_of[t.id] = "temporal"
        worst = max(t.points, key=lambda p: p.score if p.score is not None else -1.0)
        out.append(TrackResult(
            id=t.id, frames=t.seen, counted=t.id in counted, first_s=round(t.points[0].time_s, 3),
            last_s=round(t.points[-1].time_s, 3),
            score=round(score, 4) if score is not None else None,
            frame_score=round(ff, 4) if ff is not None else None, evidence=evidence,
            box=tuple(round(float(v), 1) for v in worst.face.box),  # type: ignore[arg-type]
        ))
    parts = [(tr.score, f"person {tr.id + 1}", kind_of[tr.id]) for tr in out
             if tr.score is not None and tr.counted]
    params = None
    if scanner.fusion is not None:
        # The clip model's opinion and the face model were calibrated together; the face
        # model alone keeps the calibration fitted for it.
        params = scanner.fusion.video if clip_p is not None else (
            getattr(scanner.fusion, "video_faces", None) or scanner.fusion.video)
    if not parts:
        # Whole-frame generated-image traces alone do not judge a clip: real video frames
        # were that model's most frequent false alarms (docs/metrics.md, "Video"); they
        # count through the clip model, beside a face.
        return out, Fused("no_face", None, [], "no face found in the analysed frames")
    raw, what, kind = max(parts)
    score = calibrate(raw, params)
    verdict, reason = verdict_for(score, band_of(params, scanner.band))
    if len(parts) > 1 and verdict == "fake":
        reason += f" ({what})"
    findings = [f for _, ev in clip_results for f in ev.details.get("findings", [])
                if ev.score is not None and ev.score > 0.6 and not still]
    if still:
        findings.append("the person followed over time is a still picture moved across the frame "
                        "(no temporal evidence either way)")
    if findings:
        reason += "; " + "; ".join(findings)
    return out, Fused(verdict, float(score), [], reason, kind)
