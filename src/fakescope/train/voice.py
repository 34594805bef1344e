"""Training the voice model: bona fide vs synthesised/converted speech (``fakescope train voice``).

Data (``--data``, default ``../shared/data/speech``):
- ``vc/``: real utterances of two speakers and their voice conversions by three systems.
  Groups are utterances: a conversion of utterance k shares its words with the real
  utterance k, so both always land on the same side of a split.
- ``librispeech/``: read speech recorded differently from ``vc`` (groups: speakers).
- pseudo-fakes re-synthesised from *every* real utterance of both corpora
  (``fakescope.synth.voice``: WORLD, Griffin-Lim, phase-vocoder pitch shifts) and espeak-ng
  readings of public-domain sentences. Both corpora contribute reals *and* fakes, and
  each band of the features is mean-normalised, so the recording is no shortcut.

Every waveform is kept clean, three times through a random channel (room, codecs,
telephone band, noise, gain, clipping) and once hard-clipped. Batches are half real
(half each corpus), half fake (dataset conversions, pseudo-fakes of each corpus, TTS),
random 2 s crops of windows that voice activity detection calls speech, with SpecAugment
masks.

Evaluation is per file, as the runtime does it (``speech.windows`` + the analyzer's
trimmed mean of speech-window logits). ``--holdout-system`` runs leave-one-system-out:
the system's conversions never reach training, and folds over utterance groups make
sure no tested real utterance (nor its words) was trained on either.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import logging
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fakescope.analyzers.speech import (
    FRAMES,
    HOP,
    N_BANDS,
    RATE,
    VAD_VERSION,
    analyse_window,
    power_spectrum,
    windows,
)
from fakescope.analyzers.voice import trimmed_mean
from fakescope.evaluation.calibration import fit_platt
from fakescope.evaluation.metrics import auc, eer

log = logging.getLogger("fakescope.train")

SYSTEMS = ("ALGAN-VC", "CycleGAN-VC", "CycleGAN-VC2")
GRID = 25  # candidate crop starts every 0.25 s
_VERSION_P = np.array([0.3, 0.2, 0.1, 0.2, 0.2])  # clean, a channel, clipped, two more channels


@dataclass
class VoiceConfig:
    data_dir: Path = Path("../shared/data/speech")
    out_dir: Path = Path("runs/voice")
    cache_dir: Path = Path("runs/voice-cache")
    holdout_system: str | None = None
    folds: int = 3
    steps: int = 900
    batch_size: int = 32
    lr: float = 2e-3
    seed: int = 0
    calib_fraction: float = 0.2
    dataset_fakes: bool = True
    pseudo: bool = True
    workers: int = 2
    name: str = "voice"
    version: str = "1.0.0"
    command: str = ""


# --- the network --------------------------------------------------------------------------
class VoiceNet(nn.Module):
    """Four conv blocks over (band, time); mean over time keeps *where in frequency* the
    evidence is (vocoder traces sit in particular bands), then one linear layer."""

    def __init__(self, chans: tuple[int, ...] = (1, 12, 24, 48, 64)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(4):
            # A strided first layer: full-resolution maps cost most of the time on a CPU.
            layers += [nn.Conv2d(chans[i], chans[i + 1], 3, stride=2 if i == 0 else 1, padding=1, bias=False),
                       nn.BatchNorm2d(chans[i + 1]), nn.ReLU(inplace=True)]
            if 0 < i < 3:
                layers.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*layers)
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(chans[-1] * (N_BANDS // 8), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x).mean(dim=3)  # (N, C, bands/8)
        return self.head(self.drop(h.flatten(1)))


# --- data ------------------------------------------------------------------------------------
@dataclass
class Entry:
    key: str
    corpus: str  # vc | librispeech | tts
    label: int  # 1 = spoof
    kind: str  # bonafide, a VC system, a pseudo-fake method, tts
    group: str
    file: str = ""
    parent: str = ""  # pseudo-fakes: the real utterance they were made from
    clean: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16), repr=False)
    deg: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16), repr=False)
    fb: list[np.ndarray] = field(default_factory=list, repr=False)  # pre-normalisation, clean/deg
    starts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32), repr=False)


def _decode(path: Path) -> np.ndarray:
    from fakescope.media.audio import stream_samples

    blocks = list(stream_samples(path, RATE, 600.0, 3600.0))
    return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)


def _group(corpus: str, file: str) -> str:
    if corpus == "vc":
        return "vc:" + Path(file).stem  # Voice_k: the real utterance k and its conversions
    return "ls:" + Path(file).stem.split("-")[0]  # LibriSpeech speaker (file names: speaker-chapter-n)


def list_sources(data_dir: Path) -> list[Entry]:
    out: list[Entry] = []
    for corpus in ("vc", "librispeech"):
        labels = data_dir / corpus / "labels.csv"
        if not labels.is_file():
            continue
        with open(labels, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                label = 1 if row["label"].strip().lower() in ("spoof", "fake") else 0
                kind = row.get("system", "") if label else "bonafide"
                out.append(Entry(key=f"{corpus}/{row['file']}", corpus=corpus, label=label, kind=kind,
                                 group=_group(corpus, row["file"]),
                                 file=str(data_dir / corpus / row["file"])))
    return out


def _lograw(x: np.ndarray) -> np.ndarray:
    from fakescope.analyzers.speech import _FB

    if len(x) < 400:
        x = np.pad(x, (0, 400 - len(x)))
    return np.log(power_spectrum(x) @ _FB + 1e-8).T.astype(np.float16)


def _speech_starts(x: np.ndarray) -> np.ndarray:
    """Frame indices (on a 0.25 s grid) where a 2 s window holds speech."""
    n_frames = 1 + (len(x) - 400) // HOP
    cands = list(range(0, max(1, n_frames - FRAMES + 1), GRID))
    ok = [f for f in cands if analyse_window(x[f * HOP : f * HOP + 32000]).speech]
    return np.array(ok or cands, np.int32)


def _prepare_one(args: tuple[str, str, np.ndarray | None, int]) -> dict[str, np.ndarray]:
    """Clean + degraded waveform and their raw log filterbanks."""
    from fakescope.synth.voice import degrade

    file, _key, wave, seed = args
    x = _decode(Path(file)) if wave is None else wave
    rng = np.random.default_rng(seed)
    d = degrade(x, rng)

    def to16(a: np.ndarray) -> np.ndarray:
        return (np.clip(a, -1, 1) * 32767).astype(np.int16)

    return {"clean": to16(x), "deg": to16(d), "fb0": _lograw(x), "fb1": _lograw(d)}


def _seed(key: str) -> int:
    return int(hashlib.sha1(key.encode()).hexdigest()[:8], 16)


def _cache_name(key: str) -> str:
    return hashlib.sha1(key.encode()).hexdigest()[:16] + ".npz"


def _pseudo_job(args: tuple[str, int, tuple[str, ...]]) -> dict[str, np.ndarray]:
    from fakescope.synth.voice import pseudo_fakes

    file, seed, methods = args
    return pseudo_fakes(_decode(Path(file)), np.random.default_rng(seed), methods)


def _tts_job(args: tuple[int, str, int, int, int]) -> np.ndarray:
    from fakescope.synth.voice import SENTENCES, tts

    k, voice, speed, pitch, _seed = args
    return tts(SENTENCES[k % len(SENTENCES)], voice, speed, pitch)


def build(cfg: VoiceConfig) -> list[Entry]:
    """Every entry with its waveforms and features, from the cache when possible."""
    from fakescope.synth.voice import ESPEAK_VOICES, METHODS, SENTENCES, espeak_available

    cfg.cache_dir.mkdir(parents=True, exist_ok=True)
    entries = list_sources(cfg.data_dir)
    if not entries:
        raise FileNotFoundError(f"no speech data under {cfg.data_dir} (vc/ and librispeech/ labels.csv)")
    reals = [e for e in entries if e.label == 0]
    waves: dict[str, np.ndarray] = {}
    if cfg.pseudo:
        todo = [e for e in reals
                if not all((cfg.cache_dir / _cache_name(f"{e.key}#{m}")).is_file() for m in METHODS)]
        if todo:
            log.info("synthesising pseudo-fakes for %d real utterances", len(todo))
            with ProcessPoolExecutor(cfg.workers) as pool:
                jobs = [(e.file, _seed(e.key), METHODS) for e in todo]
                for e, fakes in zip(todo, pool.map(_pseudo_job, jobs), strict=True):
                    for m, y in fakes.items():
                        waves[f"{e.key}#{m}"] = y
        for e in reals:
            for m in METHODS:
                entries.append(Entry(key=f"{e.key}#{m}", corpus=e.corpus, label=1, kind=m, group=e.group,
                                     parent=e.key))
        if espeak_available():
            rng = np.random.default_rng(cfg.seed + 7)
            specs = [(k, str(rng.choice(ESPEAK_VOICES)), int(rng.integers(120, 200)),
                      int(rng.integers(25, 75)), k) for k in range(3 * len(SENTENCES))]
            todo_t = [s for s in specs if not (cfg.cache_dir / _cache_name(f"tts/{s[0]}")).is_file()]
            if todo_t:
                log.info("espeak-ng: %d readings", len(todo_t))
                with ProcessPoolExecutor(cfg.workers) as pool:
                    for s, y in zip(todo_t, pool.map(_tts_job, todo_t), strict=True):
                        waves[f"tts/{s[0]}"] = y
            for s in specs:
                # Readings of one sentence share a group: the words never straddle a split.
                entries.append(Entry(key=f"tts/{s[0]}", corpus="tts", label=1, kind="tts",
                                     group=f"tts:{s[0] % len(SENTENCES)}"))
        else:
            log.warning("espeak-ng is not installed: no TTS pseudo-fakes (apt-get install espeak-ng)")
    missing = [e for e in entries if not (cfg.cache_dir / _cache_name(e.key)).is_file()]
    if missing:
        log.info("preparing %d waveforms (clean + one degraded copy each)", len(missing))
        jobs = [(e.file, e.key, waves.get(e.key), _seed(e.key)) for e in missing]
        with ProcessPoolExecutor(cfg.workers) as pool:
            for e, res in zip(missing, pool.map(_prepare_one, jobs, chunksize=4), strict=True):
                np.savez(cfg.cache_dir / _cache_name(e.key), **res)
    for e in entries:
        with np.load(cfg.cache_dir / _cache_name(e.key)) as z:
            e.clean, e.deg, e.fb = z["clean"], z["deg"], [z["fb0"], z["fb1"]]
    _add_extras(entries, cfg)
    return entries


def _extras_job(args: tuple[np.ndarray, int]) -> tuple[np.ndarray, np.ndarray]:
    clean, seed = args
    x = clean.astype(np.float32) / 32767.0
    rng = np.random.default_rng(seed + 1)
    # Hard clipping (an overdriven microphone) for both classes, so it is never a fake cue.
    peak = float(np.abs(x).max()) + 1e-6
    clip = np.clip(x / peak * rng.uniform(2.0, 10.0), -1, 1).astype(np.float32)
    return _speech_starts(x), _lograw(clip)


def _add_extras(entries: list[Entry], cfg: VoiceConfig) -> None:
    """Crop starts under the current voice activity detector, and a clipped copy's features
    (cached beside each entry; recomputed when ``VAD_VERSION`` changes)."""
    def paths(e: Entry) -> tuple[Path, Path]:
        stem = cfg.cache_dir / _cache_name(e.key)[:-4]
        return stem.with_suffix(f".starts{VAD_VERSION}.npy"), stem.with_suffix(".clip.npy")

    todo = [e for e in entries if not all(p.is_file() for p in paths(e))]
    if todo:
        log.info("voice activity and clipped copies for %d entries", len(todo))
        with ProcessPoolExecutor(cfg.workers) as pool:
            for e, (starts, fb) in zip(todo, pool.map(_extras_job, [(e.clean, _seed(e.key)) for e in todo],
                                                         chunksize=8), strict=True):
                np.save(paths(e)[0], starts)
                np.save(paths(e)[1], fb)
    for e in entries:
        e.starts = np.load(paths(e)[0])
        e.fb.append(np.load(paths(e)[1]))
    _add_channels(entries, cfg)


CHANNELS = 2  # extra random channels per waveform, beyond the one in the main cache file


def _channels_job(args: tuple[np.ndarray, int]) -> list[np.ndarray]:
    from fakescope.synth.voice import degrade

    clean, seed = args
    rng = np.random.default_rng(seed + 2)
    x = clean.astype(np.float32) / 32767.0
    return [_lograw(degrade(x, rng)) for _ in range(CHANNELS)]


def _add_channels(entries: list[Entry], cfg: VoiceConfig) -> None:
    """More random channels per waveform (rooms, double compression...), features only."""
    def path(e: Entry) -> Path:
        return (cfg.cache_dir / _cache_name(e.key)[:-4]).with_suffix(f".ch{CHANNELS}.npz")

    todo = [e for e in entries if not path(e).is_file()]
    if todo:
        log.info("%d more random channels for %d entries", CHANNELS, len(todo))
        with ProcessPoolExecutor(cfg.workers) as pool:
            for e, fbs in zip(todo, pool.map(_channels_job, [(e.clean, _seed(e.key)) for e in todo],
                                             chunksize=8), strict=True):
                np.savez(path(e), *fbs)
    for e in entries:
        with np.load(path(e)) as z:
            e.fb += [z[f"arr_{i}"] for i in range(CHANNELS)]


# --- sampling and training ---------------------------------------------------------------------
def _crop(e: Entry, rng: np.random.Generator, augment: bool) -> np.ndarray:
    fb = e.fb[int(rng.choice(len(e.fb), p=_VERSION_P[: len(e.fb)] / _VERSION_P[: len(e.fb)].sum()))]
    fb = fb.astype(np.float32)
    if fb.shape[1] < FRAMES:
        fb = np.tile(fb, (1, FRAMES // fb.shape[1] + 1))
    start = int(rng.choice(e.starts)) + int(rng.integers(-GRID // 2, GRID // 2 + 1))
    start = min(max(0, start), fb.shape[1] - FRAMES)
    x = fb[:, start : start + FRAMES]
    x = x - x.mean(axis=1, keepdims=True)
    if augment:
        x = x.copy()
        for _ in range(2):
            w = int(rng.integers(0, 8))
            f0 = int(rng.integers(0, N_BANDS - w + 1))
            x[f0 : f0 + w] = 0.0
            w = int(rng.integers(0, 20))
            t0 = int(rng.integers(0, FRAMES - w + 1))
            x[:, t0 : t0 + w] = 0.0
    return x


def _pools(train: list[Entry], use_dataset_fakes: bool) -> list[tuple[float, list[Entry]]]:
    def pick(**kw: Any) -> list[Entry]:
        return [e for e in train if all(getattr(e, k) == v for k, v in kw.items())]

    real_vc, real_ls = pick(label=0, corpus="vc"), pick(label=0, corpus="librispeech")
    spoof = [e for e in train if e.label == 1 and e.kind in SYSTEMS] if use_dataset_fakes else []
    pseudo_vc = [e for e in pick(label=1, corpus="vc") if e.kind not in SYSTEMS]
    pseudo_ls = pick(label=1, corpus="librispeech")
    tts = pick(label=1, corpus="tts")
    fake = [(0.3, spoof), (0.3, pseudo_vc), (0.3, pseudo_ls), (0.1, tts)]
    fake = [(w, p) for w, p in fake if p]
    total = sum(w for w, _ in fake)
    pools = [(0.25, real_vc), (0.25, real_ls)] + [(0.5 * w / total, p) for w, p in fake]
    return [(w, p) for w, p in pools if p]


def train_model(train: list[Entry], cfg: VoiceConfig, seed: int) -> VoiceNet:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    pools = _pools(train, cfg.dataset_fakes)
    weights = np.array([w for w, _ in pools])
    weights /= weights.sum()
    model = VoiceNet()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.15)
    lossf = nn.BCEWithLogitsLoss()
    t0 = time.time()
    model.train()
    for step in range(cfg.steps):
        which = rng.choice(len(pools), cfg.batch_size, p=weights)
        batch = [pools[i][1][int(rng.integers(len(pools[i][1])))] for i in which]
        x = torch.from_numpy(np.stack([_crop(e, rng, True) for e in batch])[:, None])
        y = torch.tensor([[float(e.label)] for e in batch])
        loss = lossf(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 200 == 0 or step == cfg.steps - 1:
            log.info("step %d/%d loss %.4f (%.0f s)", step, cfg.steps, loss.item(), time.time() - t0)
    model.eval()
    return model


def file_logit(model: VoiceNet, wave: np.ndarray) -> float | None:
    """The runtime's file logit: trimmed mean over speech windows (None: no speech)."""
    x = wave.astype(np.float32) / 32767.0 if wave.dtype == np.int16 else wave
    feats = []
    for w in windows([x]):
        fr = analyse_window(w.samples, w.valid)
        if fr.speech:
            feats.append(fr.features)
    if not feats:
        return None
    with torch.no_grad():
        lg = model(torch.from_numpy(np.stack(feats)[:, None])).numpy()[:, 0]
    return trimmed_mean([float(v) for v in lg])


def _score(model: VoiceNet, items: list[Entry]) -> list[tuple[Entry, float]]:
    out = []
    for e in items:
        lg = file_logit(model, e.clean)
        out.append((e, lg if lg is not None else 0.0))
    return out


def _group_folds(groups: list[str], k: int, seed: int) -> dict[str, int]:
    uniq = sorted(set(groups))
    rng = np.random.default_rng(seed)
    rng.shuffle(uniq)
    return {g: i % k for i, g in enumerate(uniq)}


def _metrics(scored: list[tuple[Entry, float]]) -> dict[str, float]:
    y = np.array([e.label for e, _ in scored])
    s = np.array([v for _, v in scored])
    return {"n": len(y), "n_spoof": int(y.sum()), "eer": eer(y, s), "auc": auc(y, s)}


# --- leave one system out --------------------------------------------------------------------
def loso(cfg: VoiceConfig, entries: list[Entry] | None = None) -> dict[str, Any]:
    """Train without ``cfg.holdout_system``; test on it, fold by fold over utterance groups."""
    assert cfg.holdout_system in SYSTEMS, f"--holdout-system must be one of {SYSTEMS}"
    entries = entries if entries is not None else build(cfg)
    folds = _group_folds([e.group for e in entries if e.corpus != "tts"], cfg.folds, cfg.seed)
    tested: list[tuple[Entry, float]] = []
    seen: list[tuple[Entry, float]] = []
    corpora: list[tuple[Entry, float]] = []
    for k in range(cfg.folds):
        test_groups = {g for g, f in folds.items() if f == k}
        train = [e for e in entries if e.group not in test_groups and e.kind != cfg.holdout_system]
        log.info("fold %d/%d: %d training entries", k + 1, cfg.folds, len(train))
        model = train_model(train, cfg, cfg.seed + k)
        test = [e for e in entries if e.group in test_groups and e.corpus == "vc"]
        tested += _score(model, [e for e in test if e.kind in ("bonafide", cfg.holdout_system)])
        seen += _score(model, [e for e in test if e.kind == "bonafide" or (e.kind in SYSTEMS
                               and e.kind != cfg.holdout_system)])
        corpora += _score(model, [e for e in entries if e.group in test_groups and e.label == 0])
    y = np.array([1 if e.corpus == "librispeech" else 0 for e, _ in corpora])
    s = np.array([v for _, v in corpora])
    return {
        "holdout_system": cfg.holdout_system, "folds": cfg.folds, "steps": cfg.steps,
        "unseen": _metrics(tested), "seen_systems": _metrics(seen),
        "corpus_auc_librispeech_vs_vc_real": auc(y, s),
        "real_mean_logit": {"vc": float(s[y == 0].mean()), "librispeech": float(s[y == 1].mean())},
    }


def leave_all_out(cfg: VoiceConfig, entries: list[Entry] | None = None) -> list[dict[str, Any]]:
    """Every VC system held out at once: train on real speech and pseudo-fakes only, then
    test each system's conversions against held-out real utterances (folds over utterance
    groups). A harder test than leaving one system out, and a third of its cost: one model
    per fold serves all three systems."""
    entries = entries if entries is not None else build(cfg)
    folds = _group_folds([e.group for e in entries if e.corpus != "tts"], cfg.folds, cfg.seed)
    tested: dict[str, list[tuple[Entry, float]]] = {s: [] for s in SYSTEMS}
    corpora: list[tuple[Entry, float]] = []
    for k in range(cfg.folds):
        test_groups = {g for g, f in folds.items() if f == k}
        train = [e for e in entries if e.group not in test_groups and e.kind not in SYSTEMS]
        log.info("fold %d/%d: %d training entries (no VC system)", k + 1, cfg.folds, len(train))
        model = train_model(train, cfg, cfg.seed + k)
        test = [e for e in entries if e.group in test_groups and e.corpus == "vc"]
        judged = [e for e in test if e.kind in ("bonafide", *SYSTEMS)]
        scored = {e.key: v for e, v in _score(model, judged)}
        for system in SYSTEMS:
            tested[system] += [(e, scored[e.key]) for e in test if e.kind in ("bonafide", system)]
        corpora += _score(model, [e for e in entries if e.group in test_groups and e.label == 0])
    y = np.array([1 if e.corpus == "librispeech" else 0 for e, _ in corpora])
    s = np.array([v for _, v in corpora])
    shared = {"folds": cfg.folds, "steps": cfg.steps, "corpus_auc_librispeech_vs_vc_real": auc(y, s),
              "real_mean_logit": {"vc": float(s[y == 0].mean()), "librispeech": float(s[y == 1].mean())}}
    return [{"holdout_system": system, "held_out": "all three systems", "unseen": _metrics(tested[system]),
             **shared} for system in SYSTEMS]


# --- the shipped model --------------------------------------------------------------------------
def train_final(cfg: VoiceConfig) -> Path:
    """Train on every system; calibrate (Platt, file level) on held-out groups; export."""
    from fakescope.train.export import export_voice

    entries = build(cfg)
    # Stratified: vc utterances with a real recording, vc utterances with conversions only,
    # and LibriSpeech speakers each give ``calib_fraction`` of their groups, so both corpora
    # have reals in the calibration set.
    real_groups = {e.group for e in entries if e.label == 0}
    strata = [sorted({e.group for e in entries if e.corpus == "vc" and e.group in real_groups}),
              sorted({e.group for e in entries if e.corpus == "vc" and e.group not in real_groups}),
              sorted({e.group for e in entries if e.corpus == "librispeech"})]
    rng = np.random.default_rng(cfg.seed)
    held: set[str] = set()
    for groups in strata:
        if groups:
            n = max(1, round(cfg.calib_fraction * len(groups)))
            held |= set(rng.choice(groups, n, replace=False).tolist())
    train = [e for e in entries if e.group not in held]
    model = train_model(train, cfg, cfg.seed)
    cal_items = [e for e in entries if e.group in held]
    scored = _score(model, cal_items)
    y = np.array([e.label for e, _ in scored])
    s = np.array([v for _, v in scored])
    # Pseudo-fakes outnumber reals ~7:1; repeating the reals balances the classes so the
    # calibration does not inherit the held-out set's prior.
    reps = max(1, round(y.sum() / max(1, (1 - y).sum())))
    extra = np.repeat(s[y == 0], reps - 1)
    a, b = fit_platt(np.r_[s, extra], np.r_[y, np.zeros(len(extra))])
    vc = [(e, v) for e, v in scored if e.corpus == "vc" and e.kind in ("bonafide", *SYSTEMS)]
    reals = [(e, v) for e, v in scored if e.label == 0]
    yc = np.array([1 if e.corpus == "librispeech" else 0 for e, _ in reals])
    summary = {
        "held_out_groups": len(held), "calibration": (a, b),
        "heldout_all": _metrics(scored), "heldout_vc": _metrics(vc),
        "heldout_pseudo": _metrics([(e, v) for e, v in scored if e.label == 0 or e.kind not in SYSTEMS]),
        "corpus_auc_librispeech_vs_vc_real": (auc(yc, np.array([v for _, v in reals]))
                                              if 0 < yc.sum() < len(yc) else float("nan")),
        "date": dt.date.today().isoformat(),
    }
    log.info("held-out: %s", summary)
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    return export_voice(model, cfg, (a, b), summary)
