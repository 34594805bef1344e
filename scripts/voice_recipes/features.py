"""Voice recipe exploration (scripts/voice_recipes/README.md): corpus, channels and features."""

import csv
import hashlib
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

D = Path("../shared/data/speech")
OUT = Path("runs/vexp")
N_SENT_VARIANTS = 2




def pseudo_entry(key: str, system: str, group: str) -> dict:  # type: ignore[type-arg]
    """A pseudo-fake made here (re-synthesis or a stock TTS voice): one page of its own."""
    return dict(key=key, corpus="pseudo", label=1, system=system, page="pseudo", group=group,
                file="", split="")

def lfcc_bands(x):
    """voice 1.0.0's input (the CNN row): log power on 64 linear bands 0-8 kHz, 25 ms Hann
    frames every 10 ms, each band's mean over the 2 s window removed."""
    from fakescope.analyzers.speech import NFFT, RATE, fit_window, power_spectrum

    bins = np.linspace(0, RATE / 2, NFFT // 2 + 1)
    edges = np.linspace(0, RATE / 2, 66)
    fb = np.stack([np.clip(np.minimum((bins - edges[b]) / (edges[b + 1] - edges[b]),
                                      (edges[b + 2] - bins) / (edges[b + 2] - edges[b + 1])), 0, None)
                   for b in range(64)], axis=1).astype(np.float32)
    logspec = np.log(power_spectrum(fit_window(x)) @ fb + 1e-8).T
    return (logspec - logspec.mean(axis=1, keepdims=True)).astype(np.float32)

def seed(k):
    return int(hashlib.sha1(k.encode()).hexdigest()[:8], 16)


def decode(p):
    from fakescope.media.audio import stream_samples

    b = list(stream_samples(Path(p), 16000, 600.0, 3600.0))
    return np.concatenate(b) if b else np.zeros(0, np.float32)


def sources():
    out = []
    for corpus in ("tts", "vc", "librispeech"):
        for r in csv.DictReader(Path(D / corpus / "labels.csv").read_text().splitlines()):
            lab = 1 if r["label"] in ("spoof", "fake") else 0
            f = r["file"]
            if corpus == "tts":
                page = r["source"].split("@")[0]
                group = "tts:" + page
            elif corpus == "vc":
                page = "vc"
                group = "vc:" + Path(f).stem
            else:
                page = "librispeech"
                group = "ls:" + Path(f).stem.split("-")[0]
            out.append(
                dict(
                    key=f"{corpus}/{f}",
                    corpus=corpus,
                    label=lab,
                    system=r["system"] if lab else "bonafide",
                    page=page,
                    group=group,
                    file=str(D / corpus / f),
                    split=r.get("split", ""),
                )
            )
    return out


def pseudo_job(a):
    from fakescope.synth.voice import pseudo_fakes

    file, key, methods = a
    return pseudo_fakes(decode(file), np.random.default_rng(seed(key)), methods)


def tts_job(a):
    kind, k, v = a
    from fakescope.synth.voice import ESPEAK_VOICES, SENTENCES, tts

    rng = np.random.default_rng(seed(f"{kind}{k}{v}"))
    text = SENTENCES[k]
    if kind == "espeak":
        return tts(
            text, str(rng.choice(ESPEAK_VOICES)), int(rng.integers(120, 200)), int(rng.integers(25, 75))
        )
    from fakescope.synth.neural_tts import READERS

    return READERS[kind](text, rng)


def versions_job(a):
    from fakescope.synth.voice import degrade

    key, x = a
    rng = np.random.default_rng(seed(key) + 11)
    return [x] + [degrade(x, rng) for _ in range(2)]


def main():
    from fakescope.synth.voice import METHODS, SENTENCES

    ents = sources()
    waves = {}
    t0 = time.time()
    with ProcessPoolExecutor(2) as pool:
        for e, x in zip(ents, pool.map(decode, [e["file"] for e in ents], chunksize=8), strict=False):
            waves[e["key"]] = x
        print("decoded", len(ents), time.time() - t0, flush=True)
        reals = [e for e in ents if e["label"] == 0 and e["corpus"] in ("vc", "librispeech")]
        jobs = []
        for e in reals:
            rng = np.random.default_rng(seed(e["key"]))
            ms = tuple(rng.choice(METHODS, 3, replace=False).tolist())
            jobs.append((e["file"], e["key"], ms))
        for e, fakes in zip(reals, pool.map(pseudo_job, jobs), strict=False):
            for m, y in fakes.items():
                k = f"{e['key']}#{m}"
                ents.append(pseudo_entry(k, "resynth:" + m, e["group"]))
                waves[k] = y
        print("pseudo", time.time() - t0, flush=True)
        tj = [
            (kind, k, v)
            for kind in ("espeak", "piper", "hibari")
            for k in range(len(SENTENCES))
            for v in range(N_SENT_VARIANTS)
        ]
        for (kind, k, v), y in zip(tj, pool.map(tts_job, tj), strict=False):
            key = f"tts-{kind}/{k}/{v}"
            ents.append(pseudo_entry(key, "tts:" + kind, f"sent:{k}"))
            waves[key] = y
        print("tts", time.time() - t0, flush=True)
        vers = {}
        for e, vs in zip(
            ents,
            pool.map(versions_job, [(e["key"], waves[e["key"]]) for e in ents], chunksize=8),
            strict=False,
        ):
            vers[e["key"]] = vs
        print("versions", time.time() - t0, flush=True)
    import torch

    from fakescope.analyzers.speech import analyse_window, windows
    from fakescope.analyzers.whisper_mel import log_mel
    from fakescope.train.whisper_encoder import WhisperEncoder, model_file

    torch.set_num_threads(2)
    enc = WhisperEncoder.from_ct2(model_file()).eval()
    (OUT / "waves").mkdir(exist_ok=True)
    for i, e in enumerate(ents):
        np.savez(
            OUT / "waves" / f"{i}.npz",
            *[(np.clip(v, -1, 1) * 32767).astype(np.int16) for v in vers[e["key"]]],
        )
    Path(OUT / "entries.json").write_text(json.dumps([{k: v for k, v in e.items()} for e in ents]))
    W, C, idx = [], [], []
    for i, e in enumerate(ents):
        for v, x in enumerate(vers[e["key"]]):
            ws = [(w, analyse_window(w.samples, w.valid)) for w in windows([x])]
            sp = [(w, f) for w, f in ws if f.speech]
            if not sp:
                continue
            with torch.no_grad():
                outs = enc(torch.from_numpy(np.stack([log_mel(w.samples) for w, _ in sp])))
            W.append(
                torch.cat([torch.cat([o.mean(1), o.std(1)], 1) for o in outs], 1).numpy().astype(np.float16)
            )
            C.append(np.stack([lfcc_bands(w.samples) for w, _ in sp]).astype(np.float16))
            idx += [(i, v)] * len(sp)
        if i % 200 == 0:
            print("feat", i, len(ents), time.time() - t0, flush=True)
    np.savez(OUT / "feats.npz", whisper=np.concatenate(W), cnn=np.concatenate(C), idx=np.array(idx, np.int32))
    Path(OUT / "entries.json").write_text(json.dumps([{k: v for k, v in e.items()} for e in ents]))
    # keep clean waveforms of pseudo fakes for later (channels robustness eval uses shared files)
    print("done", len(ents), len(idx), time.time() - t0, flush=True)


if __name__ == "__main__":
    main()
