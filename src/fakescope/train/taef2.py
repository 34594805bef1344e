"""TAEF2: a tiny auto-encoder that approximates the FLUX.2 latent-diffusion VAE.

Written here from the public TAESD design (madebyollin/taesd, MIT): residual blocks of
three 3x3 convolutions, stride-2 convolutions down, nearest-neighbour upsampling and a
3x3 convolution up, 32 latent channels at 1/8 resolution. For FLUX.2 the blocks at the
latent resolution gain a residual 1x1 conv -> GroupNorm -> ReLU -> 1x1 conv branch. The
weights are not bundled: they live in ``../shared/data/weights/taef2`` and are used only
at training time, to turn real photos into reconstructions that carry a latent-diffusion
decoder's traces while keeping the photo's content ("aligned" fakes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

LATENT_CHANNELS = 32
WIDTH = 64


def _conv(cin: int, cout: int, bias: bool = True, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=bias)


class Block(nn.Module):
    def __init__(self, n: int, pooled: bool = False, groups: int = 4) -> None:
        super().__init__()
        self.conv = nn.Sequential(_conv(n, n), nn.ReLU(), _conv(n, n), nn.ReLU(), _conv(n, n))
        self.pool = (nn.Sequential(nn.Conv2d(n, 4 * n, 1, bias=False), nn.GroupNorm(groups, 4 * n),
                                   nn.ReLU(), nn.Conv2d(4 * n, n, 1, bias=False))
                     if pooled else None)
        self.fuse = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool is not None:
            x = x + self.pool(x)
        return self.fuse(self.conv(x) + x)


class Clamp(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x / 3) * 3


def encoder() -> nn.Sequential:
    w = WIDTH
    return nn.Sequential(
        _conv(3, w), Block(w),
        _conv(w, w, bias=False, stride=2), Block(w), Block(w), Block(w),
        _conv(w, w, bias=False, stride=2), Block(w), Block(w), Block(w),
        _conv(w, w, bias=False, stride=2), Block(w, True), Block(w, True), Block(w, True),
        _conv(w, LATENT_CHANNELS),
    )


def decoder() -> nn.Sequential:
    w = WIDTH
    return nn.Sequential(
        Clamp(), _conv(LATENT_CHANNELS, w), nn.ReLU(),
        Block(w, True), Block(w, True), Block(w, True),
        nn.Upsample(scale_factor=2), _conv(w, w, bias=False), Block(w), Block(w), Block(w),
        nn.Upsample(scale_factor=2), _conv(w, w, bias=False), Block(w), Block(w), Block(w),
        nn.Upsample(scale_factor=2), _conv(w, w, bias=False), Block(w),
        _conv(w, 3),
    )


class TAEF2(nn.Module):
    """``forward`` reconstructs images in 0..1 (sides multiples of 8)."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = encoder()
        self.decoder = decoder()

    @classmethod
    def load(cls, folder: Path) -> TAEF2:
        model = cls()
        for part in ("encoder", "decoder"):
            path = folder / f"taef2_{part}.pth"
            if not path.is_file():
                raise FileNotFoundError(f"TAEF2 weights missing: {path}")
            state = torch.load(path, map_location="cpu", weights_only=True)
            getattr(model, part).load_state_dict(state, strict=True)
        return model.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x)).clamp(0, 1)


@torch.no_grad()
def reconstruct(model: TAEF2, image: np.ndarray) -> np.ndarray:
    """One uint8 HxWx3 image through the auto-encoder (cropped to multiples of 8)."""
    h, w = (image.shape[0] // 8) * 8, (image.shape[1] // 8) * 8
    x = torch.from_numpy(np.ascontiguousarray(image[:h, :w])).permute(2, 0, 1)[None].float() / 255.0
    y = model(x)[0].permute(1, 2, 0).numpy()
    return np.clip(y * 255.0 + 0.5, 0, 255).astype(np.uint8)
