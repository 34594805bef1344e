"""Train the face-forgery model on CPU: real faces, DFDC face swaps and self-blended
pseudo-fakes, then export ONNX with its card.

Usage: ``fakescope train face-forgery --data ../shared/data/faces/dfdc-train``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import time
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, Field
from torch import nn
from torch.utils.data import DataLoader, Dataset

from fakescope.evaluation.calibration import fit_platt, sigmoid
from fakescope.evaluation.metrics import auc, rates_at
from fakescope.synth.degrade import random_degrade, random_geometry
from fakescope.synth.sbi import restyle, self_blend
from fakescope.train.nets import ForgeryNet
from fakescope.train.prepare import PreparedFaces, prepare

log = logging.getLogger("fakescope.train")

KIND_REAL, KIND_FAKE, KIND_SBI = 0, 1, 2


class TrainConfig(BaseModel):
    data_dir: Path
    dev_dir: Path | None = None
    out_dir: Path = Path("runs/face-forgery")
    cache_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "fakescope")
    crop_size: int = 224
    input_size: int | None = Field(None, description="resize crops to this side (default crop_size)")
    margin: float = 1.1
    epochs: int = 6
    batch_size: int = 32
    lr: float = 4e-4
    weight_decay: float = 1e-4
    dropout: float = 0.2
    use_dataset_fakes: bool = True
    use_sbi: bool = True
    sbi_share: float = Field(0.5, ge=0, le=1, description="share of each epoch's fakes that are SBI")
    epoch_size: int | None = Field(None, description="samples per epoch (default 2 x real faces)")
    val_fraction: float = 0.08
    augment: bool = True
    appearance_p: float = Field(0.0, ge=0, le=1,
                                description="share of all faces restyled globally (label kept)")
    pair_batches: bool = Field(True, description="put each real next to a fake of the same source")
    tta: Literal["none", "hflip"] = "hflip"
    seed: int = 0
    threads: int = 2
    workers: int = 1
    max_minutes: float | None = None
    limit: int | None = Field(None, description="use only this many training rows (smoke tests)")
    version: str = "1.0.0"
    name: str = "face-forgery"


MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def to_input(crops: np.ndarray) -> np.ndarray:
    """uint8 NHWC RGB -> normalised float32 NCHW, as the runtime does."""
    x = (crops.astype(np.float32) / 255.0 - MEAN) / STD
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


class EpochSet(Dataset):
    def __init__(self, data: PreparedFaces, plan: np.ndarray, cfg: TrainConfig, epoch: int,
                 augment: bool) -> None:
        self.data, self.plan, self.cfg, self.epoch, self.augment = data, plan, cfg, epoch, augment

    def __len__(self) -> int:
        return len(self.plan)

    def __getitem__(self, j: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx, kind = int(self.plan[j, 0]), int(self.plan[j, 1])
        rng = np.random.default_rng((self.cfg.seed, self.epoch, j))
        img = self.data.crops[idx]
        if self.augment and rng.random() < self.cfg.appearance_p:
            # The whole face restyled the way self-blending restyles half of it: a colour or
            # sharpness change alone must not read as manipulation, only a mismatch inside
            # the face can.
            img = restyle(img, rng)
        if kind == KIND_SBI:
            img, _ = self_blend(img, self.data.mesh[idx], rng)
        if self.augment:
            if rng.random() < 0.5:
                img = img[:, ::-1]
            if rng.random() < 0.5:
                img = random_geometry(np.ascontiguousarray(img), rng)
            img = random_degrade(np.ascontiguousarray(img), rng)
        x = torch.from_numpy(to_input(np.ascontiguousarray(img)[None])[0])
        return x, torch.tensor([1.0 if kind != KIND_REAL else 0.0])


def resize_crops(data: PreparedFaces, size: int) -> PreparedFaces:
    """Same framing at another resolution: the crops and their mesh coordinates scale."""
    import cv2

    f = size / data.crops.shape[1]
    crops = np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA)
                      for c in data.crops])
    return PreparedFaces(crops, data.mesh * f, data.labels, data.groups, data.files, data.found)


def split_groups(groups: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of validation rows: whole groups, never a group on both sides."""
    uniq = np.unique(groups)
    rng = np.random.default_rng(seed)
    val_groups = set(rng.choice(uniq, size=max(1, int(len(uniq) * fraction)), replace=False))
    return np.array([g in val_groups for g in groups])


def epoch_plan(data: PreparedFaces, cfg: TrainConfig, rng: np.random.Generator) -> np.ndarray:
    real = np.where((data.labels == 0) & data.found)[0]
    fake = np.where((data.labels == 1) & data.found)[0]
    with_mesh = real[~np.isnan(data.mesh[real, 0, 0])]
    n_real = len(real) if cfg.epoch_size is None else cfg.epoch_size // 2
    n_fake = n_real
    n_sbi = round(n_fake * cfg.sbi_share) if cfg.use_sbi else 0
    if not cfg.use_dataset_fakes:
        n_sbi = n_fake
    n_ds = n_fake - n_sbi
    rows = [np.stack([rng.choice(real, n_real, replace=n_real > len(real)),
                      np.full(n_real, KIND_REAL)], 1)]
    if n_ds:
        rows.append(np.stack([rng.choice(fake, n_ds, replace=n_ds > len(fake)),
                              np.full(n_ds, KIND_FAKE)], 1))
    if n_sbi:
        rows.append(np.stack([rng.choice(with_mesh, n_sbi, replace=n_sbi > len(with_mesh)),
                              np.full(n_sbi, KIND_SBI)], 1))
    plan = np.concatenate(rows)
    if cfg.pair_batches:
        return _paired(plan, data, rng)
    return plan[rng.permutation(len(plan))]


def _paired(plan: np.ndarray, data: PreparedFaces, rng: np.random.Generator) -> np.ndarray:
    """Order the plan so each real face sits next to a fake of the same source (its own
    self-blend or a swap made from the same video): a batch then contrasts manipulation
    against the very face it came from, not one identity against another."""
    reals = plan[plan[:, 1] == KIND_REAL]
    fakes = plan[plan[:, 1] != KIND_REAL]
    by_group: dict[str, list[int]] = {}
    for j, (idx, kind) in enumerate(fakes):
        key = data.groups[idx] if kind == KIND_FAKE else f"sbi:{idx}"
        by_group.setdefault(str(key), []).append(j)
    used = np.zeros(len(fakes), bool)
    pairs: list[tuple[int, int]] = []
    for r, (idx, _) in enumerate(reals):
        for key in (f"sbi:{idx}", str(data.groups[idx])):
            cands = [j for j in by_group.get(key, []) if not used[j]]
            if cands:
                j = cands[int(rng.integers(len(cands)))]
                used[j] = True
                pairs.append((r, j))
                break
        else:
            pairs.append((r, -1))
    leftover = list(np.where(~used)[0])
    rng.shuffle(leftover)
    units: list[np.ndarray] = []
    for r, j in pairs:
        if j < 0 and leftover:
            j = leftover.pop()
        units.append(np.stack([reals[r], fakes[j]]) if j >= 0 else reals[r][None])
    units += [fakes[j][None] for j in leftover]
    order = rng.permutation(len(units))
    return np.concatenate([units[k] for k in order])


@torch.no_grad()
def predict_logits(model: nn.Module, crops: np.ndarray, batch: int = 64,
                   tta: str = "none") -> np.ndarray:
    """Logits as the runtime computes them (``tta`` as in the model card)."""
    model.eval()
    out = []
    for i in range(0, len(crops), batch):
        views = [crops[i : i + batch]]
        if tta == "hflip":
            views.append(np.ascontiguousarray(views[0][:, :, ::-1]))
        logits = [
            model(torch.from_numpy(to_input(v)).contiguous(memory_format=torch.channels_last))[0]
            .squeeze(1).numpy()
            for v in views
        ]
        out.append(np.mean(logits, axis=0))
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def recalibrate(card_dir: Path, data_dir: Path, cache_dir: Path, val_fraction: float = 0.08,
                seed: int = 0) -> tuple[float, float]:
    """Refit a shipped model's Platt scaling on its training split's held-out groups, through
    the runtime analyzer (so the card's test-time augmentation is included)."""
    import os

    from fakescope.analyzers.face_forgery import FaceForgeryAnalyzer
    from fakescope.models import MODELS_ENV, card_path, load_card

    old = os.environ.get(MODELS_ENV)
    os.environ[MODELS_ENV] = str(card_dir)
    try:
        analyzer = FaceForgeryAnalyzer()
    finally:
        if old is None:
            os.environ.pop(MODELS_ENV, None)
        else:
            os.environ[MODELS_ENV] = old
    spec = analyzer.card.input
    data = prepare(data_dir, 224, spec.margin, cache_dir)
    if spec.size != 224:
        data = resize_crops(data, spec.size)
    val = data.subset(np.where(split_groups(data.groups, val_fraction, seed) & data.found)[0])
    logits = np.concatenate([analyzer.run(val.crops[i : i + 64])[0]
                             for i in range(0, len(val.crops), 64)])
    a, b = fit_platt(logits, val.labels)
    card = load_card(analyzer.card.name, card_dir)
    card.calibration.a, card.calibration.b = a, b
    card.save(card_path(card.name, card_dir))
    return a, b


def train(cfg: TrainConfig) -> Path:
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    data = prepare(cfg.data_dir, cfg.crop_size, cfg.margin, cfg.cache_dir)
    size = cfg.input_size or cfg.crop_size
    if size != cfg.crop_size:
        data = resize_crops(data, size)
    if cfg.limit:
        keep = np.sort(rng.choice(len(data.labels), min(cfg.limit, len(data.labels)), False))
        data = data.subset(keep)
    is_val = split_groups(data.groups, cfg.val_fraction, cfg.seed)
    train_set, val_set = data.subset(np.where(~is_val)[0]), data.subset(np.where(is_val)[0])
    val_ok = val_set.found
    dev = prepare(cfg.dev_dir, cfg.crop_size, cfg.margin, cfg.cache_dir) if cfg.dev_dir else None
    if dev is not None and size != cfg.crop_size:
        dev = resize_crops(dev, size)
    log.info("train %d rows, val %d rows (%d groups held out)", len(train_set.labels),
             len(val_set.labels), len(np.unique(val_set.groups)))

    model = ForgeryNet(dropout=cfg.dropout)
    model.load_imagenet()
    model = model.to(memory_format=torch.channels_last)
    head_params = list(model.head.parameters())
    body_params = [p for n, p in model.named_parameters() if not n.startswith("head.")]
    opt = torch.optim.AdamW(
        [{"params": body_params, "lr": cfg.lr}, {"params": head_params, "lr": cfg.lr * 5}],
        weight_decay=cfg.weight_decay,
    )
    steps_per_epoch = math.ceil(len(epoch_plan(train_set, cfg, rng)) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    warm = max(1, steps_per_epoch // 10)
    def lr_factor(step: int) -> float:  # linear warm-up, then cosine decay to zero
        return min(1.0, (step + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    loss_fn = nn.BCEWithLogitsLoss()
    started = time.time()
    best = (-1.0, -1)
    history = []
    for epoch in range(cfg.epochs):
        plan = epoch_plan(train_set, cfg, rng)
        loader = DataLoader(EpochSet(train_set, plan, cfg, epoch, cfg.augment),
                            batch_size=cfg.batch_size, shuffle=False, num_workers=cfg.workers,
                            persistent_workers=False, drop_last=True)
        model.train()
        t0, seen, run_loss = time.time(), 0, 0.0
        for step, (x, y) in enumerate(loader):
            x = x.contiguous(memory_format=torch.channels_last)
            logit, _ = model(x)
            loss = loss_fn(logit, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            seen += len(x)
            run_loss += loss.item() * len(x)
            if step % 50 == 0:
                log.info("epoch %d step %d/%d loss %.4f %.1f img/s", epoch, step, len(loader),
                         run_loss / seen, seen / (time.time() - t0))
            if cfg.max_minutes and (time.time() - started) / 60 > cfg.max_minutes:
                break
        val_logits = predict_logits(model, val_set.crops[val_ok])
        row = {"epoch": epoch, "train_loss": run_loss / max(1, seen),
               "val_auc": auc(val_set.labels[val_ok], val_logits),
               "minutes": (time.time() - started) / 60}
        if dev is not None:
            row["dev_auc"] = auc(dev.labels[dev.found], predict_logits(model, dev.crops[dev.found]))
        history.append(row)
        log.info("epoch %d: %s", epoch, json.dumps(row))
        if row["val_auc"] > best[0]:
            best = (row["val_auc"], epoch)
            torch.save(model.state_dict(), cfg.out_dir / "best.pt")
        if cfg.max_minutes and (time.time() - started) / 60 > cfg.max_minutes:
            log.info("time budget reached after epoch %d", epoch)
            break

    model.load_state_dict(torch.load(cfg.out_dir / "best.pt", weights_only=True))
    val_logits = predict_logits(model, val_set.crops[val_ok], tta=cfg.tta)
    a, b = fit_platt(val_logits, val_set.labels[val_ok])
    p_val = sigmoid(a * val_logits + b)
    tpr, fpr, acc = rates_at(val_set.labels[val_ok], p_val, 0.5)
    summary = {"best_epoch": best[1], "val_auc": best[0], "platt": [a, b],
               "val_tpr_at_0.5": tpr, "val_fpr_at_0.5": fpr, "val_acc_at_0.5": acc,
               "history": history, "config": json.loads(cfg.model_dump_json())}
    (cfg.out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    from fakescope.train.export import export_face_forgery

    return export_face_forgery(model, cfg, calibration=(a, b), summary=summary)


def default_run_name() -> str:
    return dt.datetime.now().strftime("%Y%m%d-%H%M%S")
