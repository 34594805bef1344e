"""Demo media and test fixtures with a known answer, generated (never downloaded).

Faces come from scikit-image's bundled public-domain photo ``astronaut`` (NASA portrait
of Eileen Collins). Fakes are made by fakescope's own self-blending synthesiser on that
same face: no other identity is involved.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from fakescope.errors import DependencyMissingError
from fakescope.faces.align import invert
from fakescope.faces.detector import get_detector
from fakescope.synth.sbi import SBIConfig, self_blend


def _skimage_data():  # type: ignore[no-untyped-def]
    try:
        from skimage import data
    except ImportError as exc:
        raise DependencyMissingError(
            "demo media are made from scikit-image's bundled photos: pip install scikit-image"
        ) from exc
    return data


def astronaut() -> np.ndarray:
    return np.ascontiguousarray(_skimage_data().astronaut())


def no_face_photo() -> np.ndarray:
    return np.ascontiguousarray(_skimage_data().coffee())


def self_blended_photo(rgb: np.ndarray, seed: int = 2, size: int = 256,
                       margin: float = 1.1) -> np.ndarray:
    """The photo with its (first) face replaced by a self-blended version of itself.

    A clearly visible blend (a slightly enlarged copy at full opacity, colour and
    sharpness mismatch, a narrow seam) so the demo shows what the detector reacts to; the
    answer is known: manipulated.
    """
    face = get_detector().detect(rgb)[0]
    if face.mesh is None:
        raise RuntimeError("demo face needs FaceMesh landmarks")
    crop, m = face.aligned(rgb, size, margin)
    mesh_crop = face.mesh @ m[:, :2].T + m[:, 2]
    cfg = SBIConfig(scale=(1.06, 1.1), shift=0.04, blend_ratios=(1.0,), inner_mask_p=0.0,
                    boundary_blur=(3, 5))
    blended, mask = self_blend(crop, mesh_crop, np.random.default_rng(seed), cfg, alter="inside")
    h, w = rgb.shape[:2]
    inv = invert(m)
    back = cv2.warpAffine(blended, inv, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    alpha = cv2.warpAffine(mask, inv, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)[..., None]
    out = back.astype(np.float32) * alpha + rgb.astype(np.float32) * (1 - alpha)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def group_photo(rgb: np.ndarray) -> np.ndarray:
    """Several faces on one canvas: the portrait at three positions and scales."""
    h, w = rgb.shape[:2]
    canvas = np.full((h, w * 2, 3), 235, np.uint8)
    canvas[:, :w] = rgb
    half = cv2.resize(rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    canvas[h // 2 :, w : w + w // 2] = half[:, ::-1]
    canvas[: h // 2, w + w // 2 :] = half
    return canvas


def tight_crop(rgb: np.ndarray, side: int = 224) -> np.ndarray:
    """The face filling the whole picture, as face datasets publish them."""
    face = get_detector().detect(rgb)[0]
    x0, y0, x1, y1 = face.box
    cx, cy, s = (x0 + x1) / 2, (y0 + y1) / 2, 1.15 * max(x1 - x0, y1 - y0)
    box = (int(cx - s / 2), int(cy - s / 2), int(cx + s / 2), int(cy + s / 2))
    return np.asarray(Image.fromarray(rgb).crop(box).resize((side, side), Image.BICUBIC))


def save_jpeg(rgb: np.ndarray, path: Path, quality: int = 92, exif: bytes | None = None) -> None:
    kw = {"exif": exif} if exif else {}
    Image.fromarray(rgb).save(path, format="JPEG", quality=quality, **kw)


def rotated_with_exif(rgb: np.ndarray, path: Path) -> None:
    """Pixels stored rotated 90° with EXIF orientation 6, as phones write portraits."""
    stored = np.ascontiguousarray(np.rot90(rgb, k=1))  # what a viewer must rotate back
    exif = Image.Exif()
    exif[0x0112] = 6
    save_jpeg(stored, path, exif=exif.tobytes())


def make_demo(out_dir: Path) -> Iterator[tuple[Path, str]]:
    """Write the demo set; yields (path, what it is) for each file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rgb = astronaut()
    items: list[tuple[str, str]] = []

    def put(name: str, what: str) -> Path:
        items.append((name, what))
        return out_dir / name

    save_jpeg(rgb, put("astronaut.jpg", "real portrait (NASA, public domain)"))
    save_jpeg(self_blended_photo(rgb), put("astronaut_selfblended.jpg",
                                           "manipulated: face self-blended by fakescope.synth"))
    save_jpeg(group_photo(rgb), put("group.jpg", "three faces on one canvas"))
    Image.fromarray(tight_crop(rgb)).save(put("face_crop.png", "tight face crop, face fills it"))
    rotated_with_exif(rgb, put("phone_rotated.jpg", "real portrait stored rotated, EXIF 6"))
    Image.fromarray(no_face_photo()).save(put("coffee.png", "no face (scikit-image coffee)"))
    good = (out_dir / "astronaut.jpg").read_bytes()
    put("truncated.jpg", "broken: JPEG cut in half").write_bytes(good[: len(good) // 2])
    put("README.txt", "not media: skipped when scanning the folder").write_text(
        "fakescope demo media, generated by `fakescope demo`.\n"
    )
    for name, what in items:
        yield out_dir / name, what


# -- generated talking-head clips with a known answer (tests, benchmarks) ---------------


def close_eyes(rgb: np.ndarray, mesh: np.ndarray, amount: float) -> np.ndarray:
    """Paint eyelids down over both eyes (amount 0 = open, 1 = shut)."""
    from fakescope.faces.landmark_series import LEFT_EYE, RIGHT_EYE

    out = rgb.copy()
    if amount <= 0:
        return out
    for idx in (RIGHT_EYE, LEFT_EYE):
        pts = mesh[list(idx)]
        x0, y0 = (pts.min(0) - 3).astype(int)
        x1, y1 = (pts.max(0) + 3).astype(int)
        skin = rgb[max(0, y0 - 6) : max(1, y0 - 2), x0:x1].reshape(-1, 3).mean(0)
        cover = int((y1 - y0) * amount)
        out[y0 : y0 + cover, x0:x1] = skin
        if amount > 0.5:
            cv2.line(out, (int(x0) + 2, int(y0) + cover), (int(x1) - 2, int(y0) + cover), (60, 40, 40), 1)
    return out


def open_mouth(rgb: np.ndarray, mesh: np.ndarray, amount: float, max_px: float = 14.0) -> np.ndarray:
    """Drop the jaw by ``amount`` x ``max_px`` pixels, showing a dark mouth between the lips."""
    d = float(amount) * max_px
    if d < 0.5:
        return rgb.copy()
    h, w = rgb.shape[:2]
    left, right, top, bottom = mesh[61], mesh[291], mesh[13], mesh[14]
    cy, cx = (top[1] + bottom[1]) / 2, (left[0] + right[0]) / 2
    half = float(np.linalg.norm(right - left)) * 0.62
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    wx = np.clip(1 - np.abs(xs - cx) / half, 0, 1) ** 0.7
    wy = np.clip((ys - cy) / 3.0, 0, 1) * np.clip(1 - (ys - cy - 60) / 40, 0, 1)
    wgt = (wx * wy).astype(np.float32)
    out = cv2.remap(rgb, xs, ys - d * wgt, cv2.INTER_LINEAR)
    gap = (wgt > 0.2) & (ys > cy) & (ys < cy + d * wx)
    out[gap] = (0.35 * out[gap] + 0.65 * np.array([45, 20, 25])).astype(np.uint8)
    return out


def speech_envelope(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """Syllable-like loudness: 120-300 ms bursts with pauses, 0..1, at ``rate`` Hz."""
    rng = np.random.default_rng(seed)
    env = np.zeros(int(seconds * rate), np.float32)
    t = 0.3
    while t < seconds - 0.3:
        dur = rng.uniform(0.12, 0.3)
        a, b = int(t * rate), int((t + dur) * rate)
        env[a:b] = np.sin(np.linspace(0, np.pi, b - a)) * rng.uniform(0.6, 1.0)
        t += dur + rng.uniform(0.05, 0.35) + (0.5 if rng.random() < 0.1 else 0.0)
    return env


def talking_clip(path: Path, seconds: float = 10.0, fps: int = 25, blinks: tuple[float, ...] = (),
                 audio_shift_s: float | None = 0.0, seed: int = 0, rotation: int = 0,
                 size: tuple[int, int] = (640, 480), fake_span: tuple[float, float] | None = None,
                 keyframe_every_s: float | None = None, still: bool = False) -> Path:
    """An MP4 of the astronaut portrait with small head motion, eye closures at ``blinks``
    (seconds, 200 ms each), and a mouth driven by a speech-like envelope whose sound is on
    the audio track shifted by ``audio_shift_s`` (None: no audio track). Known truth for
    the temporal analyzers. With ``fake_span`` (start, end in seconds) the face is
    self-blended (``self_blended_photo``) in that stretch and real elsewhere: known truth
    for `fakescope watch`, which must call the person fake from ``start`` on.
    ``keyframe_every_s`` sets the keyframe interval (live streams, HLS segments). With
    ``still`` the face neither speaks nor blinks: the photograph is only moved across the
    frame (known truth for the ``still-picture`` analyzer)."""
    import av

    base = astronaut()
    face = get_detector().detect(base)[0]
    mesh = face.mesh
    fake = self_blended_photo(base, seed=3) if fake_span is not None else None
    w, h = size
    env_fps = speech_envelope(seconds, fps, seed)
    rng = np.random.default_rng(seed)
    zoom = max(1.0, h / 512)  # the portrait fills the frame height, one face however wide
    container = av.open(str(path), mode="w")
    vs = container.add_stream("libx264", rate=fps)
    vs.width, vs.height = (w, h) if rotation % 180 == 0 else (h, w)
    vs.pix_fmt = "yuv420p"
    if keyframe_every_s:
        vs.codec_context.gop_size = max(1, round(keyframe_every_s * fps))
    if rotation:
        vs.set_display_rotation(rotation)
    astream = None
    if audio_shift_s is not None:
        astream = container.add_stream("aac", rate=16000)
        astream.layout = "mono"
    for i in range(int(seconds * fps)):
        t = i / fps
        img = fake if fake is not None and fake_span is not None and \
            fake_span[0] <= t < fake_span[1] else base
        if any(b <= t < b + 0.2 for b in blinks) and not still:
            img = close_eyes(img, mesh, 1.0)
        if not still:
            img = open_mouth(img, mesh, float(env_fps[i]))
        ang, dx, dy = 2.0 * np.sin(t * 1.3), 12 * np.sin(t * 0.7), 6 * np.sin(t * 1.1)
        m = cv2.getRotationMatrix2D((256, 256), ang, zoom)
        m[:, 2] += [w / 2 - 256 + dx * zoom, h / 2 - 256 + dy * zoom]
        # Replicated edges, not mirrored ones: a mirror would add faces beside the one.
        frame = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
        if rotation:
            frame = np.ascontiguousarray(np.rot90(frame, k=-(rotation // 90)))
        for packet in vs.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
            container.mux(packet)
    for packet in vs.encode():
        container.mux(packet)
    if astream is not None:
        rate = 16000
        env = np.interp(np.arange(int(seconds * rate)) / rate, np.arange(len(env_fps)) / fps, env_fps)
        shift = round(audio_shift_s * rate)
        env = np.roll(env, shift) if shift else env
        if shift > 0:
            env[:shift] = 0
        elif shift < 0:
            env[shift:] = 0
        tt = np.arange(len(env)) / rate
        voice = sum(np.sin(2 * np.pi * f0 * k * tt) / k for k in range(1, 6) for f0 in (140.0,))
        noise = rng.normal(0, 0.002, len(env))
        samples = (0.3 * env * voice + noise).astype(np.float32)
        for start in range(0, len(samples), 1024):
            chunk = samples[start : start + 1024]
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
            frame.sample_rate = rate
            for packet in astream.encode(frame):
                container.mux(packet)
        for packet in astream.encode():
            container.mux(packet)
    container.close()
    return path
