"""Pseudo lip-sync dubs of real clips, for issue 15: each real clip with a face, its lower
face repainted from the same clip at another time, next to the same clip re-encoded
through the same path without the repaint.

    python scripts/pseudo_dubs.py --data ../shared/data/video/dev \
        --data ../shared/data/video/gen2 --out runs/dubs [--seconds 8]
    python scripts/video_features.py extract --set dubs=runs/dubs --out runs/dubs/features.jsonl
    fakescope eval runs/dubs --out runs/dubs/eval

Like self-blended images, a pseudo-dub is made of one person's own footage only: frame t
gets the mouth and jaw of frame t + half the clip (wrapping), aligned to frame t by a
similarity fitted on stable landmarks (cheeks, jaw angles, nose; not the lips or the
chin), optionally squeezed through a ~96 px face (as Wav2Lip-style generators draw the
face) and pasted with a feathered mask over the region below the nose. The mouth then
no longer follows the clip's own speech, and the audio is the original. The real
counterpart is decoded, resampled and encoded identically (H.264, AAC 16 kHz mono), so
within a pair only the repaint differs.
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fakescope.faces.align import similarity_transform

# FaceMesh indices. The lower face: the face oval from one cheek round the chin to the
# other, closed by a line under the nose (nose wings and subnasale).
LOWER_OVAL = (93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397,
              288, 361, 323)
UNDER_NOSE = (327, 2, 98)
LOWER_FACE = LOWER_OVAL + UNDER_NOSE
# Points that move with the head but not with speech: cheek edges, jaw angles, nose.
STABLE = (234, 93, 132, 454, 323, 361, 1, 4, 5, 195, 197, 6, 168, 98, 327, 2)
EYES_AND_BROWS = (33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
                  70, 63, 105, 66, 107, 336, 296, 334, 293, 300)
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
             377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)

FPS = 25
AUDIO_RATE = 16000


@dataclass(frozen=True)
class Variant:
    method: str
    bottleneck: int  # side in px the face is squeezed to and back (0: none)
    feather: float  # mask softness, fraction of the face width


VARIANTS = {
    "pseudo-dub-96": Variant("pseudo-dub-96", bottleneck=96, feather=0.06),
    "pseudo-dub-sharp": Variant("pseudo-dub-sharp", bottleneck=0, feather=0.06),
}


def face_width(mesh: np.ndarray) -> float:
    return float(np.linalg.norm(mesh[454] - mesh[234]))


def lower_face_mask(shape: tuple[int, int], mesh: np.ndarray, feather: float) -> np.ndarray:
    """Blend weight 0..1 over the lower face of ``mesh`` (float32, image size): 1 inside the
    region below the nose, falling to 0 over ``feather`` x the face width centred on its
    edge; exactly 0 beyond that."""
    h, w = shape
    poly = mesh[list(LOWER_FACE)].astype(np.float64)
    m = np.zeros((h, w), np.uint8)
    cv2.fillPoly(m, [np.round(poly * 16).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=4)
    width = feather * face_width(mesh)  # the soft edge: half inside the region, half out
    if width >= 2:
        r = int(np.ceil(width / 2))
        m = cv2.GaussianBlur(m, (2 * r + 1, 2 * r + 1), r / 2)  # reaches r px beyond the edge, no more
    return m.astype(np.float32) / 255.0


def squeeze(img: np.ndarray, mesh: np.ndarray, side: int) -> np.ndarray:
    """``img`` with the square around the face of ``mesh`` resized to ``side`` px and back
    (the resolution a ~96 px face generator draws at)."""
    h, w = img.shape[:2]
    lo, hi = mesh[list(FACE_OVAL)].min(0), mesh[list(FACE_OVAL)].max(0)
    c, half = (lo + hi) / 2, 0.6 * float(max(hi - lo))
    x0, y0 = int(max(0, np.floor(c[0] - half))), int(max(0, np.floor(c[1] - half)))
    x1, y1 = int(min(w, np.ceil(c[0] + half))), int(min(h, np.ceil(c[1] + half)))
    if x1 - x0 <= side or y1 - y0 <= side:
        return img  # the face is no bigger than the generator's
    out = img.copy()
    crop = img[y0:y1, x0:x1]
    small = cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)
    out[y0:y1, x0:x1] = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    return out


def repaint(target: np.ndarray, target_mesh: np.ndarray, donor: np.ndarray, donor_mesh: np.ndarray,
            variant: Variant) -> np.ndarray:
    """``target`` with the lower face of ``donor`` aligned onto it, degraded as ``variant``
    says and blended in over the lower face."""
    h, w = target.shape[:2]
    m = similarity_transform(donor_mesh[list(STABLE)], target_mesh[list(STABLE)])
    warped = cv2.warpAffine(donor, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    if variant.bottleneck:
        warped = squeeze(warped, target_mesh, variant.bottleneck)
    alpha = lower_face_mask((h, w), target_mesh, variant.feather)[..., None]
    out = target.astype(np.float32) * (1 - alpha) + warped.astype(np.float32) * alpha
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def donor_index(t: int, n: int, found: np.ndarray) -> int | None:
    """Frame t + n/2 (wrapping), or the nearest frame to it with a face."""
    if not found.any():
        return None
    want = (t + n // 2) % n
    ok = np.flatnonzero(found)
    return int(ok[np.argmin(np.abs(ok - want))])


def read_clip(path: Path, seconds: float) -> tuple[list[np.ndarray], np.ndarray | None]:
    """Frames at 25 fps (nearest earlier source frame per tick) and mono 16 kHz audio of
    the first ``seconds`` seconds."""
    import av

    frames: list[np.ndarray] = []
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        start = None
        n = round(seconds * FPS)
        last = None
        for fr in c.decode(v):
            if fr.pts is None:
                continue
            t = float(fr.pts * v.time_base)
            start = t if start is None else start
            rgb = fr.to_ndarray(format="rgb24")
            while len(frames) < n and len(frames) / FPS <= t - start + 1e-6:
                if last is not None and len(frames) / FPS < t - start - 1e-6:
                    frames.append(last)
                else:
                    frames.append(rgb)
            last = rgb
            if len(frames) >= n:
                break
    h, w = frames[0].shape[:2]
    frames = [f[: h - h % 2, : w - w % 2] for f in frames]
    audio = None
    with av.open(str(path)) as c:
        if c.streams.audio:
            res = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
            chunks = []
            for fr in c.decode(c.streams.audio[0]):
                for o in res.resample(fr):
                    chunks.append(o.to_ndarray().reshape(-1))
            for o in res.resample(None):
                chunks.append(o.to_ndarray().reshape(-1))
            if chunks:
                audio = np.concatenate(chunks)[: int(len(frames) / FPS * AUDIO_RATE)].astype(np.float32)
    return frames, audio


def write_clip(path: Path, frames: list[np.ndarray], audio: np.ndarray | None) -> None:
    """H.264 (libx264 defaults, yuv420p) at 25 fps, AAC 16 kHz mono: as the shared data."""
    import av

    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as c:
        vs = c.add_stream("libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"crf": "20", "preset": "medium"}
        ast = None
        if audio is not None:
            ast = c.add_stream("aac", rate=AUDIO_RATE)
            ast.layout = "mono"
        for f in frames:
            for p in vs.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                c.mux(p)
        for p in vs.encode():
            c.mux(p)
        if ast is not None and audio is not None:
            for s in range(0, len(audio), 1024):
                af = av.AudioFrame.from_ndarray(audio[None, s : s + 1024], format="flt", layout="mono")
                af.sample_rate = AUDIO_RATE
                for p in ast.encode(af):
                    c.mux(p)
            for p in ast.encode():
                c.mux(p)


def track_meshes(frames: list[np.ndarray]) -> np.ndarray:
    """FaceMesh of the most prominent face per frame (T, 478, 2), NaN where none: the
    project's detector on the first frame and whenever the face is lost, followed in
    between."""
    from fakescope.faces.detector import get_detector

    det = get_detector()
    out = np.full((len(frames), 478, 2), np.nan, np.float32)
    prev = None
    for i, rgb in enumerate(frames):
        face = None
        if prev is not None:
            face = det.follow(rgb, [prev])[0]
        if face is None or face.mesh is None:
            faces = [f for f in det.detect(rgb) if f.mesh is not None]
            face = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]), default=None)
        prev = face
        if face is not None and face.mesh is not None:
            out[i] = face.mesh
    return out


def smooth(meshes: np.ndarray, k: int = 1) -> np.ndarray:
    """Landmarks averaged over +-k frames (where found), against per-frame jitter."""
    out = meshes.copy()
    found = ~np.isnan(meshes[:, 0, 0])
    for i in np.flatnonzero(found):
        lo, hi = max(0, i - k), min(len(meshes), i + k + 1)
        out[i] = np.nanmean(meshes[lo:hi][found[lo:hi]], axis=0)
    return out


def dub(frames: list[np.ndarray], meshes: np.ndarray, variant: Variant) -> list[np.ndarray]:
    found = ~np.isnan(meshes[:, 0, 0])
    out = []
    for t, f in enumerate(frames):
        d = donor_index(t, len(frames), found)
        if not found[t] or d is None:
            out.append(f)
            continue
        out.append(repaint(f, meshes[t], frames[d], meshes[d], variant))
    return out


def main() -> None:
    from fakescope.progress import progress_iter

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, action="append", required=True, help="a folder with labels.csv")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--variant", action="append", choices=sorted(VARIANTS),
                    help="repaints to write (default: all)")
    ap.add_argument("--min-audio", type=int, default=16,
                    help="take silent real clips too when fewer real clips than this have sound")
    ap.add_argument("--min-face", type=float, default=0.8, help="share of frames with a face to keep a clip")
    ap.add_argument("--limit", type=int, default=0, help="at most this many sources (0: all)")
    args = ap.parse_args()
    variants = [VARIANTS[v] for v in (args.variant or sorted(VARIANTS))]

    rows = []
    for root in args.data:
        with open(root / "labels.csv", newline="", encoding="utf-8") as fh:
            rows += [(root, r) for r in csv.DictReader(fh) if r["label"] == "real"]
    voiced = [x for x in rows if x[1].get("has_audio") == "yes"]
    picked = voiced if len(voiced) >= args.min_audio else voiced + [x for x in rows if x not in voiced]
    if args.limit:
        picked = picked[: args.limit]
    args.out.mkdir(parents=True, exist_ok=True)
    out_rows = []
    for root, r in progress_iter(picked, "sources"):
        frames, audio = read_clip(root / r["file"], args.seconds)
        meshes = track_meshes(frames)
        found = ~np.isnan(meshes[:, 0, 0])
        if len(frames) < 2 * FPS or found.mean() < args.min_face:
            print(f"skip {root.name}/{r['file']}: {len(frames)} frames, face in {found.mean():.0%}")
            continue
        meshes = smooth(meshes)
        stem = f"{root.name}_{Path(r['file']).stem}"
        group = f"{root.name}:{r['group']}"
        has_audio = "yes" if audio is not None and len(audio) else "no"
        common = {"group": group, "has_audio": has_audio, "license": r["license"],
                  "source": f"{root.name}/{r['file']}"}
        (args.out / "real").mkdir(exist_ok=True)
        write_clip(args.out / f"real/{stem}.mp4", frames, audio)
        out_rows.append({"file": f"real/{stem}.mp4", "label": "real", "method": "real", **common})
        for v in variants:
            (args.out / v.method).mkdir(exist_ok=True)
            write_clip(args.out / f"{v.method}/{stem}.mp4", dub(frames, meshes, v), audio)
            out_rows.append({"file": f"{v.method}/{stem}.mp4", "label": "fake", "method": v.method, **common})
        with open(args.out / "labels.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=["file", "label", "method", "group", "has_audio",
                                               "license", "source"])
            w.writeheader()
            w.writerows(out_rows)
    n_src = sum(r["label"] == "real" for r in out_rows)
    print(f"wrote {len(out_rows)} clips ({n_src} sources x {1 + len(variants)}) and labels.csv to {args.out}")


if __name__ == "__main__":
    main()
