"""AutoGAN-style simulator of generator traces (Zhang, Karaman & Chang, WIFS 2019).

GANs and diffusion decoders build images by *upsampling* feature maps; each upsampling
kind (transposed convolution, nearest or bilinear resize followed by convolution, pixel
shuffle) leaves its own periodic trace in the spectrum and the noise residual. Small
auto-encoders trained to reconstruct real faces reproduce those traces without ever
producing a new identity: their reconstructions are the same real face, re-synthesised
through a generator's decoder. A detector trained on them learns the decoder's trace,
which is what images of unseen generators share.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

log = logging.getLogger("fakescope.train")

UPSAMPLERS = ("transposed", "nearest", "bilinear", "pixelshuffle")


def _up(kind: str, cin: int, cout: int) -> nn.Module:
    if kind == "transposed":
        return nn.ConvTranspose2d(cin, cout, 4, 2, 1)
    if kind == "nearest":
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1))
    if kind == "bilinear":
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                             nn.Conv2d(cin, cout, 3, 1, 1))
    if kind == "pixelshuffle":
        return nn.Sequential(nn.Conv2d(cin, cout * 4, 3, 1, 1), nn.PixelShuffle(2))
    raise ValueError(f"unknown upsampler {kind!r}")


class AutoEncoder(nn.Module):
    """3 stride-2 stages down, 3 upsampling stages of one kind back up; works on any
    image whose sides are multiples of 8."""

    def __init__(self, kind: str, width: int = 32) -> None:
        super().__init__()
        w = width
        self.kind = kind
        self.encoder = nn.Sequential(
            nn.Conv2d(3, w, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(4 * w, 4 * w, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),
        )
        self.decoder = nn.Sequential(
            _up(kind, 4 * w, 4 * w), nn.LeakyReLU(0.2, inplace=True),
            _up(kind, 4 * w, 2 * w), nn.LeakyReLU(0.2, inplace=True),
            _up(kind, 2 * w, w), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(w, 3, 3, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(self.encoder(x)))


def train_autoencoder(kind: str, crops: np.ndarray, steps: int, patch: int = 64, batch: int = 16,
                      seed: int = 0, lr: float = 2e-3) -> AutoEncoder:
    """Fit one auto-encoder to random patches of real faces (L1 reconstruction)."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model = AutoEncoder(kind)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    n, h, w, _ = crops.shape
    t0 = time.time()
    for step in range(steps):
        idx = rng.integers(0, n, batch)
        ys = rng.integers(0, h - patch + 1, batch)
        xs = rng.integers(0, w - patch + 1, batch)
        x = np.stack([crops[i, y : y + patch, x_ : x_ + patch] for i, y, x_ in zip(idx, ys, xs,
                                                                                   strict=True)])
        x = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255.0
        loss = (model(x) - x).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 200 == 0:
            log.info("autoencoder %s step %d/%d L1 %.4f (%.0fs)", kind, step, steps, loss.item(),
                     time.time() - t0)
    return model.eval()


@torch.no_grad()
def reconstruct(model: AutoEncoder, images: np.ndarray, batch: int = 32) -> np.ndarray:
    """Re-synthesise uint8 NHWC images (sides multiple of 8) through the auto-encoder."""
    out = []
    for i in range(0, len(images), batch):
        x = torch.from_numpy(np.array(images[i : i + batch])).permute(0, 3, 1, 2).float() / 255.0
        y = model(x).permute(0, 2, 3, 1).numpy()
        out.append(np.clip(y * 255.0 + 0.5, 0, 255).astype(np.uint8))
    return np.concatenate(out) if out else images[:0]


def save(model: AutoEncoder, path: Path) -> None:
    torch.save({"kind": model.kind, "state": model.state_dict()}, path)


def load(path: Path) -> AutoEncoder:
    blob = torch.load(path, map_location="cpu", weights_only=True)
    model = AutoEncoder(blob["kind"])
    model.load_state_dict(blob["state"])
    return model.eval()
