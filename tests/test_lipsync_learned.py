"""The lip-sync analyzer's learned sync model: the head (fitted by ``train.sync``, applied by
``analyzers.lipsync``) finds a known offset between constructed sound and lip features, and the
shipped ONNX front end runs without torch.

The generated demo clips (``fakescope.demo.talking_clip``) are no test of the learned model:
their sound is not speech and their mouth not real lips, so it has no say on them (the
envelope correlation, still in the details, is tested on them in test_video.py)."""

from __future__ import annotations

import numpy as np
import pytest

from fakescope.analyzers import lipsync
from fakescope.analyzers.lipsync import SyncHead, corr_curve, curve_figures, sync_anomaly

T = 400


def _latent(rng: np.random.Generator, n: int) -> np.ndarray:
    z = rng.normal(size=(n + 2, 6))
    return (z[1:-1] + 0.5 * z[:-2] + 0.5 * z[2:])  # a little smooth, like speech at 12.5 fps


def _clip(rng: np.random.Generator, a: np.ndarray, b: np.ndarray, offset: int, i: int) -> tuple[dict, dict]:
    """Sound (T, 384) from a latent, lips (T, 80) from the same latent ``offset`` frames later
    (the sound then lags the lips by ``offset``: the curve should peak at +offset)."""
    z = _latent(rng, T + 20)
    sound = z[10:T + 10] @ a + 0.3 * rng.normal(size=(T, 384))
    lips = z[10 + offset:T + 10 + offset] @ b + 0.3 * rng.normal(size=(T, 80))
    lips[:5] = np.nan  # no face in the first frames
    bands = np.ones((T, 20), np.float32)
    bands[rng.choice(T, T // 6, replace=False)] = 0.0  # pauses: not speech
    clip = {"folder": "synthetic", "file": f"{i}.mp4", "set": "synthetic", "label": 0,
            "mouth": lips.astype(np.float32), "audio": bands, "times": np.arange(T) / 12.5}
    return clip, {"whisper": {3: sound.astype(np.float32)}}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from fakescope.train.sync import clip_key, fit_cca, write_head

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 384)), rng.normal(size=(6, 80))
    clips, feats = [], {}
    for i in range(6):
        c, f = _clip(rng, a, b, 0, i)
        clips.append(c)
        feats[clip_key(c)] = f
    path = tmp_path_factory.mktemp("head") / "lip-sync.head.json"
    model = fit_cca(clips, feats, 3)
    write_head(model, path)
    return SyncHead.load(path), model, (rng, a, b)


@pytest.mark.parametrize("offset", [0, 3, -4, 5])
def test_the_head_recovers_a_known_offset(fitted, offset: int) -> None:  # type: ignore[no-untyped-def]
    head, _, (rng, a, b) = fitted
    clip, f = _clip(rng, a, b, offset, 100 + offset)
    x, y = head.streams(f["whisper"][3], clip["mouth"])
    face = np.isfinite(clip["mouth"]).all(axis=1)
    curve, n = corr_curve(x, y, face, lipsync.speech_frames(clip["audio"]), offsets=head.offsets)
    assert n > 200
    got = curve_figures(curve)
    assert got["offset"] == offset
    assert (got["margin"] > 0) == (abs(offset) < 2)
    assert (sync_anomaly(got["offset"], got["margin"]) > 0.15) == (abs(offset) >= 2)


def test_the_runtime_head_is_the_trained_one(fitted) -> None:  # type: ignore[no-untyped-def]
    """The head as written and read back gives the streams ``train.sync`` judged."""
    from fakescope.train.sync import cca_streams, clip_key

    head, model, (rng, a, b) = fitted
    clip, f = _clip(rng, a, b, 2, 200)
    x_ref, y_ref, _, _ = cca_streams(model, clip, {clip_key(clip): f})
    x, y = head.streams(f["whisper"][3], clip["mouth"])
    assert np.allclose(x, x_ref, atol=1e-3 * np.abs(x_ref).max())
    assert np.allclose(y, y_ref, atol=1e-3 * np.abs(y_ref).max())


def test_anomaly_grows_with_the_offset() -> None:
    assert sync_anomaly(0, 0.1) == 0.0 and sync_anomaly(1, 0.05) == 0.0
    assert 0 < sync_anomaly(2, -0.05) < sync_anomaly(3, -0.05) < sync_anomaly(6, -0.05) <= 1.0
    assert sync_anomaly(-3, -0.1) == sync_anomaly(3, -0.1)


def test_the_shipped_front_end_runs_without_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from fakescope.analyzers.lipsync import load_sync_model, sound_at_frames\n"
        "model, head = load_sync_model(threads=1)\n"
        "rng = np.random.default_rng(0)\n"
        "audio = (0.1 * rng.normal(size=16000 * 33)).astype(np.float32)\n"  # over 30 s: two runs
        "times = np.arange(0, 32.5, 0.08)\n"
        "states, bands = sound_at_frames(model.session, audio, 16000, times)\n"
        "assert states.shape == (len(times), head.a_mu.shape[0]) and bands.shape == (len(times), 20)\n"
        "assert np.isfinite(states).all() and np.abs(states[-5:]).sum() > 0\n"
        "assert 'torch' not in sys.modules, 'the runtime imported torch'\n"
        "print('ok', model.card.name, model.card.version)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("ok lip-sync")


def test_a_missing_model_is_a_typed_error(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from fakescope.errors import ModelError
    from fakescope.models import MODELS_ENV, WEIGHTS_DIR

    # A models folder whose card points at weights that are not there.
    (tmp_path / "lip-sync.card.json").write_bytes((WEIGHTS_DIR / "lip-sync.card.json").read_bytes())
    monkeypatch.setenv(MODELS_ENV, str(tmp_path))
    with pytest.raises(ModelError):
        lipsync.LipSyncAnalyzer()


def test_the_sync_timeline_shows_where_a_dub_begins(fitted) -> None:  # type: ignore[no-untyped-def]
    """A clip in step for its first half and repainted 4 frames off for its second (a partial
    dub): the stretches before the cut read in step, those after it out of step."""
    head, _, (rng, a, b) = fitted
    z = _latent(rng, T + 20)
    sound = z[10:T + 10] @ a + 0.3 * rng.normal(size=(T, 384))
    lips_z = np.vstack([z[10:10 + T // 2], z[10 + T // 2 + 4:T + 14]])
    lips = lips_z @ b + 0.3 * rng.normal(size=(T, 80))
    times = np.arange(T) / 12.5
    x, y = head.streams(sound.astype(np.float32), lips.astype(np.float32))
    speech = np.ones(T, bool)
    got = lipsync.sync_over_time(x, y, np.ones(T, bool), speech, times, head.offsets)
    cut = times[T // 2]
    before = [w for w in got if w["end_s"] <= cut]
    after = [w for w in got if w["start_s"] >= cut]
    assert before and after
    assert all(w["in_step"] for w in before)
    assert all(not w["in_step"] and w["offset_ms"] == 320 for w in after)
