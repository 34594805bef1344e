"""Training the voice model: bona fide vs synthesised/converted speech (``fakescope train voice``).

The model (``VoiceModel``): Whisper log-mel of a 2 s window -> the first ``layers`` blocks
of Whisper tiny's audio encoder (frozen, ``whisper_encoder``) -> mean and standard
deviation over time of each block's states -> standardisation -> a one-hidden-layer
MLP -> the window's logit. Only the head is trained; the encoder's pooled outputs are
cached once per corpus (``voice_corpus``), so training and every fold take seconds.

Evaluation is leave-one-page-out (``lopo``): for each demo page of ``speech/tts`` (and
``vc`` as one more page), the page's real recordings *and* every system that appears on
it (on any page) never reach training; the page's clips are then scored file by file as
the runtime does (trimmed mean of speech-window logits). LibriSpeech speakers and their
re-syntheses are spread over the folds, so every real clip is scored by a model that
never heard its speaker. The out-of-fold logits give the leave-one-page-out table, the
false alarms per source and the calibration the shipped model uses.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fakescope.analyzers.voice import trimmed_mean
from fakescope.evaluation.calibration import fit_platt
from fakescope.evaluation.metrics import auc, eer
from fakescope.train.voice_corpus import Clip, Features, build_features, build_waves, is_page
from fakescope.train.whisper_encoder import WhisperEncoder, model_file

log = logging.getLogger("fakescope.train")

MAX_FALSE_ALARMS = 0.05  # share of real clips of any source called fake, at the default threshold
MAX_MISSED = 0.10  # share of synthetic clips the `real` verdict may let through (out of fold)


@dataclass
class VoiceConfig:
    data_dir: Path = Path("../shared/data/speech")
    pages_dir: Path | None = None  # the prepared demo-page corpus (speech_corpus prepare)
    vocoder: Path | None = None  # fakescope.synth.vocoder's ONNX: a HiFi-GAN twin of every real clip
    # The score head learns from the vocoder twins too (off: they only train the trace kinds;
    # with them the unseen page families lost 0.02 AUC, docs/metrics.md "Vocoder twins").
    twins: bool = False
    out_dir: Path = Path("runs/voice")
    cache_dir: Path = Path("runs/voice-cache")
    layers: int = 2
    equalize: bool = True
    hidden: int = 0  # 0: a linear head
    steps: int = 3000
    batch_size: int = 128
    lr: float = 1e-3
    telephone_p: float = 0.3
    pseudo: bool = True
    seed: int = 0
    workers: int = 2
    name: str = "voice"
    version: str = "2.0.0"
    command: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class VoiceHead(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.register_buffer("mu", torch.zeros(dim))
        self.register_buffer("sd", torch.ones(dim))
        # hidden 0: a linear head (it generalised better to unseen pages than an MLP, docs/metrics.md)
        self.net = (nn.Sequential(nn.Dropout(0.2), nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(0.3),
                                  nn.Linear(hidden, 1)) if hidden else nn.Linear(dim, 1))

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.net((pooled - self.mu) / self.sd)


class KindHeads(nn.Module):
    """The trace kinds' linear heads (``voice_kinds``), standardisation folded into the weights."""

    def __init__(self, heads: list[tuple[np.ndarray, np.ndarray, np.ndarray, float]]) -> None:
        super().__init__()
        w = np.stack([hw / sd for mu, sd, hw, _ in heads])
        b = np.array([hb - float((hw / sd) @ mu) for mu, sd, hw, hb in heads])
        self.linear = nn.Linear(w.shape[1], len(heads))
        with torch.no_grad():
            self.linear.weight.copy_(torch.from_numpy(w.astype(np.float32)))
            self.linear.bias.copy_(torch.from_numpy(b.astype(np.float32)))

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.linear(pooled)


class VoiceModel(nn.Module):
    """What ships: log-mel (N, 80, 200) -> logit (N, 1 + kinds): the score, then the trace kinds."""

    def __init__(self, encoder: WhisperEncoder, head: VoiceHead, kinds: KindHeads | None = None) -> None:
        super().__init__()
        self.encoder, self.head, self.kinds = encoder, head, kinds

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        pooled = self.encoder.pooled(mel)
        score = self.head(pooled)
        return score if self.kinds is None else torch.cat([score, self.kinds(pooled)], dim=1)


# --- data --------------------------------------------------------------------------------------
@dataclass
class Corpus:
    clips: list[Clip]
    feats: Features
    label: np.ndarray  # per clip

    def scored(self, cfg: VoiceConfig) -> np.ndarray:
        """Per clip: may the score head learn from it? (Kind pairs never; twins if ``cfg.twins``.)"""
        return np.array([c.corpus != "kind" and (cfg.twins or not c.system.startswith("resynth:hifigan"))
                         for c in self.clips])

    @property
    def pages(self) -> list[str]:
        return [*sorted({c.page for c in self.clips if is_page(c)}), "vc"]


def load_corpus(cfg: VoiceConfig) -> Corpus:
    clips = build_waves(cfg.data_dir, cfg.cache_dir, cfg.workers, cfg.pseudo, cfg.pages_dir, cfg.vocoder)
    feats = build_features(clips, cfg.cache_dir, cfg.layers, cfg.equalize)
    return Corpus(clips, feats, np.array([c.label for c in clips]))


def _h(s: str) -> int:
    return int(hashlib.sha1(s.encode()).hexdigest()[:6], 16)


def fold_of(corpus: Corpus) -> np.ndarray:
    """Per clip: the page fold it is tested in (-1: TTS readings, always trained on)."""
    pages = corpus.pages
    out = np.full(len(corpus.clips), -1)
    for i, c in enumerate(corpus.clips):
        if c.corpus in ("tts", "vc", "pages") or (c.corpus in ("pseudo", "kind") and c.page in pages):
            out[i] = pages.index(c.page)  # a vocoder twin goes where its real clip goes
        elif c.group.startswith("ls:"):
            out[i] = _h(c.group) % len(pages)
        elif c.group.startswith("vc:"):
            out[i] = pages.index("vc")
    return out


def _clip_weights(corpus: Corpus, clips: np.ndarray) -> np.ndarray:
    """Half the weight on real clips (each real source alike: a demo page, vc, LibriSpeech), a
    quarter on the shared systems (each system alike), a quarter on pseudo-fakes (each kind
    alike): no source's or system's size decides (measured: +0.015 AUC leave-one-page-out)."""
    def kind(c: Clip) -> str:
        if c.label == 0:
            return "R:" + c.corpus + (":" + c.page if is_page(c) else "")
        if c.corpus == "pseudo":
            return "P:" + (c.system if c.system.startswith(("tts", "resynth:hifigan")) else "resynth")
        return "S:" + c.system

    kinds = np.array([kind(corpus.clips[i]) for i in clips])
    share = {"R": 0.5, "S": 0.25, "P": 0.25}
    present = {k[0] for k in kinds}
    if "S" not in present:
        share["P"] += share.pop("S")
    if "P" not in present:
        share["S"] = share.get("S", 0) + share.pop("P")
    w = np.zeros(len(clips))
    for side, total in share.items():
        names = sorted({k for k in kinds if k.startswith(side)})
        for k in names:
            m = kinds == k
            w[m] = total / len(names) / m.sum()
    return w


def train_head(corpus: Corpus, rows: np.ndarray, cfg: VoiceConfig, seed: int) -> VoiceHead:
    """The head on the windows ``rows`` (indices into the feature arrays)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    f = corpus.feats
    clip_of = f.clip[rows]
    uniq = np.unique(clip_of)
    cw = dict(zip(uniq.tolist(), _clip_weights(corpus, uniq).tolist(), strict=True))
    per_clip = np.bincount(clip_of, minlength=len(corpus.clips))
    p = np.array([cw[c] / per_clip[c] for c in clip_of])
    p /= p.sum()
    x_full = f.full[rows].astype(np.float32)
    head = VoiceHead(x_full.shape[1], cfg.hidden)
    head.mu.copy_(torch.from_numpy(x_full.mean(0)))
    head.sd.copy_(torch.from_numpy(x_full.std(0) + 1e-4))
    y = torch.from_numpy(corpus.label[clip_of].astype(np.float32))[:, None]
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    lossf = nn.BCEWithLogitsLoss()
    head.train()
    for _ in range(cfg.steps):
        b = rng.choice(len(rows), cfg.batch_size, p=p)
        xb = x_full[b]
        tel = rng.random(len(b)) < cfg.telephone_p
        if tel.any():  # the same window band-limited to a phone line: a nuisance, never the label
            xb = np.where(tel[:, None], f.telephone[rows[b]].astype(np.float32), xb)
        loss = lossf(head(torch.from_numpy(xb)), y[b])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    head.eval()
    return head


def window_logits(head: VoiceHead, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return np.concatenate([head(torch.from_numpy(x[k : k + 2048].astype(np.float32))).numpy()[:, 0]
                               for k in range(0, len(x), 2048)]) if len(x) else np.zeros(0)


def file_logits(corpus: Corpus, rows: np.ndarray, logits: np.ndarray) -> dict[tuple[int, int], float]:
    """(clip, version) -> the runtime's file logit (trimmed mean over speech windows)."""
    acc: dict[tuple[int, int], list[float]] = {}
    f = corpus.feats
    for r, lg in zip(rows, logits, strict=True):
        acc.setdefault((int(f.clip[r]), int(f.version[r])), []).append(float(lg))
    return {k: trimmed_mean(v) for k, v in acc.items()}


def testable_clip(c: Clip) -> bool:
    """Real media of a source, not a clip made here (pseudo-fakes, twins, kind pairs)."""
    return c.corpus not in ("pseudo", "kind")


# --- leave one page out ----------------------------------------------------------------------------
def lopo(cfg: VoiceConfig, corpus: Corpus | None = None) -> dict[str, Any]:
    corpus = corpus or load_corpus(cfg)
    folds = fold_of(corpus)
    f = corpus.feats
    win_fold = folds[f.clip]
    systems = np.array([c.system for c in corpus.clips])
    testable = np.array([testable_clip(c) for c in corpus.clips])
    scored = corpus.scored(cfg)
    oof: dict[tuple[int, int], float] = {}
    oof_tel: dict[tuple[int, int], float] = {}
    heads = []
    for k, page in enumerate(corpus.pages):
        held = {c.system for c in corpus.clips if c.page == page and c.label == 1 and testable_clip(c)}
        train_rows = np.flatnonzero((win_fold != k) & ~np.isin(systems[f.clip], sorted(held))
                                    & scored[f.clip])
        test_rows = np.flatnonzero((win_fold == k) & testable[f.clip])
        head = train_head(corpus, train_rows, cfg, cfg.seed + k)
        heads.append(head)
        oof.update(file_logits(corpus, test_rows, window_logits(head, f.full[test_rows])))
        oof_tel.update(file_logits(corpus, test_rows, window_logits(head, f.telephone[test_rows])))
        log.info("fold %d/%d (%s): %d training windows, %d test windows", k + 1, len(corpus.pages), page,
                 len(train_rows), len(test_rows))
    return {"oof": oof, "oof_telephone": oof_tel, "heads": heads, "corpus": corpus}


def summarise(corpus: Corpus, oof: dict[tuple[int, int], float], version: int = 0,
              calibration: tuple[float, float] | None = None, threshold: float | None = None,
              ) -> dict[str, Any]:
    """Per page, per system, pooled; false alarms per real source when a threshold is given."""
    keys = [k for k in oof if k[1] == version]
    lab = corpus.label

    def metr(ks: list[tuple[int, int]]) -> dict[str, Any]:
        y = np.array([lab[i] for i, _ in ks])
        s = np.array([oof[k] for k in ks])
        ok = 0 < y.sum() < len(y)
        return {"n": len(ks), "n_fake": int(y.sum()), "auc": auc(y, s) if ok else None,
                "eer": eer(y, s) if ok else None}

    out: dict[str, Any] = {"pages": {}, "systems": {}}
    tts = [k for k in keys if corpus.clips[k[0]].corpus == "tts"]
    out["pooled_tts"] = metr(tts)
    pages_ = [k for k in keys if corpus.clips[k[0]].corpus == "pages"]
    if pages_:
        out["pooled_pages"] = metr(pages_)
    for page in corpus.pages:
        out["pages"][page] = metr([k for k in keys if corpus.clips[k[0]].page == page])
    for system in sorted({corpus.clips[i].system for i, _ in keys if lab[i] == 1}):
        ks = [k for k in keys if corpus.clips[k[0]].system == system]
        pages = {corpus.clips[i].page for i, _ in ks}
        reals = [k for k in keys if lab[k[0]] == 0 and corpus.clips[k[0]].page in pages]
        out["systems"][system] = metr(ks + reals)
    if calibration is not None and threshold is not None:
        a, b = calibration
        fa: dict[str, Any] = {}
        for src in sorted({_real_source(corpus.clips[i]) for i, _ in keys if lab[i] == 0}):
            s = np.array([oof[k] for k in keys if lab[k[0]] == 0 and _real_source(corpus.clips[k[0]]) == src])
            p = 1 / (1 + np.exp(-(a * s + b)))
            fa[src] = {"n": len(s), "called_fake": int((p >= threshold).sum()),
                       "rate": float((p >= threshold).mean())}
        out["false_alarms"] = fa
        s = np.array([oof[k] for k in keys if lab[k[0]] == 1])
        out["fakes_called_fake"] = float((1 / (1 + np.exp(-(a * s + b))) >= threshold).mean())
    return out


def _real_source(c: Clip) -> str:
    if c.corpus == "pages":
        return c.page
    if c.corpus == "tts":
        return "tts:" + c.file.split("/bonafide/")[-1].split("/")[0] if "/bonafide/" in c.file else "tts"
    return c.corpus


def calibrate(corpus: Corpus, oof: dict[tuple[int, int], float]) -> tuple[tuple[float, float], float, float]:
    """Platt scaling of out-of-fold file logits (every version, classes balanced), then the
    default threshold: the lowest that keeps every real source's false alarms at or below
    ``MAX_FALSE_ALARMS``; and the `real` edge: below it at most ``MAX_MISSED`` of fakes."""
    keys = list(oof)
    y = np.array([corpus.label[i] for i, _ in keys])
    s = np.array([oof[k] for k in keys])
    w_real = y.sum() / max(1, (1 - y).sum())
    reps = max(1, round(w_real))
    extra = np.repeat(s[y == 0], reps - 1)
    a, b = fit_platt(np.r_[s, extra], np.r_[y, np.zeros(len(extra))])
    p = 1 / (1 + np.exp(-(a * s + b)))
    sources = np.array([_real_source(corpus.clips[i]) if corpus.label[i] == 0 else "" for i, _ in keys])
    hi = 0.5
    for src in sorted(set(sources) - {""}):
        ps = np.sort(p[sources == src])
        q = ps[min(len(ps) - 1, int(np.floor((1 - MAX_FALSE_ALARMS) * len(ps))))]
        hi = max(hi, float(q) + 1e-4)
    lo = float(np.quantile(p[y == 1], MAX_MISSED))
    return (float(a), float(b)), min(hi, 0.99), min(lo, hi)


def _check_mels(corpus: Corpus, cfg: VoiceConfig, n: int = 48) -> np.ndarray:
    """Log-mels of real and fake speech windows, to check the int8 export against torch."""
    from fakescope.analyzers.whisper_mel import log_mel
    from fakescope.train.voice_corpus import load_versions, speech_windows

    rng = np.random.default_rng(cfg.seed)
    mels: list[np.ndarray] = []
    for i in rng.permutation(len(corpus.clips)):
        for w in speech_windows(load_versions(cfg.cache_dir, corpus.clips[int(i)])[0])[:2]:
            mels.append(log_mel(w))
        if len(mels) >= n:
            break
    return np.stack(mels[:n]).astype(np.float32)


# --- the shipped model ----------------------------------------------------------------------------
def train_final(cfg: VoiceConfig) -> Path:
    from fakescope.train.export import export_voice

    corpus = load_corpus(cfg)
    res = lopo(cfg, corpus)
    calibration, hi, lo = calibrate(corpus, res["oof"])
    res.update(calibration=calibration, threshold=hi)
    summary = {
        "clean": summarise(corpus, res["oof"], 0, calibration, hi),
        "channel": summarise(corpus, res["oof"], 1, calibration, hi),
        "telephone": summarise(corpus, res["oof_telephone"], 0, calibration, hi),
        "calibration": calibration, "threshold": hi, "real_below": lo, "date": dt.date.today().isoformat(),
    }
    log.info("leave-one-page-out: %s", json.dumps(summary["clean"]["pooled_tts"]))
    head = train_head(corpus, np.flatnonzero(corpus.scored(cfg)[corpus.feats.clip]), cfg, cfg.seed)
    encoder = WhisperEncoder.from_ct2(model_file(), layers=cfg.layers, equalize=cfg.equalize).eval()
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    from fakescope.train.voice_corpus import encoder_session

    mels = _check_mels(corpus, cfg)
    summary["_check_mel"] = mels
    sess = encoder_session(cfg.cache_dir, cfg.layers, cfg.equalize)
    pooled = np.concatenate([sess.run(["pooled"], {"input": m[None]})[0] for m in mels])
    summary["_check_logits"] = window_logits(head, pooled)
    kinds = None
    if any(c.corpus == "kind" for c in corpus.clips):
        from fakescope.train.voice_kinds import kind_heads, linear_logits

        found = kind_heads(corpus, fold_of(corpus))
        kinds = KindHeads([found[k]["head"] for k in found])
        summary["kinds"] = {k: {n: v for n, v in d.items() if n != "head"} for k, d in found.items()}
        summary["_check_kind_logits"] = np.stack([linear_logits(found[k]["head"], pooled) for k in found], 1)
    public = {k: v for k, v in summary.items() if not k.startswith("_")}  # not the export's check arrays
    (cfg.out_dir / "lopo.json").write_text(json.dumps(public, indent=1, default=float))
    return export_voice(VoiceModel(encoder.crop_positions(mels.shape[2]), head, kinds).eval(), cfg, summary)


# --- what speech goes through ------------------------------------------------------------------------
def _noise(x: np.ndarray, rng: np.random.Generator, snr_db: float = 10.0) -> np.ndarray:
    n = rng.standard_normal(len(x))
    p = float(np.mean(np.asarray(x, np.float64) ** 2)) + 1e-10
    return np.clip(x + n * np.sqrt(p / 10 ** (snr_db / 10)), -1, 1).astype(np.float32)


def conditions() -> dict[str, Any]:
    """Channels a call or an upload puts speech through, each applied alike to both classes."""
    from fakescope.synth.voice import codec_roundtrip, reverb, telephone

    return {
        "clean": lambda x, rng: x,
        "MP3 32 kb/s": lambda x, rng: codec_roundtrip(x, "libmp3lame", 32000),
        "AAC 24 kb/s": lambda x, rng: codec_roundtrip(x, "aac", 24000),
        "Opus 16 kb/s": lambda x, rng: codec_roundtrip(x, "libopus", 16000),
        "telephone (300-3400 Hz, 8 kHz)": lambda x, rng: telephone(x),
        "20 dB quieter": lambda x, rng: (x * 0.1).astype(np.float32),
        "white noise, 10 dB SNR": _noise,
        "room, RT60 0.5 s": lambda x, rng: reverb(x, rng, 0.5),
    }


def condition_table(cfg: VoiceConfig, res: dict[str, Any], names: list[str] | None = None,
                    ) -> dict[str, dict[str, Any]]:
    """Leave-one-page-out AUC/EER on speech/tts, the demo-page families and vc, and real clips
    called fake, per condition (``names``: a subset of ``conditions()``): every clean clip
    through the condition, scored by its fold's head."""
    from fakescope.train.voice_corpus import encoder_session, load_versions, pooled_features, speech_windows

    unknown = sorted(set(names or []) - set(conditions()))
    if unknown:
        raise ValueError(f"unknown conditions {unknown}; known: {sorted(conditions())}")
    corpus: Corpus = res["corpus"]
    folds = fold_of(corpus)
    sess = encoder_session(cfg.cache_dir, cfg.layers, cfg.equalize)
    cal, hi = res["calibration"], res["threshold"]
    out: dict[str, dict[str, Any]] = {}
    for name, fn in conditions().items():
        if names is not None and name not in names:
            continue
        oof: dict[tuple[int, int], float] = {}
        for i, c in enumerate(corpus.clips):
            if not testable_clip(c):
                continue
            rng = np.random.default_rng(_h(c.key + name))
            ws = speech_windows(fn(load_versions(cfg.cache_dir, c)[0], rng))
            if not ws:
                continue
            lg = window_logits(res["heads"][folds[i]], pooled_features(sess, ws))
            oof[(i, 0)] = trimmed_mean([float(v) for v in lg])
        s = summarise(corpus, oof, 0, cal, hi)
        out[name] = {"pooled_tts": s["pooled_tts"], "vc": s["pages"]["vc"],
                     "false_alarms": s["false_alarms"], "fakes_called_fake": s["fakes_called_fake"]}
        if "pooled_pages" in s:
            out[name]["pooled_pages"] = s["pooled_pages"]
        log.info("%s: %s", name, json.dumps(out[name]["pooled_tts"]))
    return out
