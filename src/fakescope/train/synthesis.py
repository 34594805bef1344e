"""Train the whole-image synthesis detector on simulated generator traces.

Real class: whole real images (the real faces of the training folder, as published).
Fake class: the same images re-synthesised by auto-encoders whose decoders upsample in
different ways (``fakescope.train.autogan``). Both classes get the same degradations
(JPEG, rescaling, blur, noise), so neither quality nor compression can tell them apart:
only the decoder's trace can. Patches are taken at native resolution (never resized
after the degradation) because resizing is what erases those traces.

Leave-one-upsampler-out validation measures what matters for unseen generators: AUC on
reconstructions from a decoder kind the detector never saw.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from pydantic import BaseModel, Field
from torch import nn

from fakescope.datasets import read_labels
from fakescope.evaluation.calibration import fit_platt
from fakescope.evaluation.metrics import auc
from fakescope.synth.degrade import jpeg, rescale
from fakescope.train import autogan

log = logging.getLogger("fakescope.train")

PATCH = 96


class SynthConfig(BaseModel):
    data_dir: Path
    out_dir: Path = Path("runs/synthesis")
    ae_steps: int = 800
    kinds: list[str] = Field(default_factory=lambda: list(autogan.UPSAMPLERS))
    holdout_kind: str | None = Field(None, description="train without this decoder kind, report on it")
    steps: int = 1200
    batch_size: int = 32
    lr: float = 1e-3
    max_images: int = 3000
    val_fraction: float = 0.1
    seed: int = 0
    threads: int = 2
    version: str = "1.0.0"
    name: str = "synthesis"


class SynthNet(nn.Module):
    """Small residual-domain CNN. No stride in the first two layers: the traces live in
    the highest frequencies. The head is a 1x1 conv map averaged into the logit, so the
    exported model also returns where in the patch the evidence lies."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        w = width

        def block(cin: int, cout: int, stride: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                                 nn.ReLU(inplace=True))

        self.blur = nn.AvgPool2d(3, 1, 1, count_include_pad=False)
        self.features = nn.Sequential(
            block(3, w, 1), block(w, w, 1),
            block(w, 2 * w, 2), block(2 * w, 2 * w, 1),
            block(2 * w, 4 * w, 2), block(4 * w, 4 * w, 1),
            block(4 * w, 4 * w, 2), block(4 * w, 4 * w, 1),
        )
        self.head = nn.Conv2d(4 * w, 1, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # x: [N,3,H,W] in 0..1; the network sees the noise residual, scaled up.
        residual = (x - self.blur(x)) * 8.0
        cam = self.head(self.features(residual))
        return cam.mean(dim=(2, 3)), cam


def load_images(root: Path, max_images: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Real images of a labelled folder, cropped to a multiple of 8 (auto-encoders need it)."""
    items = [it for it in read_labels(root) if it.label == 0]
    rng = np.random.default_rng(seed)
    if len(items) > max_images:
        items = [items[i] for i in np.sort(rng.choice(len(items), max_images, replace=False))]
    imgs, groups = [], []
    for it in items:
        im = np.asarray(Image.open(it.path).convert("RGB"))
        h, w = (im.shape[0] // 8) * 8, (im.shape[1] // 8) * 8
        imgs.append(im[:h, :w])
        groups.append(it.group)
    side = min(min(i.shape[0] for i in imgs), min(i.shape[1] for i in imgs))
    return np.stack([i[:side, :side] for i in imgs]), np.array(groups)


def degrade_like_channels(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The same random channel for either class: rescale, blur, noise, JPEG."""
    out = img
    r = rng.random()
    if r < 0.25:
        out = rescale(out, rng.uniform(0.5, 0.9), back=False)
    elif r < 0.4:
        out = rescale(out, rng.uniform(1.1, 1.6), back=False)
    if rng.random() < 0.1:
        import cv2

        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, 1.0))
    if rng.random() < 0.1:
        out = np.clip(out + rng.normal(0, rng.uniform(1, 4), out.shape), 0, 255).astype(np.uint8)
    if rng.random() < 0.6:
        out = jpeg(out, int(rng.integers(60, 100)))
    return out


def random_patch(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    if h < PATCH or w < PATCH:
        img = np.pad(img, ((0, max(0, PATCH - h)), (0, max(0, PATCH - w)), (0, 0)), mode="reflect")
        h, w = img.shape[:2]
    y, x = rng.integers(0, h - PATCH + 1), rng.integers(0, w - PATCH + 1)
    return img[y : y + PATCH, x : x + PATCH]


def make_batch(reals: np.ndarray, fakes: dict[str, np.ndarray], kinds: list[str], n: int,
               rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for k in range(n):
        i = int(rng.integers(len(reals)))
        if k % 2 == 0:
            img, y = reals[i], 0.0
        else:
            img, y = fakes[kinds[int(rng.integers(len(kinds)))]][i], 1.0
        img = random_patch(degrade_like_channels(img, rng), rng)
        if rng.random() < 0.5:
            img = img[:, ::-1]
        xs.append(np.ascontiguousarray(img))
        ys.append(y)
    x = torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).float() / 255.0
    return x, torch.tensor(ys)[:, None]


@torch.no_grad()
def patch_logits(model: SynthNet, images: np.ndarray, rng: np.random.Generator,
                 degrade: bool = True) -> np.ndarray:
    """Mean logit over 4 patches per image (what the runtime does, in miniature)."""
    model.eval()
    out = []
    for img in images:
        im = degrade_like_channels(img, rng) if degrade else img
        x = np.stack([random_patch(im, rng) for _ in range(4)])
        t = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255.0
        out.append(float(model(t)[0].mean()))
    return np.array(out)


def train(cfg: SynthConfig) -> Path:
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    images, groups = load_images(cfg.data_dir, cfg.max_images, cfg.seed)
    uniq = np.unique(groups)
    val_groups = set(rng.choice(uniq, max(1, int(len(uniq) * cfg.val_fraction)), replace=False))
    is_val = np.array([g in val_groups for g in groups])
    log.info("%d real images (%d held out), side %d", len(images), is_val.sum(), images.shape[1])

    # Auto-encoders learn from training images only; every image is then re-synthesised.
    fakes: dict[str, np.ndarray] = {}
    for kind in cfg.kinds:
        path = cfg.out_dir / f"ae-{kind}.pt"
        if path.exists():
            ae = autogan.load(path)
        else:
            ae = autogan.train_autoencoder(kind, images[~is_val], cfg.ae_steps, seed=cfg.seed)
            autogan.save(ae, path)
        fakes[kind] = autogan.reconstruct(ae, images)
        log.info("re-synthesised %d images through the %s decoder", len(images), kind)

    train_kinds = [k for k in cfg.kinds if k != cfg.holdout_kind]
    tr, va = np.where(~is_val)[0], np.where(is_val)[0]
    model = SynthNet()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    warm = max(1, cfg.steps // 20)

    def lr_factor(step: int) -> float:
        return min(1.0, (step + 1) / warm) * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    loss_fn = nn.BCEWithLogitsLoss()
    t0 = time.time()
    tr_fakes = {k: v[tr] for k, v in fakes.items()}
    for step in range(cfg.steps):
        model.train()
        x, y = make_batch(images[tr], tr_fakes, train_kinds, cfg.batch_size, rng)
        logit, _ = model(x)
        loss = loss_fn(logit, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 200 == 0:
            log.info("synthesis step %d/%d loss %.4f (%.0fs)", step, cfg.steps, loss.item(),
                     time.time() - t0)

    vrng = np.random.default_rng(cfg.seed + 1)
    real_logits = patch_logits(model, images[va], vrng)
    per_kind = {}
    all_fake = []
    for kind in cfg.kinds:
        fl = patch_logits(model, fakes[kind][va], vrng)
        per_kind[kind] = auc(np.r_[np.zeros(len(real_logits)), np.ones(len(fl))],
                             np.r_[real_logits, fl])
        if kind in train_kinds:
            all_fake.append(fl)
    fake_logits = np.concatenate(all_fake)
    y = np.r_[np.zeros(len(real_logits)), np.ones(len(fake_logits))]
    s = np.r_[real_logits, fake_logits]
    a, b = fit_platt(s, y)
    summary = {"val_auc_by_decoder": per_kind, "holdout_kind": cfg.holdout_kind,
               "val_auc_trained_kinds": auc(y, s), "platt": [a, b],
               "minutes": (time.time() - t0) / 60, "config": json.loads(cfg.model_dump_json())}
    (cfg.out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    log.info("synthesis validation: %s", json.dumps(per_kind))
    return export(model, cfg, (a, b), summary)


def export(model: SynthNet, cfg: SynthConfig, calibration: tuple[float, float],
           summary: dict) -> Path:  # type: ignore[type-arg]
    from fakescope.models.card import Calibration, InputSpec, Metric, ModelCard, StartingWeights
    from fakescope.train.export import _sha256, export_onnx

    onnx_path = cfg.out_dir / f"{cfg.name}.onnx"
    export_onnx(model, PATCH, onnx_path, ["logit", "cam"])
    command = f"fakescope train synthesis --data {cfg.data_dir} --steps {cfg.steps}" + (
        f" --holdout-kind {cfg.holdout_kind}" if cfg.holdout_kind else "")
    today = dt.date.today()
    card = ModelCard(
        name=cfg.name, version=cfg.version,
        task="whole-image synthesis traces (generator upsampling) vs camera images, per patch",
        file=onnx_path.name, sha256=_sha256(onnx_path),
        architecture="8-layer CNN on the 3x3 noise residual, 1x1-conv map head averaged to a logit",
        input=InputSpec(kind="whole_image", size=PATCH, margin=1.0, mean=(0.0, 0.0, 0.0),
                        std=(1.0, 1.0, 1.0)),
        outputs={"logit": "[N,1] raw logit per 96x96 patch (pixels 0..1, no normalisation)",
                 "cam": "[N,1,12,12] evidence map per patch"},
        calibration=Calibration(a=calibration[0], b=calibration[1],
                                fitted_on=f"{cfg.data_dir.name}: {cfg.val_fraction:.0%} of groups "
                                "held out, real vs re-synthesised"),
        threshold=0.5,
        training_data=[
            f"{cfg.data_dir.name}: real images only (at most {cfg.max_images})",
            "the same images re-synthesised by auto-encoders with "
            f"{', '.join(k for k in cfg.kinds if k != cfg.holdout_kind)} upsampling decoders "
            "(fakescope.train.autogan), trained here",
        ],
        training_command=command,
        starting_weights=StartingWeights(name="none (random initialisation)", source="-",
                                         license="-"),
        license="Apache-2.0 code; trained on DFDC real faces: research, non-commercial",
        metrics=[Metric(dataset=f"{cfg.data_dir.name} held-out groups, {k} decoder", name="auc",
                        value=round(float(v), 4), command=command,
                        measured=today)
                 for k, v in summary["val_auc_by_decoder"].items()],
        limitations=[
            "Learned from simulated decoders, not from real GANs or diffusion models.",
            "Strong JPEG compression or downscaling erases the traces it looks for.",
        ],
        created=today,
    )
    card.save(cfg.out_dir / f"{cfg.name}.card.json")
    return onnx_path
