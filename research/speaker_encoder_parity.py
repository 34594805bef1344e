"""Does fakescope's speaker encoder (speaker.onnx + fakescope.people.voice_id) embed voices as
Resemblyzer 0.1.4 does, and how well does it tell the same speaker from another (issue 31)?

    python research/speaker_encoder_parity.py --speech ../shared/data/speech/librispeech \\
        --resemblyzer-python /tmp/rvenv/bin/python [--record]

Run with fakescope's environment; Resemblyzer (torch, librosa, webrtcvad) runs in its own
environment, named by ``--resemblyzer-python``, in a subprocess that writes its embeddings
(and webrtcvad's per-window decisions) to a temporary .npz. Per utterance of the sample:

- cosine between Resemblyzer's embedding and fakescope's (whole chain), and fakescope's
  with webrtcvad's decisions in place of its energy detector (isolates the silence trimming);
- same-vs-other speaker EER with fakescope's encoder, pairs built as
  research/voice_identity_study.py builds them (every pair of utterances with at least a
  second of speech; the speaker is the folder under the subset), and Resemblyzer's on the
  same pairs;
- the time fakescope takes to embed a 5 s clip (front end and network) on this machine.

``--record`` writes the figures into speaker.card.json's metrics.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import itertools
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from fakescope.config import MediaLimits
from fakescope.evaluation.metrics import eer
from fakescope.media import decode, read_file
from fakescope.models import card_path
from fakescope.models.card import Metric, ModelCard
from fakescope.people import voice_id

# Runs inside Resemblyzer's environment: argv = the data folder, the output .npz, then files.
RESEMBLYZER_JOB = """
import struct, sys
from pathlib import Path
import numpy as np, webrtcvad
from resemblyzer import VoiceEncoder, preprocess_wav
from resemblyzer.audio import normalize_volume

root, out, files = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
enc = VoiceEncoder("cpu", verbose=False)
res = {}
for i, f in enumerate(files):
    wav = preprocess_wav(root / f)
    res[f"emb{i}"] = enc.embed_utterance(wav) if len(wav) >= 16000 else np.zeros(0, np.float32)
    res[f"len{i}"] = np.array(len(wav))
    # webrtcvad's decisions on the same windows (what trim_long_silences sees).
    import librosa
    x, _ = librosa.load(str(root / f), sr=16000)
    x = normalize_volume(x, -30, increase_only=True)
    n = len(x) - len(x) % 480
    pcm = struct.pack("%dh" % n, *np.round(x[:n] * 32767).astype(np.int16))
    vad = webrtcvad.Vad(mode=3)
    res[f"vad{i}"] = np.array([vad.is_speech(pcm[k * 2:(k + 480) * 2], sample_rate=16000)
                               for k in range(0, n, 480)], bool)
np.savez(out, **res)
"""

COMMAND = ("python research/speaker_encoder_parity.py --speech ../shared/data/speech/librispeech "
           "--resemblyzer-python /tmp/rvenv/bin/python --record")


def resemblyzer_outputs(python: str, root: Path,
                        files: list[str]) -> list[tuple[np.ndarray, int, np.ndarray]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "resemblyzer.npz"
        subprocess.run([python, "-W", "ignore", "-c", RESEMBLYZER_JOB, str(root), str(out), *files],
                       check=True)
        d = np.load(out)
        return [(d[f"emb{i}"], int(d[f"len{i}"]), d[f"vad{i}"]) for i in range(len(files))]


def load(path: Path) -> np.ndarray:
    media = decode(read_file(path, MediaLimits()), MediaLimits())
    return media.samples(voice_id.RATE)  # type: ignore[union-attr]


def pair_scores(items: list[tuple[str, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """(labels: 1 same speaker, cosines) over every pair."""
    y, s = [], []
    for (sa, ea), (sb, eb) in itertools.combinations(items, 2):
        y.append(int(sa == sb))
        s.append(float(ea @ eb))
    return np.array(y), np.array(s)


def study_eer(y: np.ndarray, s: np.ndarray) -> float:
    """research/voice_identity_study.py's EER (the closest of the sampled FRR/FAR pairs,
    averaged), beside metrics.eer's interpolated one, to compare with its 0.003."""
    same, other = s[y == 1], s[y == 0]
    thresholds = np.sort(s)
    frr = np.array([np.mean(same < t) for t in thresholds])
    far = np.array([np.mean(other >= t) for t in thresholds])
    k = int(np.argmin(np.abs(frr - far)))
    return float((frr[k] + far[k]) / 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--speech", type=Path, required=True, help="a folder with labels.csv (file column)")
    ap.add_argument("--resemblyzer-python", required=True, help="a python with resemblyzer 0.1.4 installed")
    ap.add_argument("--repeats", type=int, default=20, help="timed runs of the 5 s clip")
    ap.add_argument("--record", action="store_true", help="write the figures into speaker.card.json")
    args = ap.parse_args()

    with open(args.speech / "labels.csv", newline="", encoding="utf-8") as f:
        files = [r["file"] for r in csv.DictReader(f) if r.get("label", "bonafide") == "bonafide"]
    reference = resemblyzer_outputs(args.resemblyzer_python, args.speech, files)
    encoder = voice_id.SpeakerEncoder()

    cos_chain, cos_vad, length_ratio = [], [], []
    ours, theirs = [], []
    for name, (ref_emb, ref_len, ref_vad) in zip(files, reference, strict=True):
        speaker = Path(name).parts[1]
        x = load(args.speech / name)
        wav = voice_id.preprocess_wav(x, voice_id.RATE)
        emb = encoder.embed(x, voice_id.RATE)
        if ref_emb.size:
            theirs.append((speaker, ref_emb))
        if emb is not None:
            ours.append((speaker, emb))
        if not ref_emb.size or emb is None or wav is None:
            print(f"{name}: under a second of speech (Resemblyzer {ref_len} samples, fakescope "
                  f"{0 if wav is None else len(wav)})")
            continue
        cos_chain.append(float(emb @ ref_emb))
        length_ratio.append(len(wav) / ref_len)
        loud = voice_id.normalize_volume(x)
        assert loud is not None
        with_vad = encoder.embed_utterance(voice_id.trim_long_silences(loud, ref_vad))
        cos_vad.append(float(with_vad @ ref_emb))
    chain, vad = np.array(cos_chain), np.array(cos_vad)
    print(f"cosine to Resemblyzer over {len(chain)} utterances: median {np.median(chain):.4f}, "
          f"min {chain.min():.4f}, 5th percentile {np.percentile(chain, 5):.4f}")
    print(f"  with webrtcvad's decisions instead of the energy detector: median {np.median(vad):.5f}, "
          f"min {vad.min():.5f}")
    print(f"  speech kept after trimming, fakescope / Resemblyzer: median {np.median(length_ratio):.3f}, "
          f"range {min(length_ratio):.3f}-{max(length_ratio):.3f}")

    y, s = pair_scores(ours)
    yr, sr = pair_scores(theirs)
    ours_eer, their_eer = eer(y, s), eer(yr, sr)
    thr = float(np.quantile(s[y == 1], 0.05))
    print(f"{len(ours)} utterances of {len({i[0] for i in ours})} speakers; same-speaker pairs "
          f"{int(y.sum())}, other-speaker pairs {int((y == 0).sum())}")
    print(f"EER fakescope {ours_eer:.4f}, Resemblyzer {their_eer:.4f} (metrics.eer); as the earlier study "
          f"computes it: fakescope {study_eer(y, s):.4f}, Resemblyzer {study_eer(yr, sr):.4f}")
    print(f"at 5 % of same-speaker pairs rejected (cosine {thr:.3f}): {np.mean(s[y == 0] >= thr):.2%} of "
          "other-speaker pairs accepted")

    # Speed: a 5 s stretch of the longest utterance, front end and network together.
    longest = max(files, key=lambda f: (args.speech / f).stat().st_size)
    clip = load(args.speech / longest)[: 5 * voice_id.RATE]
    encoder.embed(clip, voice_id.RATE)  # warm-up
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        encoder.embed(clip, voice_id.RATE)
        times.append(time.perf_counter() - t0)
    ms = 1000 * float(np.median(times))
    print(f"embedding a 5 s clip: median {ms:.1f} ms, fastest {1000 * min(times):.1f} ms "
          f"over {args.repeats} runs")

    if args.record:
        path = card_path(voice_id.MODEL_NAME)
        card = ModelCard.load(path)
        today = dt.date.today()
        dataset = "speech/librispeech (118 read-speech utterances, 98 readers)"
        cosine = "cosine to Resemblyzer 0.1.4's embedding"
        new = [
            Metric(dataset=dataset, name=f"median {cosine}", value=round(float(np.median(chain)), 4),
                   n=len(chain), command=COMMAND, measured=today),
            Metric(dataset=dataset, name=f"smallest {cosine}", value=round(float(chain.min()), 4),
                   n=len(chain), command=COMMAND, measured=today),
            Metric(dataset=dataset, name="eer, same vs other speaker (pairs of utterances)",
                   value=round(ours_eer, 4), n=len(y), command=COMMAND, measured=today),
            Metric(dataset="one 5 s clip, 2 CPU cores",
                   name="milliseconds per embedding (front end and network)",
                   value=round(ms, 1), n=args.repeats, command=COMMAND, measured=today),
        ]
        names = {m.name for m in new}
        card.metrics = [m for m in card.metrics if m.name not in names] + new
        card.save(path)
        print(f"recorded in {path}")


if __name__ == "__main__":
    main()
