"""The ``metadata`` analyzer: what EXIF, XMP, IPTC, text chunks, container tags and JPEG
quantisation say about a file's history, as explained anomalies.

It is evidence, never a verdict: metadata is trivially edited or stripped, so the
analyzer's score is always None (fusion ignores it) and its details list anomalies, each
with a code, a severity (``info`` or ``notice``) and one line a person can check.

JPEG history: the quantisation tables give the last encoder's quality (IJG scaling) and
whether the tables are libjpeg's standard ones; a double-quantisation test on the DCT
histograms of low frequencies finds a file that was JPEG-compressed before at a lower
quality (the classic periodic gaps of Popescu & Farid; a first compression at a *higher*
quality leaves no such trace and is not detected).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import cv2
import numpy as np

from fakescope.analyzers.base import Evidence, ScanItem
from fakescope.media.metadata import ImageMetadata

# Substrings (lower case) of generator names seen in Software, CreatorTool, text chunks.
AI_GENERATORS = {
    "stable diffusion": "Stable Diffusion", "stablediffusion": "Stable Diffusion",
    "automatic1111": "Stable Diffusion (AUTOMATIC1111)", "comfyui": "ComfyUI",
    "invokeai": "InvokeAI", "novelai": "NovelAI", "dall-e": "DALL-E", "dall·e": "DALL-E",
    "dalle": "DALL-E", "openai": "OpenAI", "midjourney": "Midjourney", "firefly": "Adobe Firefly",
    "imagen": "Google Imagen", "gemini": "Google Gemini", "flux": "FLUX", "leonardo.ai": "Leonardo",
    "ideogram": "Ideogram", "runway": "Runway", "sora": "Sora", "dreamstudio": "DreamStudio",
}
EDITORS = {
    "photoshop": "Adobe Photoshop", "lightroom": "Adobe Lightroom", "gimp": "GIMP",
    "affinity": "Affinity Photo", "pixelmator": "Pixelmator", "snapseed": "Snapseed",
    "picsart": "PicsArt", "canva": "Canva", "facetune": "Facetune", "faceapp": "FaceApp",
    "paint.net": "Paint.NET", "photopea": "Photopea", "luminar": "Luminar", "capture one": "Capture One",
    "photoscape": "PhotoScape", "fotor": "Fotor", "remini": "Remini",
}
# Keys of AUTOMATIC1111/ComfyUI text chunks that hold a prompt or a workflow.
GENERATOR_CHUNKS = ("parameters", "prompt", "workflow", "negative_prompt", "sd-metadata",
                    "invokeai_metadata", "dream")
AI_SOURCE_TYPES = ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia")
# How AUTOMATIC1111 and its forks write settings (also into EXIF UserComment of JPEGs).
_SD_PARAMS = re.compile(r"Steps: \d+, Sampler: ")

# libjpeg's standard luminance table (ITU T.81 K.1), natural order.
_STD_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=np.float64)
_DQ_POSITIONS = ((0, 1), (1, 0), (1, 1), (0, 2), (2, 0), (1, 2), (2, 1), (2, 2), (0, 3), (3, 0))
DOUBLE_Q_THRESHOLD = 0.5  # share of histogram bins that are periodic gaps or peaks

_DCT8 = np.array([[(np.sqrt(1 / 8) if k == 0 else np.sqrt(2 / 8)) * np.cos(np.pi * (2 * n + 1) * k / 16)
                   for n in range(8)] for k in range(8)])


class MetadataAnalyzer:
    name = "metadata"
    version = "1.0.0"
    card = None
    needs_faces = False

    def analyze(self, item: ScanItem) -> Evidence:
        media = item.media
        meta = getattr(media, "metadata", None) or ImageMetadata()
        details = analyze_image_metadata(meta, media.format, media.rgb)
        return Evidence(score=None, details=details)  # evidence, never a verdict


def _anomaly(code: str, severity: str, explanation: str, evidence: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"code": code, "severity": severity, "explanation": explanation}
    if evidence is not None:
        out["evidence"] = evidence
    return out


def _find(names: dict[str, str], text: str) -> str | None:
    low = text.lower()
    for needle, name in names.items():
        if re.search(r"(?<![a-z])" + re.escape(needle) + r"(?![a-z])", low):
            return name
    return None


def analyze_image_metadata(meta: ImageMetadata, fmt: str, rgb: np.ndarray | None = None) -> dict[str, Any]:
    anomalies: list[dict[str, Any]] = []
    exif = meta.exif
    # Fields software fills in; free-text captions (Artist, ImageDescription) are left out
    # so that "a photo of a runway" does not read as the Runway generator.
    tools = {k: str(exif[k]) for k in ("Software", "ProcessingSoftware", "HostComputer", "UserComment")
             if exif.get(k)}
    for tag in ("CreatorTool", "softwareAgent", "HistorySoftwareAgent"):
        for m in re.finditer(rf"{tag}[=>\"']+([^\"<]+)", meta.xmp or ""):
            tools[f"XMP {tag}"] = m.group(1).strip()
    for key, value in meta.text.items():
        tools[f"text:{key}"] = value[:300]

    # AI generators: names in tool fields, or the prompt chunks generator front-ends write.
    for field_name, value in tools.items():
        gen = _find(AI_GENERATORS, value)
        if gen:
            anomalies.append(_anomaly(
                "generator_tag", "notice",
                f"{field_name} names an AI image generator ({gen}): the file was made or passed "
                "through it", {field_name: value[:200]}))
    chunk_hits = [k for k in meta.text if k.lower() in GENERATOR_CHUNKS]
    chunk_hits += [k for k, v in tools.items() if _SD_PARAMS.search(v) and k.removeprefix("text:")
                   not in chunk_hits]
    if chunk_hits:
        anomalies.append(_anomaly(
            "generator_parameters", "notice",
            f"'{chunk_hits[0]}' holds generation settings (prompt, sampler, seed) as Stable "
            "Diffusion front-ends write them",
            {k: (meta.text.get(k) or tools.get(k, ""))[:200] for k in chunk_hits}))
    src = [t for t in AI_SOURCE_TYPES if t in (meta.xmp or "") or any(t in v for v in meta.iptc.values())]
    if src:
        anomalies.append(_anomaly(
            "ai_source_type", "notice",
            f"XMP/IPTC digital source type says {src[0]}: the file declares itself AI-generated",
            src))
    for field_name, value in tools.items():
        editor = _find(EDITORS, value)
        if editor:
            anomalies.append(_anomaly(
                "editing_software", "info",
                f"{field_name} names editing software ({editor}): the file was saved by an editor "
                "after capture; edits may be harmless (crop, colour) or not", {field_name: value[:200]}))
            break

    anomalies.extend(_timestamps(exif))
    jpeg: dict[str, Any] | None = None
    if fmt == "jpeg":
        camera = bool(exif.get("Make") or exif.get("Model"))
        if not exif and not meta.xmp and not meta.iptc:
            anomalies.append(_anomaly(
                "metadata_stripped", "info",
                "no EXIF, XMP or IPTC at all: camera files carry EXIF, so it was removed (social "
                "networks and messengers do this), or the file was made by software"))
        jpeg = _jpeg_history(meta, rgb)
        if jpeg.get("standard_tables") and camera:
            anomalies.append(_anomaly(
                "recompressed", "info",
                f"EXIF names a camera but the quantisation tables are libjpeg's standard ones at "
                f"quality {jpeg['quality']}: most cameras write their own, so software re-encoded it"))
        dq = jpeg.get("double_compression") or {}
        if dq.get("likely"):
            anomalies.append(_anomaly(
                "double_compression", "notice",
                "DCT histograms show the periodic gaps of a second JPEG compression: the image "
                "was saved as JPEG before, at a lower quality, then re-saved (editing or "
                "re-sharing); local edits between the two saves are possible", dq))

    summary = {k: exif[k] for k in ("Make", "Model", "Software", "DateTime", "DateTimeOriginal",
                                    "DateTimeDigitized", "LensModel") if k in exif}
    if any(k.startswith("GPS") for k in exif):
        summary["gps"] = True
    out: dict[str, Any] = {
        "anomalies": anomalies,
        "summary": summary,
        "present": {"exif": bool(exif), "xmp": bool(meta.xmp), "iptc": bool(meta.iptc),
                    "text_chunks": sorted(meta.text)[:20], "icc_profile": meta.icc_profile},
        "note": "metadata is evidence, not a verdict: it is easily edited or removed",
    }
    if jpeg is not None:
        out["jpeg"] = jpeg
    return out


_EXIF_TIME = "%Y:%m:%d %H:%M:%S"


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.strptime(value.strip()[:19], _EXIF_TIME)
    except ValueError:
        return None


def _timestamps(exif: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    original = _parse_time(exif.get("DateTimeOriginal"))
    digitized = _parse_time(exif.get("DateTimeDigitized"))
    modified = _parse_time(exif.get("DateTime"))
    times = {"DateTimeOriginal": exif.get("DateTimeOriginal"), "DateTime": exif.get("DateTime"),
             "DateTimeDigitized": exif.get("DateTimeDigitized")}
    if original and modified and modified < original - dt.timedelta(seconds=60):
        out.append(_anomaly(
            "timestamps_contradict", "notice",
            "EXIF DateTime (last change) is earlier than DateTimeOriginal (capture): one of them "
            "was edited", times))
    elif original and modified and modified - original > dt.timedelta(minutes=10):
        out.append(_anomaly(
            "modified_after_capture", "info",
            f"EXIF DateTime is {_span(modified - original)} after DateTimeOriginal: the file was "
            "changed after it was taken", times))
    if original and digitized and abs(digitized - original) > dt.timedelta(minutes=10):
        out.append(_anomaly(
            "timestamps_contradict", "notice",
            "EXIF DateTimeOriginal and DateTimeDigitized disagree: a camera writes both at once",
            times))
    now = dt.datetime.now() + dt.timedelta(days=2)  # time zones: EXIF times are local
    future = [k for k, v in (("DateTimeOriginal", original), ("DateTime", modified)) if v and v > now]
    if future:
        out.append(_anomaly("timestamp_in_future", "notice",
                            f"EXIF {future[0]} lies in the future: the clock or the tag is wrong", times))
    return out


def _span(delta: dt.timedelta) -> str:
    s = delta.total_seconds()
    return f"{s / 86400:.0f} days" if s >= 2 * 86400 else f"{s / 3600:.1f} hours"


def estimate_quality(table: list[int]) -> tuple[int, bool]:
    """(closest IJG quality, whether the table is exactly libjpeg's table at that quality)."""
    t = np.asarray(table[:64], dtype=np.float64)
    best_q, best_err = 50, float("inf")
    for q in range(1, 101):
        scale = 5000 // q if q < 50 else 200 - 2 * q  # libjpeg integer arithmetic
        std = np.clip(np.floor((_STD_LUMA * scale + 50.0) / 100.0), 1, 255)
        err = float(np.abs(std - t).sum())
        if err < best_err:
            best_q, best_err = q, err
    return best_q, best_err == 0.0


def _jpeg_history(meta: ImageMetadata, rgb: np.ndarray | None) -> dict[str, Any]:
    out: dict[str, Any] = {"progressive": meta.progressive}
    if not meta.quantization or 0 not in meta.quantization:
        return out
    q, standard = estimate_quality(meta.quantization[0])
    out.update(quality=q, standard_tables=standard, tables=len(meta.quantization))
    if rgb is not None and meta.orientation in (None, 1):
        # A rotated image no longer sits on its 8x8 compression grid.
        out["double_compression"] = double_quantisation(rgb, meta.quantization[0])
    return out


MAX_DQ_SIDE = 1024


def double_quantisation(rgb: np.ndarray, luma_table: list[int]) -> dict[str, Any]:
    """Share of periodic gaps/peaks in low-frequency DCT histograms (0 = smooth, 1 = all)."""
    h8, w8 = rgb.shape[0] // 8 * 8, rgb.shape[1] // 8 * 8
    if h8 < 64 or w8 < 64:
        return {"likely": False, "reason": "image too small"}
    # A central window of at most MAX_DQ_SIDE px a side, on the JPEG block grid (offsets
    # multiple of 8): some 16,000 blocks are statistics enough, and a phone photo's whole
    # frame cost 0.1-0.2 s.
    wh, ww = min(h8, MAX_DQ_SIDE), min(w8, MAX_DQ_SIDE)
    y0, x0 = (h8 - wh) // 16 * 8, (w8 - ww) // 16 * 8
    window = np.ascontiguousarray(rgb[y0 : y0 + wh, x0 : x0 + ww])
    y = cv2.cvtColor(window, cv2.COLOR_RGB2YCrCb)[..., 0].astype(np.float64) - 128.0
    blocks = y.reshape(wh // 8, 8, ww // 8, 8).swapaxes(1, 2).reshape(-1, 8, 8)
    coeffs = _DCT8 @ blocks @ _DCT8.T
    q = np.asarray(luma_table[:64], dtype=np.float64)
    if q.size < 64 or not np.all(q > 0):
        # A zero step is not a valid table (the decoder substitutes one): nothing to read.
        return {"likely": False, "reason": "invalid quantisation table"}
    q = q.reshape(8, 8)
    shares = []
    for u, v in _DQ_POSITIONS:
        k = np.abs(np.round(coeffs[:, u, v] / q[u, v])).astype(np.int64)
        hist = np.bincount(k, minlength=40)[:40].astype(np.float64)
        bins = [i for i in range(2, 39) if hist[i - 1] + hist[i + 1] >= 40]
        if len(bins) < 3:
            continue
        ratio = np.array([hist[i] / ((hist[i - 1] + hist[i + 1]) / 2.0) for i in bins])
        shares.append(float(np.mean((ratio < 0.5) | (ratio > 1.6))))
    if len(shares) < 3:
        return {"likely": False, "reason": "too few DCT coefficients to judge"}
    score = float(np.mean(shares))
    return {"likely": score >= DOUBLE_Q_THRESHOLD, "periodicity": round(score, 3),
            "threshold": DOUBLE_Q_THRESHOLD}


def analyze_container_metadata(info: dict[str, Any]) -> dict[str, Any]:
    """Anomalies in video/audio container tags (PyAV's ``container_metadata``)."""
    anomalies: list[dict[str, Any]] = []
    tags = {f"container:{k}": v for k, v in (info.get("tags") or {}).items()}
    for i, s in enumerate(info.get("streams") or []):
        tags.update({f"stream{i}:{k}": v for k, v in (s.get("tags") or {}).items()})
    for key, value in tags.items():
        gen = _find(AI_GENERATORS, value)
        if gen:
            anomalies.append(_anomaly("generator_tag", "notice",
                                      f"{key} names an AI generator ({gen})", {key: value[:200]}))
        editor = _find(EDITORS, value) or _find({"premiere": "Adobe Premiere", "after effects":
                                                  "Adobe After Effects", "davinci": "DaVinci Resolve",
                                                  "final cut": "Final Cut Pro", "capcut": "CapCut"}, value)
        if editor:
            anomalies.append(_anomaly("editing_software", "info",
                                      f"{key} names editing software ({editor})", {key: value[:200]}))
    encoder = next((v for k, v in tags.items() if k.endswith(":encoder")), None)
    if encoder and encoder.lower().startswith(("lavf", "lavc")):
        anomalies.append(_anomaly(
            "reencoded", "info",
            f"encoder tag {encoder!r} is FFmpeg's: the file was (re-)muxed or re-encoded by "
            "software, not written by a camera", {"encoder": encoder}))
    if not any(k.endswith(":creation_time") for k in tags):
        anomalies.append(_anomaly(
            "no_creation_time", "info",
            "no creation_time tag: cameras and phones write one; it was removed or never set"))
    return {"anomalies": anomalies, "container": info,
            "note": "metadata is evidence, not a verdict: it is easily edited or removed"}
