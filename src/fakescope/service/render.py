"""Pictures and pages of a stored scan, rendered on request from what is kept: the upload
(for the retention period), the report JSON, the face heatmaps (evidence maps and
alignment matrices, no pixels) and the preview JPEG the worker stores with an image's
report. Decoding an upload again is capped at RENDER_SLOTS at a time per process.

Aligned face crops appear in ``report.html`` only when the operator turns
``keep_face_crops`` on; otherwise the heatmaps are painted over the faces in the picture.
With ``anonymize_previews`` on, no picture leaves the service with a found face uncovered:
the preview is stored covered by the worker (and only by it, or by ``/image`` for a done
scan stored before previews were, covered the same way), and ``report.html`` covers the
faces before painting (never with aligned crops).
"""

from __future__ import annotations

import io
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from fakescope.config import MediaLimits
from fakescope.report.schema import ScanReport
from fakescope.store.blobs import BlobStore
from fakescope.store.models import Scan

PREVIEW_MAX_SIDE = 1280
# Full decodes of stored uploads (report pages; previews of scans stored before previews
# were) at the same time, per server process: each may hold one decoded picture.
RENDER_SLOTS = 1
RENDER_WAIT_S = 20.0
_render_slots = threading.BoundedSemaphore(RENDER_SLOTS)


class RenderBusy(Exception):
    """Every render slot stayed taken for RENDER_WAIT_S: the client should retry."""


@contextmanager
def render_slot(wait_s: float | None = None) -> Iterator[None]:
    if not _render_slots.acquire(timeout=RENDER_WAIT_S if wait_s is None else wait_s):
        raise RenderBusy
    try:
        yield
    finally:
        _render_slots.release()
        _give_back_memory()


def _give_back_memory() -> None:
    """Return freed heap to the system (glibc): each request thread keeps its own arena, and
    a decoded picture freed in one would otherwise stay resident beside the next one's."""
    global _trim
    if _trim is None:
        try:
            import ctypes

            _trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _trim = False
    if _trim:
        _trim(0)


_trim = None  # glibc's malloc_trim, False where there is none


def preview_key(scan_id: str) -> str:
    return f"scans/{scan_id}/preview.jpg"


def decoded_rgb(blobs: BlobStore, scan: Scan) -> np.ndarray | None:
    """The upload decoded exactly as the scan decoded it (orientation applied), images only."""
    if scan.media_type != "image" or not scan.upload_key or not blobs.exists(scan.upload_key):
        return None
    from fakescope.errors import FakescopeError
    from fakescope.media import decode, load_bytes
    from fakescope.media.types import ImageMedia

    try:
        media = decode(load_bytes(blobs.get_bytes(scan.upload_key), Path(scan.filename), MediaLimits()),
                       MediaLimits())
    except FakescopeError:
        return None
    return media.rgb if isinstance(media, ImageMedia) else None


def _preview_scale(w: int, h: int) -> float:
    return min(1.0, PREVIEW_MAX_SIDE / max(w, h))


def preview_jpeg(rgb: np.ndarray) -> bytes:
    h, w = rgb.shape[:2]
    f = _preview_scale(w, h)
    if f < 1.0:
        rgb = cv2.resize(rgb, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def make_preview(rgb: np.ndarray, boxes: list, *, anonymize: bool, detector=None) -> bytes:  # type: ignore[type-arg, no-untyped-def]
    """The preview JPEG; with ``anonymize`` every face the scan found (``boxes``, in
    ``rgb``'s pixels) and any the detector still finds in the JPEG written is covered."""
    if not anonymize:
        return preview_jpeg(rgb)
    from types import SimpleNamespace

    from fakescope.anonymize import hidden_file

    found = [SimpleNamespace(box=np.asarray(b, dtype=np.float64)) for b in boxes]
    return hidden_file(rgb, detector or _detector(), preview_jpeg, faces=found)[0]


def faces_covered(rgb: np.ndarray, boxes: list, detector=None) -> np.ndarray:  # type: ignore[type-arg, no-untyped-def]
    """``rgb`` with the scan's faces (``boxes``) and any the detector still finds covered."""
    from types import SimpleNamespace

    from fakescope.anonymize import hide_faces

    found = [SimpleNamespace(box=np.asarray(b, dtype=np.float64)) for b in boxes]
    return hide_faces(rgb, detector or _detector(), faces=found)[0]


def _detector():  # type: ignore[no-untyped-def]
    from fakescope.faces.detector import get_detector

    return get_detector()


def heatmap_png(width: int, height: int, heatmaps: list) -> bytes:  # type: ignore[type-arg]
    """A transparent PNG the size of the preview with the heatmaps painted where the faces are."""
    from fakescope.report.html import colourise, heat_in_image

    f = _preview_scale(width, height)
    pw, ph = round(width * f), round(height * f)
    heat_all = np.zeros((ph, pw), np.float32)
    cover_all = np.zeros((ph, pw), np.float32)
    for hm in heatmaps:
        m = np.asarray(hm.image_to_crop, dtype=np.float64).copy()
        m[:, :2] /= f  # preview pixel p = f * image pixel
        heat, cover = heat_in_image((ph, pw), hm.heat, hm.crop_size, m)
        take = cover > cover_all
        heat_all[take], cover_all[take] = heat[take], cover[take]
    rgba = np.zeros((ph, pw, 4), np.uint8)
    rgba[..., :3] = colourise(heat_all)
    rgba[..., 3] = np.clip(cover_all * 0.5 * 255, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def fit_for_report(rgb: np.ndarray, heatmaps: list, report: ScanReport,  # type: ignore[type-arg]
                   ) -> tuple[np.ndarray, list, ScanReport]:  # type: ignore[type-arg]
    """The picture at the size the report shows (at most html.MAX_SIDE), with the face
    heatmaps' matrices and a copy of the report's boxes scaled alike: everything after this
    works on a small picture, whatever was uploaded."""
    from fakescope.analyzers.base import FaceHeatmap
    from fakescope.report.html import MAX_SIDE

    h, w = rgb.shape[:2]
    f = min(1.0, MAX_SIDE / max(h, w))
    if f >= 1.0:
        return rgb, heatmaps, report
    small = cv2.resize(rgb, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
    scaled = []
    for hm in heatmaps:
        m = np.asarray(hm.image_to_crop, dtype=np.float64).copy()
        m[:, :2] /= f
        scaled.append(FaceHeatmap(hm.face_index, hm.heat, hm.crop_size, m))
    shown = report.model_copy(deep=True)
    for face in shown.faces:
        face.box = tuple(float(v) * f for v in face.box)  # type: ignore[assignment]
    return small, scaled, shown


def report_html(report: ScanReport, rgb: np.ndarray | None, heatmaps: list, *,  # type: ignore[type-arg]
                face_crops: bool, title: str, image_heatmaps: list | None = None) -> str:  # type: ignore[type-arg]
    """The CLI's self-contained HTML report (``fakescope.report.html``) for one stored scan."""
    from fakescope.report.html import HtmlReportWriter, heat_in_image, overlay
    from fakescope.scan.image import Visual

    if rgb is not None:
        if face_crops:
            report._visual = Visual(rgb=rgb, heatmaps=heatmaps, image_heatmaps=image_heatmaps or [])
        else:
            # The heatmaps painted into the picture, so the writer shows them without the
            # aligned face crops it would otherwise add beside it.
            img = rgb
            for hm in heatmaps:
                heat, cover = heat_in_image(img.shape[:2], hm.heat, hm.crop_size, hm.image_to_crop)
                img = overlay(img, heat, cover)
            report._visual = Visual(rgb=img, heatmaps=[], image_heatmaps=image_heatmaps or [])
    with tempfile.TemporaryDirectory(prefix="fakescope-html-") as tmp:
        out = Path(tmp) / "report.html"
        writer = HtmlReportWriter(out, title=title)
        try:
            writer.add(report)
        finally:
            writer.close()
            report.drop_visual()
        return out.read_text(encoding="utf-8")
