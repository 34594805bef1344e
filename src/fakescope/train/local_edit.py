"""The local-edit model (issue 29): where in a picture a region was changed.

Trained on pseudo-edits of real photos only (``synth.edits``: splices, copy-moves,
inpainting, an autoencoder's reconstruction, resampling, another JPEG generation, noise),
every crop — edited or not — through the same resize/JPEG chain. A small fully
convolutional net reads the pixels at full resolution (edit traces live in the finest
detail) and gives one logit per 8x8 cell; each cell's features are compared with the
picture's mean (an edit is a region unlike the rest), so the same net runs on any size.

    python -m fakescope.train.local_edit samples --photos DATA/pictures --photos ../shared/data/photos \\
        --out runs/edits/samples --n 12000
    python -m fakescope.train.local_edit fit runs/edits/samples --out runs/edits/net.pt --minutes 40
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import cv2
import numpy as np

CELL = 8  # the net's output stride
SIZE = 256  # training crop
WORK = 352  # the photo is first cut to this square (edits are made at this size: faster)


def photo_list(folders: list[Path]) -> list[tuple[str, str]]:
    """(path, source group) of the real photos in ``folders`` (labels.csv: label real)."""
    out = []
    for folder in folders:
        with open(folder / "labels.csv", newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                if r.get("label") != "real":
                    continue
                group = r.get("repo") or r.get("set") or r.get("source") or folder.name
                out.append((str(folder / r["file"]), f"{folder.name}:{group}"))
    return out


def _read(path: str, rng: np.random.Generator) -> np.ndarray | None:
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None or min(bgr.shape[:2]) < 128:
        return None
    rgb = bgr[..., ::-1]
    h, w = rgb.shape[:2]
    if min(h, w) < WORK:  # small photos: upscaled a little, as everything else gets
        f = WORK / min(h, w)
        rgb = cv2.resize(rgb, (max(WORK, round(w * f)), max(WORK, round(h * f))),
                         interpolation=cv2.INTER_CUBIC)
        h, w = rgb.shape[:2]
    y, x = int(rng.integers(0, h - WORK + 1)), int(rng.integers(0, w - WORK + 1))
    return np.ascontiguousarray(rgb[y:y + WORK, x:x + WORK])


def _autoencoder():  # type: ignore[no-untyped-def]
    """TAEF2 (the FLUX.2 VAE's tiny stand-in) when its weights are here: the generative-fill trace."""
    from fakescope.train.taef2 import TAEF2, reconstruct

    folder = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "weights" / "taef2"
    if not folder.is_dir():
        return None
    import torch

    torch.set_num_threads(1)
    model = TAEF2.load(folder)

    def run(rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        pad = np.pad(rgb, ((0, -h % 8), (0, -w % 8), (0, 0)), mode="reflect")
        return reconstruct(model, pad)[:h, :w]

    return run


def _make(args: tuple[int, list[tuple[str, str]], int]) -> tuple[np.ndarray, np.ndarray, str, str] | None:
    from fakescope.synth.edits import after_edit, make_edit

    seed, photos, i = args
    rng = np.random.default_rng([seed, i])
    path, group = photos[int(rng.integers(len(photos)))]
    rgb = _read(path, rng)
    if rgb is None:
        return None
    if i % 2:  # odd samples edited, even ones untouched: balanced classes
        donor = _read(photos[int(rng.integers(len(photos)))][0], rng)
        ed = make_edit(rng, rgb, donor, autoencoder=_AE.get("ae"))
        rgb, mask, kind = ed.rgb, ed.mask, ed.kind
    else:
        mask, kind = np.zeros(rgb.shape[:2], np.float32), "none"
    x, m = after_edit(rng, rgb, mask, SIZE)
    cells = m.reshape(SIZE // CELL, CELL, SIZE // CELL, CELL).mean((1, 3))
    return x, (cells * 255).round().astype(np.uint8), kind, group


_AE: dict = {}


def _init_worker() -> None:
    cv2.setNumThreads(1)
    _AE["ae"] = _autoencoder()


def make_samples(photos: list[tuple[str, str]], out: Path, n: int, seed: int = 0, workers: int = 2) -> None:
    """``n`` crops (half edited) as ``x.npy`` (n, SIZE, SIZE, 3) uint8, ``cells.npy`` (n, 32, 32)
    uint8 (share of each cell edited x 255) and ``meta.json`` (kind, source group)."""
    from multiprocessing import Pool

    from fakescope.progress import progress_iter

    out.mkdir(parents=True, exist_ok=True)
    x = np.lib.format.open_memmap(out / "x.npy", "w+", np.uint8, (n, SIZE, SIZE, 3))
    c = np.lib.format.open_memmap(out / "cells.npy", "w+", np.uint8, (n, SIZE // CELL, SIZE // CELL))
    meta: list[dict] = []
    with Pool(workers, initializer=_init_worker) as pool:
        jobs = pool.imap(_make, ((seed, photos, i) for i in range(n)), chunksize=8)
        for i, r in enumerate(progress_iter(jobs, "pseudo-edits", total=n)):
            if r is None:
                meta.append({"kind": "skip", "group": ""})
                continue
            x[i], c[i] = r[0], r[1]
            meta.append({"kind": r[2], "group": r[3]})
    x.flush()
    c.flush()
    (out / "meta.json").write_text(json.dumps(meta), encoding="utf-8")


# Fixed high-pass filters (the SRM kernels of steganalysis) in front of the learnt layers:
# the net then starts from noise residuals, where edits differ, rather than from content.
SRM = (
    [[0, 0, 0, 0, 0], [0, -1, 2, -1, 0], [0, 2, -4, 2, 0], [0, -1, 2, -1, 0], [0, 0, 0, 0, 0]],
    [[-1, 2, -2, 2, -1], [2, -6, 8, -6, 2], [-2, 8, -12, 8, -2], [2, -6, 8, -6, 2], [-1, 2, -2, 2, -1]],
    [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 1, -2, 1, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]],
)
SRM_SCALE = (4.0, 12.0, 2.0)


def build_net(arch: str = "srm"):  # type: ignore[no-untyped-def]
    import torch
    from torch import nn

    def conv(cin: int, cout: int, stride: int = 1, dil: int = 1) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, dil, dilation=dil, bias=False),
                             nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    class LocalEditNet(nn.Module):
        """Pixels -> one logit per 8x8 cell. Strided from the first layer (a 3x3 stride-2
        convolution still sees every pixel) and widened at 1/16 for context, to stay cheap on
        large pictures. Each cell's features are read beside their difference from the
        picture's mean features: an edit is what differs from the rest."""

        def __init__(self) -> None:
            super().__init__()
            self.srm: nn.Conv2d | None = None
            cin = 3
            if arch == "srm":
                k = torch.from_numpy(np.stack([np.array(f, np.float32) / sc
                                               for f, sc in zip(SRM, SRM_SCALE, strict=True)]))
                # each colour channel through the three filters: a grouped convolution
                # (a third of a dense one's cost on every pixel of the picture)
                self.srm = nn.Conv2d(3, 9, 5, 1, 2, groups=3, bias=False)
                self.srm.weight.data.copy_(k[None].repeat(3, 1, 1, 1).reshape(9, 1, 5, 5))
                self.srm.weight.requires_grad_(False)
                cin = 12
            self.fine = nn.Sequential(conv(cin, 16, 2), conv(16, 32, 2), conv(32, 48, 2))
            self.coarse = nn.Sequential(conv(48, 64, 2), conv(64, 64, dil=2))
            self.head = nn.Sequential(nn.Conv2d(2 * (48 + 64), 32, 1), nn.ReLU(inplace=True),
                                      nn.Conv2d(32, 1, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.srm is not None:
                x = torch.cat([x, 10.0 * self.srm(x)], 1)  # residuals of -1..1 input are small
            f = self.fine(x)
            c = nn.functional.interpolate(self.coarse(f), size=f.shape[2:], mode="nearest")
            f = torch.cat([f, c], 1)
            g = f.mean(dim=(2, 3), keepdim=True)
            return self.head(torch.cat([f, f - g], 1))[:, 0]

    return LocalEditNet()


def load_trained(state: Path):  # type: ignore[no-untyped-def]
    """A trained net in eval mode; its architecture from the run's summary beside it."""
    summary = state.with_suffix(".json")
    arch = json.loads(summary.read_text()).get("arch", "plain") if summary.is_file() else "plain"
    net = build_net(arch)
    _load_weights(net, state)
    return net.eval()


def _load_weights(net, state: Path) -> None:  # type: ignore[no-untyped-def]
    import torch

    weights = torch.load(state, map_location="cpu", weights_only=True)
    weights.pop("srm.weight", None)  # fixed filters, built by the net itself (any layout)
    missing, unexpected = net.load_state_dict(weights, strict=False)
    if unexpected or set(missing) - {"srm.weight"}:
        raise ValueError(f"{state}: not a local-edit net ({missing or unexpected})")


def _to_input(x):  # type: ignore[no-untyped-def]
    """uint8 NHWC -> float NCHW in [-1, 1] (the exported net expects the same)."""
    return x.permute(0, 3, 1, 2).float() / 127.5 - 1.0


def open_samples(samples: Path, seed: int = 0, val_groups: float = 0.15):  # type: ignore[no-untyped-def]
    """The samples (memory-mapped), the held-out source groups, the indices of the training
    and validation samples, and the generator that drew the split (training goes on with it)."""
    x = np.load(samples / "x.npy", mmap_mode="r")
    cells = np.load(samples / "cells.npy", mmap_mode="r")
    meta = json.loads((samples / "meta.json").read_text())
    groups = sorted({m["group"] for m in meta if m["kind"] != "skip"})
    rng = np.random.default_rng(seed)
    held = set(rng.choice(groups, max(1, int(len(groups) * val_groups)), replace=False).tolist())
    ok = np.array([m["kind"] != "skip" for m in meta])
    is_val = np.array([m["group"] in held for m in meta]) & ok
    return x, cells, held, np.nonzero(ok & ~is_val)[0], np.nonzero(is_val)[0], rng


def fit(samples: Path, out: Path, minutes: float, batch: int = 24, seed: int = 0,
        val_groups: float = 0.15, arch: str = "srm", init: Path | None = None, lr: float = 2e-3) -> dict:
    """Train on the samples of most source groups, report on the others (pseudo-edits only:
    the real edits of the dev set are the figure that counts, ``scripts/edits_eval.py``)."""
    import torch
    import torch.nn.functional as F

    from fakescope.evaluation.metrics import auc

    torch.manual_seed(seed)
    x, cells, held, train_idx, val_idx, rng = open_samples(samples, seed, val_groups)
    val_idx = val_idx[:1500]
    net = build_net(arch)
    if init is not None:  # a longer run continued (the split is the same: same seed)
        _load_weights(net, init)
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=lr, weight_decay=1e-4)
    t0, step, log = time.time(), 0, []
    total_s = minutes * 60
    net.train()
    while time.time() - t0 < total_s:
        b = np.sort(rng.choice(train_idx, batch, replace=False))
        xb = torch.from_numpy(np.ascontiguousarray(x[b]))
        cb = torch.from_numpy(np.ascontiguousarray(cells[b])).float() / 255.0
        if rng.random() < 0.5:  # mirrored (width axis of both)
            xb, cb = xb.flip(2), cb.flip(2)
        frac = (time.time() - t0) / total_s
        for group in opt.param_groups:
            group["lr"] = lr * 0.5 * (1 + np.cos(np.pi * min(frac, 1.0)))
        logits = net(_to_input(xb))
        cell_loss = F.binary_cross_entropy_with_logits(logits, cb)
        edited = (cb.flatten(1).max(1).values > 0.1).float()
        top = torch.topk(logits.flatten(1), 16, dim=1).values.mean(1)
        img_loss = F.binary_cross_entropy_with_logits(top, edited)
        loss = cell_loss + 0.5 * img_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 50 == 0:
            log.append({"step": step, "s": round(time.time() - t0), "loss": round(float(loss), 4)})
            print(f"step {step} {time.time() - t0:.0f}s loss {float(loss):.4f} "
                  f"(cells {float(cell_loss):.4f})",
                  flush=True)
    net.eval()
    ys, ss, cell_aucs = [], [], []
    with torch.no_grad():
        for i in range(0, len(val_idx), 32):
            b = val_idx[i:i + 32]
            lg = net(_to_input(torch.from_numpy(np.ascontiguousarray(x[b]))))
            cb = np.asarray(cells[b]) / 255.0
            for k in range(len(b)):
                e = cb[k].max() > 0.1
                ys.append(int(e))
                ss.append(float(torch.topk(lg[k].flatten(), 16).values.mean()))
                if e and 0.05 < (cb[k] > 0.5).mean() < 0.95:
                    cell_aucs.append(auc((cb[k] > 0.5).ravel().astype(int), lg[k].numpy().ravel()))
    summary = {"arch": arch, "steps": step, "minutes": minutes, "init": str(init) if init else None,
               "train": len(train_idx), "val": len(val_idx),
               "val_groups": sorted(held), "val_image_auc": auc(np.array(ys), np.array(ss)),
               "val_cell_auc_mean": float(np.mean(cell_aucs)) if cell_aucs else None, "log": log}
    print(json.dumps({k: v for k, v in summary.items() if k != "log"}, indent=1))
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), out)
    out.with_suffix(".json").write_text(json.dumps(summary), encoding="utf-8")
    return summary


def export_onnx(state: Path, path: Path) -> None:
    """The trained net as ONNX with any picture size (sides multiples of 16), checked
    against torch on a size it was not traced at."""
    import onnxruntime as ort
    import torch

    net = load_trained(state)
    torch.onnx.export(net, (torch.zeros(1, 3, 256, 256),), str(path), dynamo=False, opset_version=17,
                      input_names=["input"], output_names=["cells"],
                      dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"},
                                    "cells": {0: "batch", 1: "rows", 2: "cols"}})
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 320, 480)).astype(np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["cells"], {"input": x})[0]
    if got.shape != ref.shape or not np.allclose(ref, got, atol=1e-3):
        raise RuntimeError(f"ONNX export disagrees with torch (shape {got.shape} vs {ref.shape})")


def val_logits(samples: Path, state: Path, seed: int = 0,
               val_groups: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    """Image logits (top-16 cell mean) and labels of the validation groups' samples (the
    split ``fit`` held out)."""
    import torch

    x, cells, _, _, idx, _ = open_samples(samples, seed, val_groups)
    net = load_trained(state)
    out = []
    with torch.no_grad():
        for i in range(0, len(idx), 32):
            b = idx[i:i + 32]
            lg = net(_to_input(torch.from_numpy(np.ascontiguousarray(x[b])))).flatten(1)
            out.append(torch.topk(lg, 16, dim=1).values.mean(1).numpy())
    y = np.array([float(np.asarray(cells[i]).max() > 25) for i in idx])
    return np.concatenate(out), y


LIMITATIONS = [
    "far from the issue's targets: on real edits of 15 public repositories it ranks pictures at AUC 0.67 "
    "and localizes at a mean cell AUC 0.77, F1 0.29 (docs/metrics.md, 'Local edits'); at the shipped "
    "thresholds it calls 15 % of them edited, nearly all copy-moves",
    "the net ranks copy-moves at chance (a copy carries the photo's own traces); the copy-move matching "
    "finds them (0.89), but also real repeated objects, such as two identical bottles side by side (0.6 %"
    " of 5,775 real pictures reach its threshold; 1 of EditGuard's 11 authentic photos)",
    "the net's picture score grows with the picture's size (more cells to take the 16 highest from: "
    "correlation 0.38 with log pixels on the dev set, where edited pictures are larger); within size "
    "terciles it ranks real edits at 0.55-0.65, and 0.58 with size regressed out; size-free poolings rank"
    " them at 0.55-0.56",
    "trained on pseudo-edits only: real hand edits are judged by what they share with them",
    "pictures above 2048 px on a side are read downscaled, which weakens fine traces; the copy-move "
    "matching reads every picture at 352 px, where small copies carry few keypoints (read at 512 px it "
    "ranks real copy-moves at 0.922 instead of 0.880, for twice the time)",
    "the in-browser check runs the net only (no SIFT there): a copy-move the scan outlines may read lower"
    " in the page",
]


def write_card(state: Path, samples: Path, out_dir: Path, version: str, dev_figures: dict | None) -> Path:
    """``local-edit.onnx`` and its card: Platt scaling fitted on the validation groups'
    pseudo-edits (never on the real edits, which only measure)."""
    import datetime as dt
    import hashlib
    import sys

    from fakescope.evaluation.calibration import fit_platt
    from fakescope.evaluation.metrics import auc
    from fakescope.models.card import Calibration, InputSpec, Metric, ModelCard, StartingWeights

    onnx_path = out_dir / "local-edit.onnx"
    export_onnx(state, onnx_path)
    logits, y = val_logits(samples, state)
    a, b = fit_platt(logits, y)
    today = dt.date.today()
    command = "python -m fakescope.train.local_edit " + " ".join(sys.argv[1:])
    run = state.with_suffix(".json")
    summary = json.loads(run.read_text()) if run.is_file() else {}
    metrics = [Metric(dataset="pseudo-edits of the real photos of held-out source groups "
                              f"({', '.join(summary.get('val_groups', [])[:6])}...)",
                      name="auc", value=round(auc(y, logits), 4), n=len(y), command=command, measured=today)]
    for name, value in (dev_figures or {}).items():
        metrics.append(Metric(dataset="corpora/edits dev set: real edits and authentic photos of 22 "
                                      "repositories (scripts/edits_eval.py)", name=name,
                              value=round(value, 4),
                              command="python scripts/edits_eval.py --data DATA/edits-dev --net NET",
                              measured=today))
    card = ModelCard(
        name="local-edit", version=version,
        task="still pictures: which 8x8-pixel cells were changed by a local edit (splice, copy-move, "
             "removal, inpainting, generative fill), and whether any was",
        file=onnx_path.name, sha256=hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
        architecture="fully convolutional, 91k parameters: three 3x3 stride-2 convolutions (16, 32, 48 "
                     "channels) to 1/8, two more at 1/16 for context (64 channels, one dilated), each 1/8 "
                     "cell's features beside their difference from the picture's mean, 1x1 head to one "
                     "logit per cell; "
                     "picture logit = mean of the 16 highest cells",
        input=InputSpec(kind="whole_image", size=SIZE, margin=1.0, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
        outputs={"cells": "[1, ceil(H/8), ceil(W/8)] logit per 8x8-pixel cell (input: RGB scaled to -1..1, "
                          "sides multiples of 16)"},
        calibration=Calibration(a=a, b=b, fitted_on="pseudo-edits of held-out source groups' photos"),
        training_data=["pseudo-edits (fakescope.synth.edits) of the real photos of corpora/pictures and "
                       "../shared/data/photos, half left untouched, all through one resize/JPEG chain"],
        training_command="python -m fakescope.train.local_edit samples --photos DATA/pictures --photos "
                         "../shared/data/photos --out runs/edits/samples --n 16000; python -m "
                         f"fakescope.train.local_edit fit runs/edits/samples --out {state} --arch "
                         f"{summary.get('arch', 'srm')} --minutes {summary.get('minutes', '?')} (one thread: "
                         f"{summary.get('steps', '?')} steps of 24 crops)",
        starting_weights=StartingWeights(name="none", source="trained from scratch", license="-"),
        license="Apache-2.0 code; trained on photos of corpora/pictures, many of which are research-only or "
                "non-commercial (NON-COMMERCIAL weights: see corpora/pictures/manifest.csv)",
        metrics=metrics,
        limitations=LIMITATIONS,
        created=today)
    card.save(out_dir / "local-edit.card.json")
    return onnx_path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("samples")
    s.add_argument("--photos", type=Path, action="append", required=True, help="folder with labels.csv")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--n", type=int, default=12000)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--workers", type=int, default=2)
    f = sub.add_parser("fit")
    f.add_argument("samples", type=Path)
    f.add_argument("--out", type=Path, required=True)
    f.add_argument("--minutes", type=float, default=40)
    f.add_argument("--batch", type=int, default=24)
    f.add_argument("--arch", choices=["plain", "srm"], default="srm")
    f.add_argument("--init", type=Path, help="continue from these weights")
    f.add_argument("--lr", type=float, default=2e-3)
    c = sub.add_parser("card")
    c.add_argument("state", type=Path)
    c.add_argument("--samples", type=Path, required=True)
    c.add_argument("--out", type=Path, required=True, help="folder for local-edit.onnx and its card")
    c.add_argument("--version", default="0.1.0")
    c.add_argument("--dev", type=Path, help="figures of scripts/edits_eval.py --summary (JSON) for the card")
    args = ap.parse_args()
    if args.cmd == "card":
        dev = json.loads(args.dev.read_text()) if args.dev else None
        print(write_card(args.state, args.samples, args.out, args.version, dev))
    elif args.cmd == "samples":
        make_samples(photo_list(args.photos), args.out, args.n, args.seed, args.workers)
    else:
        fit(args.samples, args.out, args.minutes, args.batch, arch=args.arch, init=args.init, lr=args.lr)


if __name__ == "__main__":
    main()
