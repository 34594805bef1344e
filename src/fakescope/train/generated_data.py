"""Aligned training pairs for the generated-image detector.

Every fake is a *real* image passed through a generator's decoder: the TAEF2 auto-encoder
(a tiny stand-in for the FLUX.2 latent-diffusion VAE), the same decoder fed a slightly
perturbed latent (as a diffusion sampler's latent is never exactly an encoding), and four
small auto-encoders whose decoders upsample in different ways (``train.autogan``). Real
and fake of a pair share their content, size and history, so the only thing that tells
them apart is the decoder's trace ("aligned datasets", Rajan et al. 2025): content, age
and subject, which separate the public real photos from the public generated pictures,
cannot be learnt from these pairs.

Each real image gives two *variants*: as published (with its camera and JPEG history) and
downscaled by a random factor in [0.5, 0.8] (which erases that history, as resizing does
for many images people share). The cache is a folder of PNG files, built once and resumed
after an interruption: ``<cache>/<source>/<id>/<variant>-<kind>.png``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from fakescope.evaluation.imagesets import photo_half, read_rgb, stable_fraction

log = logging.getLogger("fakescope.train")

VARIANTS = ("native", "down")
TAE_KINDS = ("taef2", "taef2-noisy")
# Native images are cut to at most this side before the (slow) TAEF2 pass: training
# crops are 128 px, and a 320 px window keeps ~5 s of CPU per photo instead of ~15 s.
MAX_SIDE = 320
# Relative latent noise for the "noisy" decode: enough to make the decoder invent fine
# texture (as it does from a sampler's latent), not enough to change the content.
LATENT_NOISE = 0.15


@dataclass(frozen=True)
class RealImage:
    source: str  # "photos", "dfdc", "screens", "frames"
    key: str  # stable id within the source
    path: Path | None  # None for images made on the fly (screens)
    time_s: float | None = None  # frames: the time of the frame in the clip at ``path``

    def load(self) -> np.ndarray:
        if self.path is None:
            from fakescope.train.screens import screenshot

            return screenshot(self.key)
        if self.time_s is None:
            return read_rgb(self.path)
        return video_frame(self.path, self.time_s)


def video_frame(path: Path, time_s: float) -> np.ndarray:
    """The frame the runtime's own video reader shows at ``time_s``."""
    from fakescope.config import MediaLimits
    from fakescope.media import decode, read_file

    limits = MediaLimits()
    media = decode(read_file(path, limits), limits)
    return next(iter(media.frames_at([time_s]))).rgb  # type: ignore[union-attr]


def variant_image(img: np.ndarray, key: str, variant: str) -> np.ndarray:
    """The real image of a variant, cropped to multiples of 8 (what the decoders need)."""
    rng = np.random.default_rng(int(stable_fraction(key + variant) * 2**31))
    if variant == "down":
        f = rng.uniform(0.5, 0.8)
        h, w = img.shape[:2]
        img = cv2.resize(img, (max(8, round(w * f)), max(8, round(h * f))), interpolation=cv2.INTER_AREA)
    h, w = img.shape[:2]
    ch, cw = min(h, MAX_SIDE) // 8 * 8, min(w, MAX_SIDE) // 8 * 8
    y = int(rng.integers(0, h - ch + 1))
    x = int(rng.integers(0, w - cw + 1))
    return np.ascontiguousarray(img[y : y + ch, x : x + cw])


def _save(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    Image.fromarray(img).save(tmp, compress_level=1)
    tmp.replace(path)  # a killed build never leaves a torn file behind


_WORKER: dict[str, object] = {}


def _init_worker(taef2_dir: str | None, ae_dir: str | None) -> None:
    import torch

    from fakescope.train import autogan
    from fakescope.train.taef2 import TAEF2

    torch.set_num_threads(1)
    _WORKER["tae"] = TAEF2.load(Path(taef2_dir)) if taef2_dir else None
    files = sorted(Path(ae_dir).glob("ae-*.pt")) if ae_dir else []
    _WORKER["aes"] = {p.stem.removeprefix("ae-"): autogan.load(p) for p in files}


def _build_one(args: tuple[RealImage, str]) -> str:
    import torch

    from fakescope.train import autogan

    real, out_dir = args
    folder = Path(out_dir) / real.source / real.key
    tae = _WORKER["tae"]
    aes: dict[str, autogan.AutoEncoder] = _WORKER["aes"]  # type: ignore[assignment]
    kinds = [*(TAE_KINDS if tae is not None else ()), *aes]
    todo = [v for v in VARIANTS if not all((folder / f"{v}-{k}.png").is_file() for k in ["real", *kinds])]
    img = real.load() if todo else None
    for variant in todo:
        base = variant_image(img, real.key, variant)  # type: ignore[arg-type]
        _save(folder / f"{variant}-real.png", base)
        if tae is not None:
            x = torch.from_numpy(base.copy()).permute(2, 0, 1)[None].float() / 255.0
            with torch.no_grad():
                z = tae.encoder(x)  # type: ignore[attr-defined]
                g = torch.Generator().manual_seed(int(stable_fraction(real.key) * 2**31))
                noisy = z + LATENT_NOISE * z.std() * torch.randn(z.shape, generator=g)
                for kind, lat in (("taef2", z), ("taef2-noisy", noisy)):
                    y = tae.decoder(lat).clamp(0, 1)[0].permute(1, 2, 0).numpy()  # type: ignore[attr-defined]
                    _save(folder / f"{variant}-{kind}.png", np.clip(y * 255 + 0.5, 0, 255).astype(np.uint8))
        for kind, ae in aes.items():
            _save(folder / f"{variant}-{kind}.png", autogan.reconstruct(ae, base[None])[0])
    return f"{real.source}/{real.key}"


def build_cache(reals: list[RealImage], out_dir: Path, taef2_dir: Path | None, ae_dir: Path | None,
                workers: int = 2) -> None:
    """Decode every real image through every decoder (resumable). ``workers`` processes,
    or 0 to work in this one; without ``taef2_dir`` only the small auto-encoders decode."""
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    jobs = [(r, str(out_dir)) for r in reals]
    init = (str(taef2_dir) if taef2_dir else None, str(ae_dir) if ae_dir else None)
    if workers == 0:
        _init_worker(*init)
        done_iter: Iterable[str] = map(_build_one, jobs)
        pool = None
    else:
        pool = ProcessPoolExecutor(workers, initializer=_init_worker, initargs=init)
        done_iter = pool.map(_build_one, jobs, chunksize=4)
    try:
        for done, _ in enumerate(done_iter, start=1):
            if done % 25 == 0 or done == len(jobs):
                rate = done / max(time.time() - t0, 1e-6)
                log.info("aligned pairs: %d/%d images (%.0f s left)", done, len(jobs),
                         (len(jobs) - done) / max(rate, 1e-6))
    finally:
        if pool is not None:
            pool.shutdown()


def photo_reals(root: Path) -> list[tuple[RealImage, str]]:
    """The real photos with their split ("train" or "dev"), grouped by source photo so that
    the two crops of one photograph never fall on both sides."""
    import csv

    out = []
    with open(root / "labels.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            split = photo_half(row["source"])
            key = Path(row["file"]).with_suffix("").as_posix().replace("/", "_")
            out.append((RealImage("photos", key, root / row["file"]), split))
    return out


def dfdc_reals(root: Path, n: int, seed: int = 0) -> list[RealImage]:
    """``n`` real DFDC crops, one per source video."""
    from fakescope.datasets import read_labels

    by_group: dict[str, Path] = {}
    for it in read_labels(root):
        if it.label == 0:
            by_group.setdefault(it.group, it.path)
    groups = sorted(by_group)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(groups), min(n, len(groups)), replace=False)
    return [RealImage("dfdc", Path(by_group[groups[i]]).stem, by_group[groups[i]]) for i in sorted(pick)]


def frame_reals(root: Path, per_clip: int) -> list[RealImage]:
    """``per_clip`` frames, evenly spaced, of every real clip of a video folder."""
    from fakescope.config import MediaLimits
    from fakescope.datasets import read_labels
    from fakescope.media import decode, read_file

    limits = MediaLimits()
    out = []
    for it in read_labels(root):
        if it.label != 0:
            continue
        media = decode(read_file(it.path, limits), limits)
        for t in media.sample_times(per_clip):  # type: ignore[union-attr]
            key = f"{Path(it.file).with_suffix('').as_posix().replace('/', '_')}@{t:.2f}"
            out.append(RealImage("frames", key, it.path, round(t, 3)))
    return out


def screen_reals(n: int, prefix: str = "train") -> list[RealImage]:
    return [RealImage("screens", f"{prefix}{i:04d}", None) for i in range(n)]


@dataclass
class AlignedSet:
    """One real image (``images["real"]``) and its decoded twins, keyed by decoder kind."""

    variant: str
    images: dict[str, np.ndarray]


def load_pairs(cache: Path, reals: Iterable[RealImage], kinds: list[str]) -> list[AlignedSet]:
    """Per real image and variant, the real image and its decoded twins that are cached."""
    out = []
    for r in reals:
        folder = cache / r.source / r.key
        for variant in VARIANTS:
            images = {}
            for kind in ["real", *kinds]:
                p = folder / f"{variant}-{kind}.png"
                if p.is_file():
                    images[kind] = read_rgb(p)
            if "real" in images and len(images) > 1:
                out.append(AlignedSet(variant, images))
    return out
