"""Hide the faces in photos and videos before sharing them as evidence.

Every face the detector finds is covered: an ellipse a little larger than the face (hair,
ears and jaw line included) is pixelated into a few coarse cells and then blurred, so
neither a person nor a face detector can recognise it. A keep-list spares faces by their
index in the scan report (largest-confidence first, as ``fakescope scan`` numbers them).

Photos are written without any metadata (no EXIF, XMP, GPS, C2PA: a fresh file from the
pixels). Videos are re-encoded (H.264) frame by frame, faces found on every frame and the
previous frame's kept covered too (a face the detector misses for one frame stays hidden);
the audio is copied unchanged and the container's metadata is not.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from fakescope.errors import FakescopeError

Method = Literal["pixelate", "blur"]
# The covered ellipse: this many face-box sizes wide and tall, a little lower than the box
# (the box stops at the chin; hair above is covered by the height).
GROW_W, GROW_H = 1.5, 1.7
CELLS = 6  # pixelate: cells across the face (coarser than any detail a model reads)
PHOTO_SUFFIXES = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP",
                  ".tif": "TIFF", ".tiff": "TIFF"}


class AnonymizeError(FakescopeError):
    code = "anonymize_failed"


@dataclass
class Result:
    source: Path
    out: Path
    faces: int  # faces covered (photos) or face-frames covered (videos)
    kept: int
    frames: int = 1


def cover(rgb: np.ndarray, boxes: Iterable[np.ndarray], method: Method = "pixelate",
          grow: float = 1.0, cells: int = CELLS) -> np.ndarray:
    """A copy of ``rgb`` with an ellipse over each box (x0, y0, x1, y1) pixelated or blurred;
    ``grow`` widens the ellipse beyond GROW_W x GROW_H face boxes."""
    out = rgb.copy()
    h, w = rgb.shape[:2]
    for box in boxes:
        x0, y0, x1, y1 = (float(v) for v in box)
        bw, bh = max(x1 - x0, 2.0), max(y1 - y0, 2.0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + 0.05 * bh
        ax, ay = grow * GROW_W * bw / 2, grow * GROW_H * bh / 2
        rx0, ry0 = int(max(0, cx - ax)), int(max(0, cy - ay))
        rx1, ry1 = int(min(w, np.ceil(cx + ax))), int(min(h, np.ceil(cy + ay)))
        if rx1 - rx0 < 2 or ry1 - ry0 < 2:
            continue
        region = out[ry0:ry1, rx0:rx1]
        rh, rw = region.shape[:2]
        if method == "pixelate":
            cells_across = max(1, round(cells * rw / (grow * GROW_W * bw)))
            small = cv2.resize(region, (cells_across, max(1, round(cells_across * rh / rw))),
                               interpolation=cv2.INTER_AREA)
            hidden = cv2.resize(small, (rw, rh), interpolation=cv2.INTER_NEAREST)
            hidden = cv2.GaussianBlur(hidden, (0, 0), max(1.0, bw / 40))
        else:
            hidden = cv2.GaussianBlur(region, (0, 0), max(2.0, bw / 6))
        mask = np.zeros((rh, rw), np.uint8)
        cv2.ellipse(mask, (round(cx - rx0), round(cy - ry0)), (round(ax), round(ay)), 0, 0, 360, 255, -1)
        region[mask > 0] = hidden[mask > 0]
    return out


PASSES = 4


def _overlaps(a: np.ndarray, b: np.ndarray, share: float = 0.3) -> bool:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return smaller > 0 and ix * iy / smaller > share


def hide_faces(rgb: np.ndarray, detector, method: Method = "pixelate", keep: set[int] | None = None,  # type: ignore[no-untyped-def]
               faces=None, passes: int = PASSES) -> tuple[np.ndarray, int, int, list[np.ndarray]]:  # type: ignore[no-untyped-def]
    """Cover the faces, then look again with the detector itself and cover, wider and
    coarser, whatever it still calls a face (a pixelated head keeps a head's outline),
    up to ``passes`` times. Returns the image, faces covered, faces kept, boxes covered."""
    keep = keep or set()
    faces = detector.detect(rgb) if faces is None else faces
    kept = [f.box for i, f in enumerate(faces) if i in keep]
    boxes = [f.box for i, f in enumerate(faces) if i not in keep]
    out = cover(rgb, boxes, method)
    covered = list(boxes)
    for k in range(1, passes):
        left = [f.box for f in detector.detect(out) if not any(_overlaps(f.box, b) for b in kept)]
        if not left:
            break
        # Wider and coarser each time; the last pass paints one flat colour.
        last = k == passes - 1
        out = cover(out, left, "pixelate", grow=1.0 + 0.25 * k, cells=1 if last else max(2, CELLS - 2 * k))
        covered += left
    return out, len(boxes), len(kept), covered


def anonymize_photo(src: Path, dst: Path, *, method: Method = "pixelate", keep: set[int] | None = None,
                    detector=None) -> Result:  # type: ignore[no-untyped-def]

    from fakescope.config import MediaLimits
    from fakescope.media import decode, read_file
    from fakescope.media.types import ImageMedia

    fmt = PHOTO_SUFFIXES.get(dst.suffix.lower())
    if fmt is None:
        raise AnonymizeError(f"cannot write {dst.name}: use one of {', '.join(sorted(PHOTO_SUFFIXES))}")
    media = decode(read_file(src, MediaLimits()), MediaLimits())
    if not isinstance(media, ImageMedia):
        raise AnonymizeError(f"{src.name} is not a photo")
    detector = detector or _detector()
    data, n_covered, n_kept = hidden_file(media.rgb, detector, lambda rgb: _encode(rgb, fmt), method, keep)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(data)
    return Result(src, dst, faces=n_covered, kept=n_kept)


def hidden_file(rgb: np.ndarray, detector, encode: Callable[[np.ndarray], bytes],  # type: ignore[no-untyped-def]
                method: Method = "pixelate", keep: set[int] | None = None,
                faces=None) -> tuple[bytes, int, int]:  # type: ignore[no-untyped-def]
    """``rgb`` with its faces hidden, encoded by ``encode``, and checked as encoded:
    compression (or the downscaling of a preview) can bring a borderline face back to the
    detector, so what it still finds in the written file is covered again. Returns the
    file's bytes, faces covered and faces kept."""
    from PIL import Image

    keep = keep or set()
    faces = detector.detect(rgb) if faces is None else faces
    out, n_covered, n_kept, _ = hide_faces(rgb, detector, method, keep, faces)
    kept = [f.box for i, f in enumerate(faces) if i in keep]
    data = encode(out)
    for _ in range(PASSES):
        written = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        scale = out.shape[1] / written.shape[1]
        left = [f.box * scale for f in detector.detect(written)
                if not any(_overlaps(f.box * scale, b) for b in kept)]
        if not left:
            break
        out = cover(out, left, "pixelate", grow=1.5, cells=1)
        data = encode(out)
    return data, n_covered, n_kept


def _encode(rgb: np.ndarray, fmt: str) -> bytes:
    """A new file from the pixels alone: no EXIF, XMP, ICC, C2PA or any other metadata."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt, **({"quality": 92} if fmt in ("JPEG", "WEBP") else {}))
    return buf.getvalue()


def anonymize_video(src: Path, dst: Path, *, method: Method = "pixelate", keep: set[int] | None = None,
                    detector=None, progress=None) -> Result:  # type: ignore[no-untyped-def]
    """Every frame re-encoded with its faces covered (``keep``: face indices spared on
    every frame, by their order on that frame), the audio stream copied."""
    import av

    from fakescope.config import MediaLimits
    from fakescope.media import decode, read_file
    from fakescope.media.video import VideoMedia

    media = decode(read_file(src, MediaLimits()), MediaLimits())
    if not isinstance(media, VideoMedia):
        raise AnonymizeError(f"{src.name} is not a video")
    if dst.suffix.lower() not in (".mp4", ".mov", ".mkv"):
        raise AnonymizeError(f"cannot write {dst.name}: use .mp4, .mov or .mkv")
    detector = detector or _detector()
    keep = keep or set()
    dst.parent.mkdir(parents=True, exist_ok=True)
    n = covered = spared = 0
    previous: list[np.ndarray] = []
    try:
        with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
            vin = inp.streams.video[0]
            ain = inp.streams.audio[0] if inp.streams.audio else None
            rate = vin.average_rate or 25
            vout = out.add_stream("libx264", rate=rate)
            vout.width, vout.height = media.width - media.width % 2, media.height - media.height % 2
            vout.pix_fmt = "yuv420p"
            vout.options = {"crf": "18"}
            aout = out.add_stream_from_template(ain) if ain is not None else None
            streams = [vin] + ([ain] if ain is not None else [])
            for packet in inp.demux(*streams):
                if packet.stream is ain and aout is not None:
                    if packet.dts is not None:
                        packet.stream = aout
                        out.mux(packet)
                    continue
                for frame in packet.decode():
                    rgb = media.rgb_of(frame)
                    faces = detector.detect(rgb, tiles=n % 4 == 0)
                    # Last frame's faces stay covered too: a one-frame miss must not show one.
                    img, n_covered, n_kept, boxes = hide_faces(cover(rgb, previous, method), detector,
                                                               method, keep, faces, passes=2)
                    img = img[: vout.height, : vout.width]
                    covered += n_covered
                    spared += n_kept
                    previous = boxes
                    vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
                    for p in vout.encode(vf):
                        out.mux(p)
                    n += 1
                    if progress is not None:
                        progress(n)
            for p in vout.encode():
                out.mux(p)
    except (av.error.FFmpegError, ValueError) as exc:
        dst.unlink(missing_ok=True)
        raise AnonymizeError(f"{src.name} could not be re-encoded: {exc}") from exc
    return Result(src, dst, faces=covered, kept=spared, frames=n)


def _detector():  # type: ignore[no-untyped-def]
    from fakescope.faces.detector import get_detector

    return get_detector()
