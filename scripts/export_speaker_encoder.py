"""Export Resemblyzer's speaker encoder (Apache-2.0) to the ONNX file fakescope ships (issue 31).

    /tmp/rvenv/bin/python scripts/export_speaker_encoder.py [--out src/fakescope/models/weights]

Run once by a maintainer, in an environment with ``pip install resemblyzer==0.1.4`` (it
brings torch and librosa, which fakescope's runtime never imports). The network is
Resemblyzer's GE2E encoder as ``VoiceEncoder.forward`` runs it: 40-band mel frames ->
3-layer LSTM (256) -> the last layer's final hidden state -> linear 256 -> ReLU ->
L2-normalised, one embedding per partial utterance; batch and frame count are dynamic.
The front end (resampling, silence trimming, mel, partial slicing, averaging) lives in
``fakescope.people.voice_id``; research/speaker_encoder_parity.py measures the whole chain
against Resemblyzer and records its figures in the card (``--record``).
"""

from __future__ import annotations

import argparse
import base64
import csv
import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

NAME = "speaker"
VERSION = "1.0.0"
RESEMBLYZER_VERSION = "0.1.4"
OPSET = 17
N_MELS = 40
PARTIAL_FRAMES = 160
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "src" / "fakescope" / "models" / "weights"


class Encoder(nn.Module):
    """``resemblyzer.VoiceEncoder`` without its device and loading logic (same parameter names)."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(N_MELS, 256, 3, batch_first=True)
        self.linear = nn.Linear(256, 256)
        self.relu = nn.ReLU()

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(mels)
        raw = self.relu(self.linear(hidden[-1]))
        return raw / torch.norm(raw, dim=1, keepdim=True)


def wheel_digest(package_dir: Path) -> str:
    """pretrained.pt's sha256 as the installed wheel's RECORD states it (hex), checked against the file."""
    actual = hashlib.sha256((package_dir / "pretrained.pt").read_bytes()).hexdigest()
    for record in package_dir.parent.glob("[Rr]esemblyzer-*.dist-info/RECORD"):
        with record.open(newline="", encoding="utf-8") as f:
            for row in csv.reader(f):
                if row and row[0] == "resemblyzer/pretrained.pt":
                    b64 = row[1].split("=", 1)[1]
                    stated = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)).hex()
                    if stated != actual:
                        raise SystemExit(f"pretrained.pt differs from the wheel's RECORD ({stated})")
    return actual


def export(out_dir: Path) -> Path:
    import resemblyzer
    from resemblyzer import VoiceEncoder

    package_dir = Path(resemblyzer.__file__).parent
    checkpoint = torch.load(package_dir / "pretrained.pt", map_location="cpu")
    model = Encoder()
    # The checkpoint also holds GE2E's similarity scale and bias, used only in training.
    missing, unexpected = model.load_state_dict(checkpoint["model_state"], strict=False)
    if missing or set(unexpected) != {"similarity_weight", "similarity_bias"}:
        raise SystemExit(f"unexpected checkpoint layout: missing {missing}, extra {unexpected}")
    model.eval()

    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / f"{NAME}.onnx"
    example = torch.randn(2, PARTIAL_FRAMES, N_MELS).abs()
    torch.onnx.export(
        model, (example,), str(onnx_path), dynamo=False, opset_version=OPSET,
        input_names=["mels"], output_names=["embedding"],
        dynamic_axes={"mels": {0: "partials", 1: "frames"}, "embedding": {0: "partials"}},
    )

    # The export must compute what Resemblyzer's own module computes on the same input.
    reference = VoiceEncoder("cpu", verbose=False).eval()
    with torch.no_grad():
        want = reference(example).numpy()
    try:
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime not installed here: the graph is checked by research/speaker_encoder_parity.py")
    else:
        sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        got = sess.run(None, {"mels": example.numpy()})[0]
        print(f"largest difference to Resemblyzer's module: {np.abs(got - want).max():.2e}")

    write_card(out_dir, onnx_path, wheel_digest(package_dir), int(checkpoint.get("step", 0)))
    return onnx_path


def write_card(out_dir: Path, onnx_path: Path, pretrained_sha: str, step: int) -> None:
    card_path = out_dir / f"{NAME}.card.json"
    # Metrics recorded by the parity study survive a re-export of the same weights.
    old = json.loads(card_path.read_text(encoding="utf-8")) if card_path.is_file() else {}
    metrics = old.get("metrics", [])
    card = {
        "name": NAME,
        "version": VERSION,
        "task": "speaker identity: a 256-d embedding of the voice in each 1.6 s partial utterance; "
                "two recordings are compared by the cosine of their averaged, L2-normalised embeddings",
        "file": onnx_path.name,
        "sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
        "architecture": "Resemblyzer's GE2E speaker encoder: 40 mel bands -> 3-layer LSTM (256 hidden) -> "
                        "final hidden state of the last layer -> linear 256 -> ReLU -> L2-normalised",
        "input": {
            "kind": "audio",
            "size": N_MELS,
            # The schema's image fields (margin, mean, std, layout, colour) do not apply to audio.
            "margin": 1.0,
            "sample_rate": 16000,
            "segment_s": PARTIAL_FRAMES / 100,
            "features": "Resemblyzer's mel (fakescope.people.voice_id): 16 kHz, volume raised to -30 dBFS, "
                        "long silences cut; 40 Slaney mel bands of the power (not log) of a 400-point Hann "
                        "STFT every 10 ms, centred with zero padding; mels [N, frames, 40], 160 frames per "
                        "partial, partials every 77 frames",
        },
        "outputs": {
            "embedding": "[N,256] per partial: non-negative, unit length; the utterance's embedding is the "
                         "mean over its partials, L2-normalised again",
        },
        "calibration": {"a": 1.0, "b": 0.0, "fitted_on": ""},
        "tta": "none",
        "threshold": 0.5,
        "inconclusive_band": [0.0, 0.0],
        "training_data": [
            "Resemblyzer's own training, not stated in the wheel: Resemblyzer's issues (#3, #8, #32, "
            "#76) name VoxCeleb1, VoxCeleb2 and LibriSpeech train-other, or VoxCeleb2 alone; its "
            "parent project Real-Time-Voice-Cloning's encoder saw LibriSpeech's training sets, "
            f"VoxCeleb1 and VoxCeleb2 (8,371 speakers). Checkpoint step {step}; not retrained by fakescope",
            "Only the weights file (resemblyzer/pretrained.pt) of the PyPI wheel is converted; none of the "
            "Resemblyzer repository's audio files (reserved for fakescope's independent evaluation: "
            "../shared/design/EVALUATION-RESERVED.md) was used for the conversion, its checks or any figure",
        ],
        "training_command": "/tmp/rvenv/bin/python scripts/export_speaker_encoder.py  # Resemblyzer "
                            f"{RESEMBLYZER_VERSION}, resemblyzer/pretrained.pt sha256 {pretrained_sha}",
        "starting_weights": {
            "name": f"Resemblyzer {RESEMBLYZER_VERSION} pretrained.pt (GE2E voice encoder)",
            "source": f"https://github.com/resemble-ai/Resemblyzer (PyPI Resemblyzer {RESEMBLYZER_VERSION}, "
                      f"wheel contents; pretrained.pt sha256 {pretrained_sha})",
            "license": "Apache-2.0",
        },
        "license": "Apache-2.0 (Resemblyzer's model; converted to ONNX by fakescope)",
        "metrics": metrics,
        "limitations": [
            "Converted, not retrained: the accuracy and biases are Resemblyzer's; fakescope measures "
            "agreement with the original and same-vs-other speaker EER on the speech it holds.",
            "The LibriSpeech EER is flattering: clean read speech, 37 same-speaker pairs only, and some of "
            "its readers (train-clean-100) may be among the encoder's training speakers.",
            "`threshold`, `inconclusive_band` and `calibration` are unused: the schema's fields for a fake "
            "probability; this model only embeds, and the decision (a cosine threshold) belongs to the "
            "protected-people matching that uses it.",
            "The front end cuts silences with an energy-based detector instead of Resemblyzer's "
            "webrtcvad and resamples with scipy's polyphase filter instead of librosa's soxr: embeddings "
            "differ slightly from Resemblyzer's (metrics), most on noisy recordings (cosine 0.885 on the "
            "worst of 179 speech/tts and speech/vc clips).",
            "A voice clone is built to land near its target in exactly this kind of space: a match says the "
            "voice sounds like the person, never that the person spoke.",
        ],
        "created": dt.date.today().isoformat(),
    }
    card_path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    args = ap.parse_args()
    path = export(args.out)
    print(f"{path}: {path.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
