"""Self-contained HTML reports: the image with face boxes and scores, and a heatmap over
each face showing where the model saw manipulation. One file, images inlined, no
scripts or network: it opens anywhere and can be archived or mailed as is.

Written incrementally (one section per scanned file) so that a folder of thousands of
photos never holds more than one decoded image in memory.
"""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path
from typing import TextIO

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from fakescope import __version__
from fakescope.analyzers.voice_traces import FIRES as TRACE_FIRES
from fakescope.analyzers.voice_traces import LABELS as TRACE_LABELS
from fakescope.report.schema import ScanReport

MAX_SIDE = 960
CROP_SIDE = 200

_COLOURS = {"fake": "#c62828", "real": "#2e7d32", "inconclusive": "#f9a825",
            "no_face": "#0277bd", "error": "#6a1b9a"}
_EXPLAIN = {
    "fake": "The face model found manipulation traces strong enough to call this fake.",
    "real": "Neither the face model nor the generated-image model found meaningful traces of "
            "manipulation or generation.",
    "inconclusive": "The evidence is too weak or mixed for a call either way; a person should look.",
    "no_face": "Nothing could judge this file: no face was found and no whole-image analyzer ran. "
               "This says nothing about whether the image is authentic.",
    "error": "The file could not be analysed.",
}
# A fake verdict explained by the kind of evidence that decided it.
_EXPLAIN_FAKE_BY = {
    "generated_image": "The picture carries the traces an image generator (diffusion model or GAN) "
                       "leaves, strongly enough to call it generated.",
    "local_edit": "Part of the picture differs from the rest the way an edit leaves it (a splice, "
                  "a removal, a region filled in): see where on the localization map.",
    "provenance": "Its provenance decides: see the reason and the provenance panel.",
    "temporal": "The clip's evidence over time and around the face (blinking, fine detail from "
                "frame to frame, head motion, generated-image traces) is unlike real footage.",
}


def explanation(report: ScanReport) -> str:
    if report.media_type == "audio":
        return _EXPLAIN_AUDIO.get(report.verdict, "")
    if report.verdict == "fake" and report.decided_by in _EXPLAIN_FAKE_BY:
        return _EXPLAIN_FAKE_BY[report.decided_by]
    return _EXPLAIN.get(report.verdict, "")


_EXPLAIN_AUDIO = {
    "fake": "The voice model heard traces of speech synthesis or voice conversion strong enough to call "
            "this fake.",
    "real": "The voice model heard no meaningful traces of synthesis or conversion in the speech.",
    "inconclusive": "There is no speech to judge, or the evidence is too weak or mixed for a call either "
                    "way.",
    "error": "The file could not be analysed.",
}

_CSS = (Path(__file__).parent / "templates" / "report.css").read_text(encoding="utf-8")


def _b64_jpeg(rgb: np.ndarray, quality: int = 85) -> str:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def _b64_png(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def colourise(heat: np.ndarray) -> np.ndarray:
    """[0, 1] heat -> RGB with the classic jet scale (blue = none, red = strong)."""
    u8 = np.clip(heat * 255.0, 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(u8, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)


def heat_in_image(shape: tuple[int, int], heat: np.ndarray, crop_size: int,
                  image_to_crop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map a crop-space heatmap into image space: (heat, coverage mask), both float."""
    h, w = shape
    up = cv2.resize(heat.astype(np.float32), (crop_size, crop_size), interpolation=cv2.INTER_CUBIC)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    img_heat = cv2.warpAffine(up, image_to_crop, (w, h), flags=flags, borderValue=0)
    cover = cv2.warpAffine(np.ones_like(up), image_to_crop, (w, h), flags=flags, borderValue=0)
    return np.clip(img_heat, 0, 1), cover


def overlay(rgb: np.ndarray, heat: np.ndarray, cover: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    a = (alpha * cover)[..., None]
    out = rgb.astype(np.float32) * (1 - a) + colourise(heat).astype(np.float32) * a
    return np.clip(out, 0, 255).astype(np.uint8)


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def annotate(rgb: np.ndarray, report: ScanReport) -> np.ndarray:
    """The image, scaled to fit, with heatmaps over faces and a scored box per face."""
    vis = report.visual
    boxes = [(np.asarray(f.box), f.score, f"face {f.index + 1}") for f in report.faces]
    return draw_faces(rgb, vis.heatmaps if vis is not None else [], boxes)


def draw_faces(rgb: np.ndarray, heatmaps: list, boxes: list[tuple[np.ndarray, float | None, str]],  # type: ignore[type-arg]
               max_side: int = MAX_SIDE) -> np.ndarray:
    """Heatmaps overlaid, then a labelled box per face, on a copy scaled to ``max_side``."""
    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    # Scaled first, painted after: painting an 8900 px picture at full size took GBs.
    img = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) \
        if scale < 1.0 else rgb
    for hm in heatmaps:
        m = np.asarray(hm.image_to_crop, dtype=np.float64).copy()
        m[:, :2] /= scale  # scaled pixel p' = scale * p
        heat, cover = heat_in_image(img.shape[:2], hm.heat, hm.crop_size, m)
        img = overlay(img, heat, cover)
    pil = Image.fromarray(img)
    draw = ImageDraw.Draw(pil)
    lw = max(2, round(min(pil.size) / 250))
    font = _font(max(12, round(min(pil.size) / 32)))
    for box, score, name in boxes:
        x0, y0, x1, y1 = (float(v) * scale for v in box)
        colour = "#c62828" if (score or 0) >= 0.5 else "#2e7d32"
        draw.rectangle([x0, y0, x1, y1], outline=colour, width=lw)
        label = f"{name}: {score:.2f}" if score is not None else name
        tb = draw.textbbox((x0, y0), label, font=font)
        ty = y0 - (tb[3] - tb[1]) - 2 * lw if y0 > (tb[3] - tb[1]) + 2 * lw else y1 + lw
        draw.rectangle([x0, ty, x0 + (tb[2] - tb[0]) + 2 * lw, ty + (tb[3] - tb[1]) + 2 * lw],
                       fill=colour)
        draw.text((x0 + lw, ty), label, fill="white", font=font)
    return np.asarray(pil)


_TRACK_COLOURS = ("#1565c0", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#558b2f")


_PAD_L, _PAD_R, _PAD_T, _PAD_B = 44, 12, 12, 34


class _Chart:
    """Axes of a probability-over-time chart: the verdict band shaded, 0/0.5/1 and six time
    ticks labelled. ``x``/``y`` map seconds and probabilities to SVG coordinates."""

    def __init__(self, width: int, height: int, dur: float, band: tuple[float, float],
                 aria: str, xlabel: str, decimals: int = 0) -> None:
        self.w, self.h, self.dur = width - _PAD_L - _PAD_R, height - _PAD_T - _PAD_B, dur
        x, y, w = self.x, self.y, self.w
        self.parts = [
            f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
            f"role='img' aria-label='{aria}'>",
            f"<rect x='{_PAD_L}' y='{y(1):.1f}' width='{w}' height='{y(band[1]) - y(1):.1f}' "
            "fill='#ffebee'/>",
            f"<rect x='{_PAD_L}' y='{y(band[1]):.1f}' width='{w}' "
            f"height='{y(band[0]) - y(band[1]):.1f}' fill='#fff8e1'/>",
            f"<rect x='{_PAD_L}' y='{y(band[0]):.1f}' width='{w}' height='{y(0) - y(band[0]):.1f}' "
            "fill='#e8f5e9'/>"]
        for p in (0.0, 0.5, 1.0):
            self.parts.append(f"<text x='{_PAD_L - 6}' y='{y(p) + 4:.1f}' font-size='11' "
                              f"text-anchor='end'>{p:.1f}</text>")
        for k in range(6):
            t = dur * k / 5
            self.parts.append(f"<text x='{x(t):.1f}' y='{height - 14}' font-size='11' "
                              f"text-anchor='middle'>{t:.{decimals}f}s</text>")
        self.parts.append(f"<text x='{_PAD_L + w / 2:.0f}' y='{height - 1}' font-size='11' "
                          f"text-anchor='middle'>{xlabel}</text>")

    def x(self, t: float) -> float:
        return _PAD_L + self.w * t / self.dur

    def y(self, p: float) -> float:
        return _PAD_T + self.h * (1 - p)


def timeline_svg(report: ScanReport, band: tuple[float, float] = (0.35, 0.65), width: int = 760,
                 height: int = 220) -> str:
    """Score over time, one line per person, with the verdict band shaded."""
    if not report.timeline or report.video is None:
        return ""
    dur = max(report.video.duration_s, report.timeline[-1].time_s, 1e-3)
    chart = _Chart(width, height, dur, band, "manipulation probability over time", "time in the clip")
    x, y, out = chart.x, chart.y, chart.parts
    ids = sorted({tid for p in report.timeline for tid in p.track_scores})
    for n, tid in enumerate(ids):
        pts = [(p.time_s, p.track_scores[tid]) for p in report.timeline
               if p.track_scores.get(tid) is not None]
        if not pts:
            continue
        colour = _TRACK_COLOURS[n % len(_TRACK_COLOURS)]
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in pts)  # type: ignore[arg-type]
        out.append(f"<polyline fill='none' stroke='{colour}' stroke-width='2' points='{path}'/>")
        out += [f"<circle cx='{x(t):.1f}' cy='{y(v):.1f}' r='2.5' fill='{colour}'/>"  # type: ignore[arg-type]
                for t, v in pts]
        out.append(f"<text x='{_PAD_L + 8 + 80 * n}' y='{_PAD_T + 12}' font-size='11' fill='{colour}'>"
                   f"person {int(tid) + 1}</text>")
    # Where lip-sync finds the mouth out of step with the speech (a dub?): a bar along the top.
    sync = next((a.details.get("over_time") for a in report.analyzers
                 if a.name == "lip-sync" and a.details.get("over_time")), None)
    for w in sync or []:
        if not w["in_step"]:
            x0, x1 = x(w["start_s"]), x(w["end_s"])
            side = "ahead of" if w["offset_ms"] > 0 else "behind"
            out.append(f"<rect class='out-of-step' x='{x0:.1f}' y='{_PAD_T + 16}' "
                       f"width='{max(x1 - x0, 1):.1f}' height='5' fill='#b36b00'>"
                       f"<title>mouth {abs(w['offset_ms'])} ms {side} the speech</title></rect>")
    # The appearance analyzer's reading frame by frame (CLIP on the whole frame).
    seen = next((a.details.get("over_time") for a in report.analyzers
                 if a.name == "appearance" and a.details.get("over_time")), None)
    if seen:
        path = " ".join(f"{x(q['time_s']):.1f},{y(q['p']):.1f}" for q in seen)
        out.append(f"<polyline class='appearance' fill='none' stroke='#555' stroke-width='1.5' "
                   f"stroke-dasharray='4 3' points='{path}'/>")
        out.append(f"<text x='{_PAD_L + 8 + 80 * len(ids)}' y='{_PAD_T + 12}' font-size='11' fill='#555'>"
                   "appearance (CLIP)</text>")
    out.append("</svg>")
    return "".join(out)


def video_panels(report: ScanReport) -> str:
    """The score chart, the most suspicious frames with heatmaps, and temporal findings."""
    e = html.escape
    parts = []
    v = report.video
    if v is not None:
        parts.append(f"<p class='muted'>{v.duration_s:.1f} s, {v.fps:g} fps, {e(v.codec)}; "
                     f"{v.frames_analysed} frames analysed ({e(v.sampling)}), "
                     f"{v.landmark_frames} followed densely for blinks, motion and lip-sync"
                     f"{', with audio' if v.has_audio else ', no audio'}.</p>")
    chart = timeline_svg(report)
    if chart:
        parts.append("<figure>" + chart + "<figcaption>Manipulation probability of each person's "
                     "face over time (green: real, yellow: uncertain, red: fake); dashed: how generated "
                     "each sampled frame looks to CLIP (the appearance analyzer); "
                     "orange bars: stretches where the mouth runs out of step with the speech (lip-sync)."
                     "</figcaption></figure>")
    vis = report.visual
    if vis is not None and getattr(vis, "frames", None):
        parts.append("<div class='row'>")
        for sf in vis.frames:
            img = draw_faces(sf.rgb, sf.heatmaps, [(b, sc, "face") for b, sc in sf.boxes], max_side=360)
            parts.append(f"<figure><img src='{_b64_jpeg(img)}' alt='frame at {sf.time_s:.1f} s'>"
                         f"<figcaption>{sf.time_s:.1f} s: score {sf.score:.2f}</figcaption></figure>")
        parts.append("</div><p class='muted'>The most suspicious frames, with the face model's "
                     "evidence map.</p>")
    findings = []
    for a in report.analyzers:
        if a.name in ("blink", "motion", "lip-sync", "appearance", "still-picture"):
            what = a.details.get("findings") or [a.details.get("reason", "")]
            strength = a.details.get("evidence_strength")
            score = f"{a.score:.2f}" if a.score is not None else "no opinion"
            findings.append(f"<li><b>{e(a.name)}</b> ({score}{', ' + e(strength) if strength else ''}): "
                            f"{e('; '.join(str(w) for w in what if w))}</li>")
    if findings:
        parts.append("<p>Behaviour over time (0.5 = no opinion):</p><ul>" + "".join(findings) + "</ul>")
    return "".join(parts)


def segments_svg(report: ScanReport, band: tuple[float, float] = (0.35, 0.65), width: int = 760,
                 height: int = 200) -> str:
    """The voice score of each 2 s window over time; grey ticks mark windows without speech."""
    segs = report.segments
    if not segs:
        return ""
    dur = max(segs[-1].end_s, 1e-3)
    chart = _Chart(width, height, dur, band, "synthetic-voice probability over time",
                   "time in the audio", decimals=0 if dur >= 10 else 1)
    x, y, out = chart.x, chart.y, chart.parts
    prev_end = 0.0
    for sg in segs:
        # The last window overlaps the one before it: draw only the time it adds.
        start = max(sg.start_s, prev_end)
        prev_end = sg.end_s
        x0, x1 = x(start), max(x(sg.end_s), x(start) + 1)
        if sg.score is None:
            out.append(f"<rect x='{x0:.1f}' y='{y(0) - 3:.1f}' width='{x1 - x0:.1f}' height='3' "
                       "fill='#bdbdbd'/>")
            continue
        colour = "#c62828" if sg.score >= band[1] else "#2e7d32" if sg.score < band[0] else "#f9a825"
        tip = f"{sg.start_s:.1f}-{sg.end_s:.1f} s: {sg.score:.2f}"
        fired = [k for k, v in (sg.traces or {}).items() if v >= TRACE_FIRES]
        if sg.traces:
            tip += "; traces: " + ", ".join(
                f"{TRACE_LABELS.get(k, k)} {v:.0%}"
                for k, v in sorted(sg.traces.items(), key=lambda kv: -kv[1]))
        out.append(f"<rect x='{x0:.1f}' y='{y(sg.score):.1f}' width='{max(x1 - x0 - 0.5, 0.5):.1f}' "
                   f"height='{y(0) - y(sg.score):.1f}' fill='{colour}' fill-opacity='0.75'>"
                   f"<title>{html.escape(tip)}</title></rect>")
        if fired and sg.score >= band[1] and x1 - x0 >= 7:
            # One letter per kind that fired: more of that trace than 95 % of real speech windows.
            out.append(f"<text x='{(x0 + x1) / 2:.1f}' y='{y(sg.score) - 3:.1f}' font-size='9' "
                       f"text-anchor='middle' fill='#555'>{''.join(k[0].upper() for k in fired)}</text>")
    out.append("</svg>")
    return "".join(out)


def audio_panels(report: ScanReport) -> str:
    """What the voice analyzer heard, in plain words, and its score over time."""
    e = html.escape
    parts = []
    a = report.audio
    voice = next((r for r in report.analyzers if r.name == "voice"), None)
    if a is not None and report.media_type == "audio":
        ch = f", {a.channels} channel{'s' if a.channels != 1 else ''}" if a.channels else ""
        parts.append(f"<p class='muted'>{a.duration_s:.1f} s of audio, {e(a.codec)} at {a.sample_rate} Hz{ch}"
                     f"{f'; {a.speech_s:.1f} s of speech found' if a.speech_s is not None else ''}.</p>")
    if voice is not None:
        if voice.score is None:
            why = voice.details.get("reason") or (voice.error.message if voice.error else "no opinion")
            parts.append(f"<p>Voice: no opinion ({e(str(why))}). Silence, noise or music say nothing about "
                         "whether a voice is real.</p>")
        else:
            said = ("sounds synthesised or voice-converted" if voice.score >= 0.65 else
                    "sounds like a bona fide recording" if voice.score < 0.35 else
                    "is hard to call either way")
            n = voice.details.get("speech_segments")
            parts.append(f"<p>Voice: the speech {said} (probability {voice.score:.2f} that it was "
                         f"synthesised or converted, from {n} speech segment{'s' if n != 1 else ''}). The "
                         "model listens for traces that vocoders and voice conversion leave in the "
                         "spectrum; it does not recognise who is speaking.</p>")
    chart = segments_svg(report)
    if chart:
        kinds = voice.details.get("trace_windows") if voice is not None else None
        legend = (" Letters over red windows: kinds of trace found there, each stronger than in 95 % of real "
                  "speech (V vocoder/codec-like, P prosody, S spectrum); hover a window for the values. Held "
                  "out, today's clones carry these kinds little more often than real speech: a letter is a "
                  "fact about the window, no letter says nothing." if kinds else "")
        parts.append("<figure>" + chart + "<figcaption>Probability that the voice is synthesised or "
                     "converted, per 2 s window (green: real, yellow: uncertain, red: synthetic; grey: "
                     f"no speech).{legend}</figcaption></figure>")
    return "".join(parts)


def people_panel(report: ScanReport) -> str:
    """The faces and voice against the enrolled protected people: names and similarities."""
    p = report.people
    if p is None:
        return ""
    e = html.escape
    if not p.matches:
        return (f"<p class='muted'>Protected people: {p.enrolled} enrolled; no face or voice to compare.</p>")
    rows = "".join(
        f"<tr><td>{e(m.subject)}</td><td>{e(m.person or '–')}</td>"
        f"<td>{'–' if m.similarity is None else f'{m.similarity:.2f}'}{' ✓' if m.matches else ''}</td>"
        f"<td>≥ {m.threshold:.2f}</td></tr>" for m in p.matches)
    found = "".join(f"<li>{e(f)}</li>" for f in p.findings)
    return (f"<h3>Protected people</h3><ul>{found}</ul><table><tr><th></th><th>closest enrolled</th>"
            f"<th>similarity</th><th>match at</th></tr>{rows}</table><p class='muted'>{p.enrolled} enrolled; "
            "a match shows likeness, not authenticity: a good fake of a person matches them too.</p>")


def provenance_panel(report: ScanReport) -> str:
    """What the file says about its own origin, in plain words."""
    p = report.provenance
    if p is None:
        return ""
    e = html.escape
    c = p.c2pa
    says = {
        "valid": "carries valid Content Credentials",
        "invalid": "carries Content Credentials that FAIL validation: the file or its manifest "
                   "changed after signing",
        "absent": "carries no Content Credentials (most media does not; this is not evidence of "
                  "manipulation)",
        "unverifiable": "has Content Credentials that could not be checked offline",
    }.get(c.state, c.state)
    signer = ""
    if c.signer:
        trust = " (a trusted signer)" if c.trusted else " (not a configured trust anchor)"
        signer = f", signed by {e(c.signer)}{trust}"
    items = [f"<li>The file {e(says)}{signer}.</li>"]
    if getattr(c, "ai_generated", False):
        items.append("<li>Its credentials declare AI generation.</li>")
    wm = p.watermark
    if wm is not None and wm.checked:
        items.append("<li>" + ("A fakescope invisible watermark is present." if wm.detected
                               else "No fakescope invisible watermark found.") + "</li>")
    reg = p.registry
    if reg is not None and reg.matches:
        m = reg.matches[0]
        items.append(f"<li>It matches registry entry {m.entry_id} ({e(reg.matched or '')} match).</li>")
    return "<p>Provenance:</p><ul>" + "".join(items) + "</ul>"


def image_heat_panels(rgb: np.ndarray, report: ScanReport) -> list[tuple[np.ndarray, str]]:
    """Per whole-image heatmap: the picture with the evidence painted where it was looked
    for (cells no crop covered stay uncoloured), and a caption."""
    vis = report.visual
    panels: list[tuple[np.ndarray, str]] = []
    h, w = rgb.shape[:2]
    scale = min(1.0, MAX_SIDE / max(h, w))
    # Scaled first, painted after (the heatmap may be at a lower resolution than the picture).
    small = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) \
        if scale < 1.0 else rgb
    size = (small.shape[1], small.shape[0])
    for hm in getattr(vis, "image_heatmaps", None) or []:
        heat = cv2.resize(np.nan_to_num(hm.heat, nan=0.0).astype(np.float32), size,
                          interpolation=cv2.INTER_LINEAR)
        cover = cv2.resize(np.isfinite(hm.heat).astype(np.float32), size, interpolation=cv2.INTER_NEAREST)
        over = overlay(small, np.clip(heat, 0, 1), cover)
        a = next((x for x in report.analyzers if x.name == hm.source), None)
        score = f"{a.score:.3f}" if a is not None and a.score is not None else "-"
        what = ("where a region looks edited (a splice, a removal, a filled-in region)"
                if hm.source == "local-edit" else "where in the whole picture the model saw generator traces")
        panels.append((over, f"{hm.source}: {what} (picture probability {score}; red = strong)"))
    return panels


def face_panels(rgb: np.ndarray, report: ScanReport) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """Per face: the aligned crop, the crop with its heatmap, and a caption."""
    vis = report.visual
    panels = []
    if vis is None:
        return panels
    for hm in vis.heatmaps:
        crop = cv2.warpAffine(rgb, hm.image_to_crop, (hm.crop_size, hm.crop_size),
                              flags=cv2.INTER_LINEAR, borderValue=0)
        up = cv2.resize(hm.heat, (hm.crop_size, hm.crop_size), interpolation=cv2.INTER_CUBIC)
        over = overlay(crop, np.clip(up, 0, 1), np.ones_like(up))
        crop = cv2.resize(crop, (CROP_SIDE, CROP_SIDE), interpolation=cv2.INTER_AREA)
        over = cv2.resize(over, (CROP_SIDE, CROP_SIDE), interpolation=cv2.INTER_AREA)
        face = report.faces[hm.face_index] if hm.face_index < len(report.faces) else None
        score = f"{face.score:.3f}" if face is not None and face.score is not None else "-"
        panels.append((crop, over, f"face {hm.face_index + 1}: manipulation probability {score}"))
    return panels


class HtmlReportWriter:
    """Append reports one by one; ``close()`` completes the file atomically."""

    def __init__(self, path: Path, title: str = "fakescope report") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._fh: TextIO = open(self._tmp, "w", encoding="utf-8")  # noqa: SIM115
        self._n = 0
        self._fh.write(
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width,initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
            f"<header><h1>{html.escape(title)}</h1><p>fakescope {__version__} · score = "
            "calibrated probability that the media was manipulated (0 = surely real, "
            "1 = surely manipulated) · heatmaps: <span class='legend'></span> "
            "none → strong manipulation evidence</p></header><main>"
        )

    def add(self, report: ScanReport) -> None:
        self._n += 1
        self._fh.write(render_section(report))

    def close(self) -> None:
        if self._fh.closed:
            return
        self._fh.write(f"<p class='muted'>{self._n} file(s).</p></main></body></html>\n")
        self._fh.close()
        os.replace(self._tmp, self.path)


def render_section(report: ScanReport) -> str:
    e = html.escape
    colour = _COLOURS.get(report.verdict, "#555")
    score_html = ""
    if report.score is not None:
        score_html = (f"<span class='gauge' title='score'><i style='left:calc({report.score:.3f}"
                      f"*100% - 2px)'></i></span> <b>{report.score:.3f}</b>")
    parts = [
        f"<section><h2>{e(report.file)}</h2>",
        f"<span class='badge' style='background:{colour}'>{e(report.verdict.upper())}</span>",
        score_html,
        f"<p>{e(explanation(report))} "
        f"<span class='muted'>{e(report.reason)}</span></p>",
    ]
    vis = report.visual
    if vis is not None and getattr(vis, "rgb", None) is not None:
        parts.append("<div class='row'>")
        parts.append(
            f"<figure><img src='{_b64_jpeg(annotate(vis.rgb, report))}' alt='image with faces'>"
            "<figcaption>Boxes: faces found, with their manipulation probability. Colour "
            "over faces: where the model saw manipulation.</figcaption></figure>"
        )
        for over, caption in image_heat_panels(vis.rgb, report):
            parts.append(f"<figure><img src='{_b64_jpeg(over)}' alt='generated-image heatmap'>"
                         f"<figcaption>{e(caption)}</figcaption></figure>")
        for crop, over, caption in face_panels(vis.rgb, report):
            parts.append(
                f"<figure><img src='{_b64_jpeg(crop)}' alt='aligned face'> "
                f"<img src='{_b64_jpeg(over)}' alt='heatmap'><figcaption>{e(caption)}: the "
                "aligned face the model saw, and its evidence map</figcaption></figure>"
            )
        parts.append("</div>")
    if report.media_type == "video":
        parts.append(video_panels(report))
    if report.media_type == "audio" or report.segments:
        parts.append(audio_panels(report))
    parts.append(provenance_panel(report))
    parts.append(people_panel(report))
    if report.analyzers:
        parts.append("<table><tr><th>analyzer</th><th>version</th><th>score</th><th>per face</th>"
                     "<th>ms</th></tr>")
        for a in report.analyzers:
            sc = f"{a.score:.3f}" if a.score is not None else (e(a.error.message) if a.error else "-")
            per = ", ".join(f"{s:.3f}" if s is not None else "-" for s in (a.face_scores or []))
            parts.append(f"<tr><td>{e(a.name)}</td><td>{e(a.version)}</td><td>{sc}</td>"
                         f"<td>{per}</td><td>{a.time_ms:.0f}</td></tr>")
        parts.append("</table>")
    t = report.timing_ms
    meta = [f"sha256 {report.sha256[:16]}…" if report.sha256 else "",
            f"{report.media.width}×{report.media.height} {report.media.format}" if report.media else "",
            f"decode {t.decode:.0f} ms · faces {t.faces:.0f} ms · analyzers {t.analyzers:.0f} ms · "
            f"total {t.total:.0f} ms"]
    parts.append(f"<p class='muted'>{' · '.join(e(m) for m in meta if m)}</p>")
    if report.notes:
        parts.append("<p class='muted'>Notes: " + "; ".join(e(n) for n in report.notes) + "</p>")
    parts.append("</section>")
    return "".join(parts)
