"""appearance: CLIP tokens of a clip's frames pooled over time, through the head fitted by
scripts/video_clip_embed.py (issue 28)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from fakescope.analyzers import appearance as ap
from fakescope.models import clip

# CI installs the encoder and sets FAKESCOPE_REQUIRE_CLIP: there these tests cannot skip.
needs_clip = pytest.mark.skipif(clip.find_encoder() is None and not os.environ.get("FAKESCOPE_REQUIRE_CLIP"),
                                reason="the CLIP encoder is not installed (fakescope models install-clip)")


def test_pooling_skips_frames_without_a_face() -> None:
    rng = np.random.default_rng(0)
    t = rng.normal(size=(4, len(ap.BLOCKS), 768)).astype(np.float32)
    t[2] = np.nan  # the third frame not read (or, in the study's face view, no face in it)
    mean, steps = ap.pooled(t)
    unit = t / np.linalg.norm(t, axis=-1, keepdims=True)
    assert np.allclose(mean, unit[[0, 1, 3]].mean(axis=0), atol=1e-6)
    # Steps only between consecutive frames that both have a face: 0->1 alone.
    assert np.allclose(steps, 1 - np.sum(unit[0] * unit[1], axis=-1), atol=1e-6)
    none, none_steps = ap.pooled(np.full((3, len(ap.BLOCKS), 768), np.nan, np.float32))
    assert np.isnan(none).all() and np.isnan(none_steps).all()


def test_the_head_reads_back_what_it_wrote(tmp_path: Path) -> None:
    import json

    rng = np.random.default_rng(1)
    k, n_tok, n_steps = 4, 768, len(ap.BLOCKS)
    head = ap.Head(clip.SHA256, 8, n_tok, rng.normal(size=n_tok).astype(np.float32),
                   rng.normal(size=(k, n_tok)).astype(np.float32),
                   rng.normal(size=n_steps).astype(np.float32),
                   rng.normal(size=k + n_steps).astype(np.float32),
                   rng.uniform(1, 2, k + n_steps).astype(np.float32),
                   rng.normal(size=k + n_steps).astype(np.float32), 0.3)
    path = tmp_path / "head.json"
    path.write_text(json.dumps(head.to_json()))
    again = ap.Head.load(path)
    v = rng.normal(size=n_tok + n_steps).astype(np.float32)
    assert again.logit(v) == pytest.approx(head.logit(v), abs=1e-3)
    v[n_tok:] = np.nan  # one frame read, no step: the steps' centre stands in for them
    assert np.isfinite(again.logit(v))
    with pytest.raises(Exception, match="not an appearance head"):
        path.write_text("{}")
        ap.Head.load(path)


def test_the_shipped_head_matches_its_encoder_and_sizes() -> None:
    head = ap.Head.load()
    assert head.clip_sha256 == clip.SHA256
    assert head.components.shape[1] == head.n_tokens == 768
    assert len(head.coef) == len(head.mean) == head.components.shape[0] + len(ap.BLOCKS)


def test_without_the_encoder_it_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKESCOPE_CLIP_ONNX", "none")
    ev = ap.AppearanceAnalyzer().analyze(None)  # type: ignore[arg-type]
    assert ev.score is None and "install-clip" in ev.details["reason"]


@needs_clip
def test_a_scan_reads_the_same_tokens_the_head_was_fitted_on(tmp_path: Path) -> None:
    from fakescope.config import ScanSettings
    from fakescope.demo import talking_clip
    from fakescope.media import decode, read_file
    from fakescope.scan.scanner import Scanner

    path = talking_clip(tmp_path / "c.mp4", seconds=4, audio_shift_s=None)
    scanner = Scanner()
    report = scanner.scan(path)
    a = next(x for x in report.analyzers if x.name == "appearance")
    assert a.error is None and a.details["frames"] == ap.FRAMES
    # The study's reading (scripts/video_clip_embed.py extract, which also reads the face)
    # gives the same logit.
    limits = ScanSettings().limits
    media = decode(read_file(path, limits), limits)
    blocks = clip.load_blocks(str(clip.find_encoder()))
    face, whole, n = ap.clip_tokens(media, blocks, detector=scanner.detector)
    assert n == ap.FRAMES and np.isfinite(face).all()
    assert a.details["logit"] == pytest.approx(ap.Head.load().logit(ap.clip_vector(whole)), abs=1e-3)
    assert 0 <= a.score <= 1
    # When: each sampled frame's own reading; their logits average to the clip's (the head
    # is linear in the mean token).
    seen = a.details["over_time"]
    assert [q["time_s"] for q in seen] == pytest.approx(ap.sample_times(report.video.duration_s), abs=1e-3)
    logits = [np.log(q["p"] / (1 - q["p"])) for q in seen]
    assert np.mean(logits) == pytest.approx(a.details["logit"], abs=0.05)
    from fakescope.report.html import timeline_svg

    assert "appearance (CLIP)" in timeline_svg(report)
