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
from fakescope.report.schema import ScanReport

MAX_SIDE = 960
CROP_SIDE = 200

_COLOURS = {"fake": "#c62828", "real": "#2e7d32", "inconclusive": "#f9a825",
            "no_face": "#0277bd", "error": "#6a1b9a"}
_EXPLAIN = {
    "fake": "The face model found manipulation traces strong enough to call this fake.",
    "real": "The face model found no meaningful manipulation traces in the faces it saw.",
    "inconclusive": "The evidence is too weak or mixed for a call either way; a person should look.",
    "no_face": "No face was found, so the face-forgery model had nothing to judge. "
               "This says nothing about whether the image is authentic.",
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
    img = rgb
    if vis is not None:
        for hm in vis.heatmaps:
            heat, cover = heat_in_image(img.shape[:2], hm.heat, hm.crop_size, hm.image_to_crop)
            img = overlay(img, heat, cover)
    h, w = img.shape[:2]
    scale = min(1.0, MAX_SIDE / max(h, w))
    if scale < 1.0:
        img = cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    pil = Image.fromarray(img)
    draw = ImageDraw.Draw(pil)
    lw = max(2, round(min(pil.size) / 250))
    font = _font(max(12, round(min(pil.size) / 32)))
    for f in report.faces:
        x0, y0, x1, y1 = (v * scale for v in f.box)
        colour = "#c62828" if (f.score or 0) >= 0.5 else "#2e7d32"
        draw.rectangle([x0, y0, x1, y1], outline=colour, width=lw)
        label = f"face {f.index + 1}: {f.score:.2f}" if f.score is not None else f"face {f.index + 1}"
        tb = draw.textbbox((x0, y0), label, font=font)
        ty = y0 - (tb[3] - tb[1]) - 2 * lw if y0 > (tb[3] - tb[1]) + 2 * lw else y1 + lw
        draw.rectangle([x0, ty, x0 + (tb[2] - tb[0]) + 2 * lw, ty + (tb[3] - tb[1]) + 2 * lw],
                       fill=colour)
        draw.text((x0 + lw, ty), label, fill="white", font=font)
    return np.asarray(pil)


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
        f"<p>{e(_EXPLAIN.get(report.verdict, ''))} <span class='muted'>{e(report.reason)}</span></p>",
    ]
    vis = report.visual
    if vis is not None:
        parts.append("<div class='row'>")
        parts.append(
            f"<figure><img src='{_b64_jpeg(annotate(vis.rgb, report))}' alt='image with faces'>"
            "<figcaption>Boxes: faces found, with their manipulation probability. Colour "
            "over faces: where the model saw manipulation.</figcaption></figure>"
        )
        for crop, over, caption in face_panels(vis.rgb, report):
            parts.append(
                f"<figure><img src='{_b64_jpeg(crop)}' alt='aligned face'> "
                f"<img src='{_b64_jpeg(over)}' alt='heatmap'><figcaption>{e(caption)}: the "
                "aligned face the model saw, and its evidence map</figcaption></figure>"
            )
        parts.append("</div>")
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
