"""Build the bundle that lets a deployment retrain the voice model's head from its reviews
(``fakescope train voice-head --feedback``; issue 30, docs/feedback.md):

    python scripts/voice_feedback_bundle.py \\
        --features runs/voice-cache/features-v1-L2-eq-int8b1-5628.npz \\
        --out src/fakescope/models/weights/voice.feedback.npz

A challenger moves each speech window's spoof logit by ``h · d + b``, ``h`` the 128 hidden
activations of the head's MLP (``feedback/voice_head.py``). The file logit is the 10 %
trimmed mean of window logits, which drops ``int(0.1 n)`` windows at each end: none while a
file has at most ``MAX_WINDOWS`` = 9. So each bundled file keeps its first 9 speech
windows at most, and its logit under any challenger is exactly ``mean logit + mean h · d +
b``: per file the bundle stores the mean of ``h`` and of the shipped logit, not the windows
(128 numbers a file instead of up to 9 x 129; 1 % of the corpus's files have more windows).

The files are (clip, version) pairs of the corpus the shipped head learned its score from
(no trace-kind pairs, no HiFi-GAN twins: trained with ``--no-twins``), the version (clean or
one of its two channel copies) drawn per clip. Two disjoint samples of clips, stratified by
source (a demo page or page family, vc, LibriSpeech; for the pseudo-fakes made here, their
method) and class, up to ``PER_SOURCE`` clips each:

- *replay*: fitted beside the reviews, so real-only reviews cannot teach the head that
  every voice is real;
- *guard*: never fitted on: the benchmark a challenger must not do worse on. The shipped
  head was trained on these clips, so the comparison leans towards it.

``h`` comes from the cached pooled statistics (``/Concat_output_0``, stored as float16) and
the head's initializers read from voice.onnx (a few protobuf fields, no ``onnx`` package):
standardised by ``head.mu``/``head.sd``, ``head.net.1``, exact (erf) GELU; the shipped
logit is ``head.net.4`` of it. The script checks both, on a few files' windows decoded from
the cache, against what onnxruntime returns through the added outputs. Deterministic: the
same inputs give the same bundle.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from fakescope.models.clip import read_varint

MAX_WINDOWS = 9  # int(0.1 * 9) == 0: the trimmed mean of a bundled file is its plain mean
PER_SOURCE = 24
CHECK_FILES = 3
HIDDEN = "/head/net/net.2/Mul_1_output_0"
POOLED = "/Concat_output_0"
HEAD_TENSORS = ("head.mu", "head.sd", "head.net.1.weight_Transposed", "head.net.1.bias",
                "head.net.4.weight_Transposed", "head.net.4.bias")


def _fields(buf: bytes) -> list[tuple[int, int, int | bytes]]:
    """A protobuf message's (field number, wire type, value or bytes), in order."""
    out: list[tuple[int, int, int | bytes]] = []
    i = 0
    while i < len(buf):
        tag, i = read_varint(buf, i)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            v, i = read_varint(buf, i)
            out.append((number, wire, v))
        elif wire == 1:
            out.append((number, wire, buf[i : i + 8]))
            i += 8
        elif wire == 5:
            out.append((number, wire, buf[i : i + 4]))
            i += 4
        elif wire == 2:
            n, i = read_varint(buf, i)
            out.append((number, wire, buf[i : i + n]))
            i += n
        else:
            raise SystemExit(f"unexpected protobuf wire type {wire}")
    return out


def float_initializers(model: bytes, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The named float initializers of an ONNX model (ModelProto.graph = 7, GraphProto.initializer
    = 5; TensorProto: dims 1, data_type 2, float_data 4, name 8, raw_data 9)."""
    graph = next(v for n, w, v in _fields(model) if n == 7 and w == 2)
    out: dict[str, np.ndarray] = {}
    for n, w, tensor in _fields(graph):  # type: ignore[arg-type]
        if n != 5 or w != 2:
            continue
        dims: list[int] = []
        name, data, dtype = "", b"", 1
        for fn, fw, v in _fields(tensor):  # type: ignore[arg-type]
            if fn == 1 and fw == 0:
                dims.append(int(v))  # type: ignore[arg-type]
            elif fn == 1 and fw == 2:  # packed dims
                j = 0
                while j < len(v):  # type: ignore[arg-type]
                    d, j = read_varint(v, j)  # type: ignore[arg-type]
                    dims.append(d)
            elif fn == 2:
                dtype = int(v)  # type: ignore[arg-type]
            elif fn == 8:
                name = bytes(v).decode()  # type: ignore[arg-type]
            elif fn in (4, 9) and fw == 2:
                data = bytes(v)  # type: ignore[arg-type]
        if name in names:
            if dtype != 1:
                raise SystemExit(f"{name} is not a float tensor (type {dtype})")
            out[name] = np.frombuffer(data, "<f4").reshape(dims).astype(np.float64)
    missing = sorted(set(names) - set(out))
    if missing:
        raise SystemExit(f"voice.onnx has no initializers {missing}: not the head this script knows")
    return out


_erf = np.vectorize(math.erf, otypes=[np.float64])


def hidden(w: dict[str, np.ndarray], pooled: np.ndarray) -> np.ndarray:
    """The MLP's hidden activations (N, 128) of pooled statistics (N, 1536), as the graph computes
    them: standardised, ``head.net.1``, GELU in its exact erf form."""
    u = ((np.asarray(pooled, np.float64) - w["head.mu"]) / w["head.sd"]) @ w["head.net.1.weight_Transposed"]
    u = u + w["head.net.1.bias"]
    return u * (_erf(u / math.sqrt(2.0)) + 1.0) * 0.5


def head_logit(w: dict[str, np.ndarray], h: np.ndarray) -> np.ndarray:
    return (h @ w["head.net.4.weight_Transposed"])[:, 0] + w["head.net.4.bias"][0]


def clip_listing(features: Path) -> list[dict[str, object]]:
    """The clip list the feature file indexes: the cached listing of as many clips."""
    n = int(features.stem.rsplit("-", 1)[1])
    for listing in sorted(features.parent.glob("clips-v1*.json")):
        clips = json.loads(listing.read_text())
        if len(clips) == n:
            return list(clips)
    raise SystemExit(f"no clips-v1*.json of {n} clips beside {features}")


def source_of(c: dict[str, object]) -> str:
    """A real recording's source (its page or page family, vc, LibriSpeech); a clip made here
    (pseudo-fake), the method that made it."""
    return str(c["system"] if c["corpus"] == "pseudo" else c["page"])


def check(w: dict[str, np.ndarray], model: bytes, cache: Path, clips: list[dict[str, object]],
          files: list[tuple[int, int, np.ndarray]], pooled: np.ndarray) -> str:
    """numpy's h and logit against onnxruntime's through the added outputs, on a few files'
    windows decoded from the cache; and the cached pooled statistics against the graph's."""
    import onnxruntime as ort

    from fakescope.analyzers.whisper_mel import log_mel
    from fakescope.models.clip import with_outputs
    from fakescope.train.voice_corpus import Clip, load_versions, speech_windows

    sess = ort.InferenceSession(with_outputs(model, [HIDDEN, POOLED]), providers=["CPUExecutionProvider"])
    dh = dl = dp = dc = 0.0
    n = 0
    for ci, version, rows in files:
        ws = speech_windows(load_versions(cache, Clip(**clips[ci]))[version])  # type: ignore[arg-type]
        for k, (win, row) in enumerate(zip(ws, rows, strict=False)):
            if k >= MAX_WINDOWS:
                break
            x = log_mel(win)[None].astype(np.float32)
            logit, h, p = sess.run(["logit", HIDDEN, POOLED], {"input": x})
            mine = hidden(w, p)
            dh = max(dh, float(np.abs(mine - h).max()))
            dl = max(dl, abs(float(head_logit(w, mine)[0]) - float(logit[0, 0])))
            dp = max(dp, float(np.abs(p[0] - pooled[row].astype(np.float32)).max() / (np.abs(p[0]).max())))
            dc = max(dc, abs(float(head_logit(w, hidden(w, pooled[row][None]))[0]) - float(logit[0, 0])))
            n += 1
    if dh > 1e-4 or dl > 1e-4:
        raise SystemExit(f"numpy's head differs from the graph's: h by {dh:.2g}, logit by {dl:.2g}")
    if dc > 0.05:
        raise SystemExit(f"the cached features are not the shipped encoder's: logits differ by {dc:.2g}")
    return (f"checked {n} windows of {len(files)} files against onnxruntime: h within {dh:.1g}, logit within "
            f"{dl:.1g}; from the float16 cache: pooled within {dp:.1g} (relative), logit within {dc:.2g}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--features", type=Path,
                    default=Path("runs/voice-cache/features-v1-L2-eq-int8b1-5628.npz"),
                    help="The pooled features the shipped head was trained on (train voice's cache).")
    ap.add_argument("--model", type=Path, default=Path("src/fakescope/models/weights/voice.onnx"))
    ap.add_argument("--out", type=Path, default=Path("src/fakescope/models/weights/voice.feedback.npz"))
    ap.add_argument("--per-source", type=int, default=PER_SOURCE)
    args = ap.parse_args()

    model = args.model.read_bytes()
    w = float_initializers(model, HEAD_TENSORS)
    clips = clip_listing(args.features)
    with np.load(args.features) as z:
        pooled, clip_of, version_of = z["full"], z["clip"].astype(np.int64), z["version"].astype(np.int64)
    rows_of: dict[tuple[int, int], list[int]] = defaultdict(list)
    for r, (c, v) in enumerate(zip(clip_of.tolist(), version_of.tolist(), strict=True)):
        rows_of[(c, v)].append(r)
    versions_of: dict[int, list[int]] = defaultdict(list)
    for c, v in sorted(rows_of):
        versions_of[c].append(v)

    # What the score head learned from (VoiceConfig.twins False): no kind pairs, no HiFi-GAN twins.
    eligible = [i for i, c in enumerate(clips) if c["corpus"] != "kind"
                and not str(c["system"]).startswith("resynth:hifigan") and versions_of.get(i)]
    strata: dict[tuple[str, int], list[int]] = defaultdict(list)
    for i in eligible:
        strata[(source_of(clips[i]), int(clips[i]["label"]))].append(i)  # type: ignore[call-overload]
    rng = np.random.default_rng(0)
    parts: dict[str, list[tuple[int, int, np.ndarray]]] = {"replay": [], "guard": []}
    for key in sorted(strata):
        take = rng.permutation(strata[key])[: 2 * args.per_source]
        for k, ci in enumerate(take.tolist()):
            vs = versions_of[ci]
            v = vs[int(rng.integers(len(vs)))]
            rows = np.array(rows_of[(ci, v)][:MAX_WINDOWS])
            parts["replay" if k % 2 == 0 else "guard"].append((ci, v, rows))

    out: dict[str, np.ndarray] = {}
    for name, files in parts.items():
        zs, logits = [], []
        for _, _, rows in files:
            h = hidden(w, pooled[rows])
            zs.append(h.mean(0))
            logits.append(head_logit(w, h).mean())
        out[f"{name}_z"] = np.stack(zs).astype(np.float32)
        out[f"{name}_logit"] = np.array(logits, np.float32)
        out[f"{name}_label"] = np.array([clips[ci]["label"] for ci, _, _ in files], np.int8)
        out[f"{name}_source"] = np.array([source_of(clips[ci]) for ci, _, _ in files])
        out[f"{name}_file"] = np.array([f"{clips[ci]['key']}@{v}" for ci, v, _ in files])
        out[f"{name}_windows"] = np.array([len(rows) for _, _, rows in files], np.int8)
    # A few files with several windows, of both classes, from the replay side.
    replay = parts["replay"]
    picks = [f for f in replay if len(f[2]) >= 3 and clips[f[0]]["label"] == 0][:2]
    picks += [f for f in replay if len(f[2]) >= 3 and clips[f[0]]["label"] == 1][: CHECK_FILES - len(picks)]
    print(check(w, model, args.features.parent, clips, picks, pooled))

    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, head_sha256=np.array(hashlib.sha256(model).hexdigest()),
                        hidden_output=np.array(HIDDEN), max_windows=np.array(MAX_WINDOWS), **out)
    for name in parts:
        y = out[f"{name}_label"]
        n_windows, n_sources = int(out[f"{name}_windows"].sum()), len(set(out[f"{name}_source"].tolist()))
        print(f"{name}: {len(y)} files ({int(y.sum())} synthetic), {n_windows} windows, {n_sources} sources")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
