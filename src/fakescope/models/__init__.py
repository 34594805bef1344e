"""Bundled models: ONNX files with their cards, loaded once per process.

The runtime never imports torch: it reads a card, checks the weights' hash and opens an
onnxruntime session.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fakescope.errors import ModelError
from fakescope.models.card import FusionCard, ModelCard

WEIGHTS_DIR = Path(__file__).parent / "weights"
# Points fakescope at another folder of <name>.onnx + <name>.card.json (e.g. a training run).
MODELS_ENV = "FAKESCOPE_MODELS_DIR"


def models_dir(name: str | None = None) -> Path:
    """Where a model's card lives: ``$FAKESCOPE_MODELS_DIR`` when it holds that model (a
    training run usually holds just one), else the bundled weights."""
    override = os.environ.get(MODELS_ENV)
    if override and (name is None or (Path(override) / f"{name}.card.json").is_file()):
        return Path(override)
    return WEIGHTS_DIR


@dataclass(frozen=True)
class LoadedModel:
    card: ModelCard
    path: Path
    session: object  # onnxruntime.InferenceSession


def card_path(name: str, folder: Path | None = None) -> Path:
    return (folder or models_dir(name)) / f"{name}.card.json"


def load_card(name: str, folder: Path | None = None) -> ModelCard:
    path = card_path(name, folder)
    if not path.is_file():
        raise ModelError(f"model {name!r} has no card at {path}")
    try:
        return ModelCard.load(path)
    except ValueError as exc:
        raise ModelError(f"model card {path} is invalid: {exc}") from exc


@lru_cache(maxsize=16)
def _load(name: str, folder: str, threads: int) -> LoadedModel:
    import onnxruntime as ort

    card = load_card(name, Path(folder))
    path = Path(folder) / card.file
    if not path.is_file():
        raise ModelError(f"weights {path} for model {name!r} are missing")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != card.sha256:
        raise ModelError(f"weights {path.name} do not match their card (sha256 differs)")
    opts = ort.SessionOptions()
    if threads > 0:
        opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    # Several sessions (face detection and landmarks, generated image, voice) take turns on the same
    # cores: threads that spin after a run steal the next model's time (measured: about
    # twice the per-model latency in a scan). Idle threads sleep instead.
    if os.environ.get("FAKESCOPE_ORT_SPIN") != "1":
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    try:
        sess = ort.InferenceSession(str(path), sess_options=opts,
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelError(f"cannot load {path.name}: {exc}") from exc
    return LoadedModel(card=card, path=path, session=sess)


def load_model(name: str, threads: int = 0) -> LoadedModel:
    """The named model's session and card (cached per process, folder and thread count)."""
    return _load(name, str(models_dir(name)), threads)


FUSION_FILE = "fusion.json"


@lru_cache(maxsize=4)
def _fusion(folder: str) -> FusionCard | None:
    path = Path(folder) / FUSION_FILE
    if not path.is_file():
        return None
    try:
        return FusionCard.load(path)
    except ValueError as exc:
        raise ModelError(f"fusion card {path} is invalid: {exc}") from exc


def load_fusion() -> FusionCard | None:
    """The fusion card (calibration and thresholds), or None: then the models' own bands rule."""
    override = os.environ.get(MODELS_ENV)
    if override and (Path(override) / FUSION_FILE).is_file():
        return _fusion(override)
    return _fusion(str(WEIGHTS_DIR))
