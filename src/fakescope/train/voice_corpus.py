"""The voice model's training corpus: shared speech, pseudo-fakes, channels, cached features.

Sources (``--data``, default ``../shared/data/speech``), each clip with its *page* (where
its recording conditions come from) and *group* (what must never straddle a split):

- ``tts/``: real recordings and 26 synthesis systems from research demo pages; page = the
  demo repository, so the real clips of a page and its systems share recording conditions;
- ``vc/``: real utterances and three voice-conversion systems (one page, ``vc``);
- ``librispeech/``: read speech, grouped by speaker;
- ``--pages``: the demo-page corpus of ``corpora/speech`` (``fakescope.train.speech_corpus
  prepare``): real prompts and clones of 13 more pages; page = the page *family* (pages
  that share prompts), so a family is held out whole;
- pseudo-fakes made here: WORLD / Griffin-Lim / pitch-shift re-syntheses of every real
  vc and LibriSpeech utterance (``fakescope.synth.voice``), and readings of public-domain
  sentences by espeak-ng, Piper (VITS) and hibari (StyleTTS 2-style), stock voices only
  (``fakescope.synth.neural_tts``).
- with a vocoder (``--vocoder``, ``fakescope.synth.vocoder``), made from every real clip of
  every source and listed after the rest (so cached features of the shorter list are
  reused): its HiFi-GAN twin (corpus ``pseudo``) and its WORLD kind pairs (corpus ``kind``:
  plain, TTS-like pitch, TTS-like envelope), each keeping its real clip's page and group.

Every waveform is kept clean and twice through a random channel (room, telephone band,
noise, codecs, gain, clipping) for both classes. Features: for each 2 s window that voice
activity calls speech (as the runtime finds them), the mean and standard deviation over
time of each Whisper-tiny encoder layer's states (``whisper_encoder``), for the window as
it is and band-limited to the telephone band (a training augmentation). The encoder is
frozen, so its pooled outputs are computed once and cached in ``--cache``, by the int8
ONNX encoder the shipped model contains (the head learns the numbers it will be given).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger("fakescope.train")

CHANNELS = 2  # degraded copies per waveform, beside the clean one
N_VARIANTS = 2  # readings of each sentence per TTS voice
RESYNTH_PER_UTTERANCE = 3  # of the pseudo-fake methods, chosen at random per real utterance
CORPUS_VERSION = 1


@dataclass
class Clip:
    key: str
    corpus: str  # tts | vc | librispeech | pages | pseudo
    label: int  # 1 = synthetic or converted
    system: str  # "bonafide" for real speech
    page: str  # recording source: demo repository, vc, librispeech, pseudo
    group: str  # utterance / speaker / sentence: never on both sides of a split
    file: str = ""


def _seed(key: str) -> int:
    return int(hashlib.sha1(key.encode()).hexdigest()[:8], 16)


def decode(path: str | Path) -> np.ndarray:
    from fakescope.media.audio import stream_samples

    blocks = list(stream_samples(Path(path), 16000, 600.0, 3600.0))
    return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)


def list_shared(data_dir: Path) -> list[Clip]:
    out: list[Clip] = []
    for corpus in ("tts", "vc", "librispeech"):
        labels = data_dir / corpus / "labels.csv"
        if not labels.is_file():
            continue
        with open(labels, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                label = 1 if row["label"].strip().lower() in ("spoof", "fake") else 0
                f = row["file"]
                if corpus == "tts":
                    page = row["source"].split("@")[0]
                    group = "tts:" + page
                elif corpus == "vc":
                    page, group = "vc", "vc:" + Path(f).stem
                else:
                    page, group = "librispeech", "ls:" + Path(f).stem.split("-")[0]
                out.append(Clip(f"{corpus}/{f}", corpus, label, row["system"] if label else "bonafide", page,
                                group, str(data_dir / corpus / f)))
    return out


def list_pages(pages_dir: Path) -> list[Clip]:
    """The prepared demo-page corpus (labels.csv with file, label, system, family)."""
    out: list[Clip] = []
    with open(pages_dir / "labels.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            label = 1 if row["label"] == "fake" else 0
            page = "pages:" + row["family"]
            out.append(Clip(f"pages/{row['file']}", "pages", label, row["system"] if label else "bonafide",
                            page, page, str(pages_dir / row["file"])))
    return out


def is_page(c: Clip) -> bool:
    """A clip of a demo page (shared tts or the demo-page corpus): folds hold its page out."""
    return c.corpus in ("tts", "pages")


def _resynth_job(args: tuple[str, str]) -> dict[str, np.ndarray]:
    from fakescope.synth.voice import METHODS, pseudo_fakes

    file, key = args
    rng = np.random.default_rng(_seed(key))
    methods = tuple(rng.choice(METHODS, RESYNTH_PER_UTTERANCE, replace=False).tolist())
    return pseudo_fakes(decode(file), rng, methods)


def _reading_job(args: tuple[str, int, int]) -> np.ndarray:
    from fakescope.synth.voice import ESPEAK_VOICES, SENTENCES, tts

    voice, k, v = args
    rng = np.random.default_rng(_seed(f"{voice}{k}{v}"))
    if voice == "espeak":
        return tts(SENTENCES[k], str(rng.choice(ESPEAK_VOICES)), int(rng.integers(120, 200)),
                   int(rng.integers(25, 75)))
    from fakescope.synth.neural_tts import READERS

    return READERS[voice](SENTENCES[k], rng)


_RESYNTH: dict[str, object] = {}


def _vocoder_job(args: tuple[str, str, str]) -> list[tuple[str, list[np.ndarray]]]:
    """The real clip ``file`` re-synthesised by the vocoder at ``model`` (one of its methods,
    chosen by the clip's key: two in three from its mel, one in three through the tokens),
    clean and through its channels."""
    from fakescope.synth.vocoder import Resynth

    file, key, model = args
    if model not in _RESYNTH:  # one session per worker process
        _RESYNTH[model] = Resynth(Path(model))
    tokens = _seed(key) % 3 == 0
    method = "hifigan_tokens" if tokens else "hifigan"
    y = _RESYNTH[model](decode(file), tokens=tokens)  # type: ignore[operator]
    return [(method, _channels_job((f"{key}#{method}", y)))]


def _channels_job(args: tuple[str, np.ndarray]) -> list[np.ndarray]:
    from fakescope.synth.voice import degrade

    key, x = args
    rng = np.random.default_rng(_seed(key) + 11)
    return [x] + [degrade(x, rng) for _ in range(CHANNELS)]


def build_waves(data_dir: Path, cache_dir: Path, workers: int = 2, pseudo: bool = True,
                pages_dir: Path | None = None, vocoder: Path | None = None) -> list[Clip]:
    """Every clip's waveforms (clean + channels) as int16 in ``cache_dir/waves``; the clip list.

    ``vocoder`` (``fakescope.synth.vocoder``): every real clip, of every source, also
    re-synthesised by it; each twin keeps its real clip's page and group, so it is held out
    with the page it came from.
    """
    from fakescope.synth.voice import SENTENCES, espeak_available

    if vocoder is not None:  # the corpus without twins first (cached), then the twins after it
        base = build_waves(data_dir, cache_dir, workers, pseudo, pages_dir)
        return _with_kind_pairs(_with_vocoder_twins(base, cache_dir, workers, vocoder), cache_dir, workers)
    wave_dir = cache_dir / "waves"
    wave_dir.mkdir(parents=True, exist_ok=True)
    pages = list_pages(pages_dir) if pages_dir is not None else []
    tag = "-pages" + hashlib.sha1("".join(c.key for c in pages).encode()).hexdigest()[:8] if pages else ""
    listing = cache_dir / f"clips-v{CORPUS_VERSION}{'' if pseudo else '-nopseudo'}{tag}.json"
    if listing.is_file():
        clips = [Clip(**c) for c in json.loads(listing.read_text())]
        if all(wave_path(cache_dir, c).is_file() for c in clips):
            return clips
    clips = list_shared(data_dir) + pages
    if not clips:
        raise FileNotFoundError(f"no speech data under {data_dir} (tts/, vc/, librispeech/ with labels.csv)")
    t0 = time.time()
    waves: dict[str, np.ndarray] = {}
    with ProcessPoolExecutor(workers) as pool:
        for c, x in zip(clips, pool.map(decode, [c.file for c in clips], chunksize=8), strict=True):
            waves[c.key] = x
        if pseudo:
            reals = [c for c in clips if c.label == 0 and c.corpus in ("vc", "librispeech")]
            log.info("re-synthesising %d real utterances", len(reals))
            for c, fakes in zip(reals, pool.map(_resynth_job, [(c.file, c.key) for c in reals]), strict=True):
                for method, y in fakes.items():
                    k = f"{c.key}#{method}"
                    clips.append(Clip(k, "pseudo", 1, "resynth:" + method, "pseudo", c.group))
                    waves[k] = y
            voices = ["piper", "hibari"] + (["espeak"] if espeak_available() else [])
            if "espeak" not in voices:
                log.warning("espeak-ng is not installed: no espeak readings (apt-get install espeak-ng)")
            jobs = [(v, k, n) for v in voices for k in range(len(SENTENCES)) for n in range(N_VARIANTS)]
            log.info("%d TTS readings", len(jobs))
            for (v, k, n), y in zip(jobs, pool.map(_reading_job, jobs), strict=True):
                key = f"tts-{v}/{k}/{n}"
                # Readings of one sentence share a group: its words never straddle a split.
                clips.append(Clip(key, "pseudo", 1, "tts:" + v, "pseudo", f"sent:{k}"))
                waves[key] = y
        todo = [c for c in clips if not wave_path(cache_dir, c).is_file()]
        log.info("channels for %d waveforms (%.0f s)", len(todo), time.time() - t0)
        for c, vs in zip(todo, pool.map(_channels_job, [(c.key, waves[c.key]) for c in todo], chunksize=8),
                         strict=True):
            _save_versions(wave_path(cache_dir, c), vs)
    listing.write_text(json.dumps([asdict(c) for c in clips]))
    return clips


def _save_versions(path: Path, versions: list[np.ndarray]) -> None:
    np.savez(path, *[(np.clip(v, -1, 1) * 32767).astype(np.int16) for v in versions])


def _made_from_reals(clips: list[Clip], cache_dir: Path, workers: int, listing: Path, corpus: str,
                     job, args) -> list[Clip]:  # type: ignore[no-untyped-def]
    """``clips`` and, after them, what ``job(args(real))`` makes of every real clip: a list of
    (method, clean + channel versions) each, kept as clips of ``corpus`` with their real clip's
    page and group (so each is held out with it); listed and cached apart from ``clips``."""
    if listing.is_file():
        out = [Clip(**c) for c in json.loads(listing.read_text())]
        if all(wave_path(cache_dir, c).is_file() for c in out):
            return out
    reals = [c for c in clips if c.label == 0 and c.corpus not in ("pseudo", "kind")]
    made: list[Clip] = []
    t0 = time.time()
    log.info("%s: %d real clips", corpus, len(reals))
    with ProcessPoolExecutor(workers) as pool:
        for n, (c, results) in enumerate(zip(reals, pool.map(job, [args(c) for c in reals]), strict=True)):
            for method, vs in results:
                system = ("resynth:" if corpus == "pseudo" else "kind:") + method
                k = Clip(f"{c.key}#{method}", corpus, 1, system, c.page, c.group)
                made.append(k)
                _save_versions(wave_path(cache_dir, k), vs)
            if n % 100 == 0:
                log.info("%s: %d/%d (%.0f s)", corpus, n, len(reals), time.time() - t0)
    out = clips + made
    listing.write_text(json.dumps([asdict(c) for c in out]))
    return out


def _with_vocoder_twins(clips: list[Clip], cache_dir: Path, workers: int, vocoder: Path) -> list[Clip]:
    """``clips`` and, after them, a vocoder twin of every real clip."""
    tag = hashlib.sha1("".join(c.key for c in clips).encode() + vocoder.read_bytes()).hexdigest()[:8]
    return _made_from_reals(clips, cache_dir, workers, cache_dir / f"clips-v{CORPUS_VERSION}-voc{tag}.json",
                            "pseudo", _vocoder_job, lambda c: (c.file, c.key, str(vocoder)))


def _kind_job(args: tuple[str, str]) -> list[tuple[str, list[np.ndarray]]]:
    from fakescope.synth.voice import kind_pairs

    file, key = args
    pairs = kind_pairs(decode(file), np.random.default_rng(_seed(key) + 7))
    return [(m, _channels_job((f"{key}#{m}", y))) for m, y in pairs.items()]


def _with_kind_pairs(clips: list[Clip], cache_dir: Path, workers: int) -> list[Clip]:
    """``clips`` and, after them, the kind pairs of every real clip (``synth.voice.kind_pairs``):
    corpus ``kind``, never a training example of the score; they train and measure the trace-kind
    heads (a WORLD re-synthesis against the same with only its prosody, or only its envelope, made
    TTS-like)."""
    tag = hashlib.sha1("".join(c.key for c in clips).encode()).hexdigest()[:8]
    return _made_from_reals(clips, cache_dir, workers, cache_dir / f"clips-v{CORPUS_VERSION}-kinds{tag}.json",
                            "kind", _kind_job, lambda c: (c.file, c.key))


def wave_path(cache_dir: Path, c: Clip) -> Path:
    return cache_dir / "waves" / (hashlib.sha1(c.key.encode()).hexdigest()[:16] + ".npz")


def load_versions(cache_dir: Path, c: Clip) -> list[np.ndarray]:
    with np.load(wave_path(cache_dir, c)) as z:
        return [z[f"arr_{i}"].astype(np.float32) / 32767.0 for i in range(len(z.files))]


@dataclass
class Features:
    """Pooled encoder features of every speech window, and which clip/version it came from."""

    full: np.ndarray  # (N, layers * 2 * 384) float16
    telephone: np.ndarray  # same windows, band-limited to 300-3400 Hz first
    clip: np.ndarray  # (N,) index into the clip list
    version: np.ndarray  # (N,) 0 = clean, 1.. = channels


def speech_windows(x: np.ndarray) -> list[np.ndarray]:
    """The 2 s windows of ``x`` that the runtime would score (voice activity says speech)."""
    from fakescope.analyzers.speech import analyse_window, windows

    return [w.samples for w in windows([x]) if analyse_window(w.samples, w.valid).speech]


def encoder_session(cache_dir: Path, layers: int, equalize: bool):  # type: ignore[no-untyped-def]
    """The frozen front end as the shipped model runs it (int8 ONNX), exported once per cache."""
    import onnxruntime as ort

    from fakescope.analyzers.speech import RATE, SEGMENT_S
    from fakescope.analyzers.whisper_mel import HOP
    from fakescope.train.export import export_int8_audio
    from fakescope.train.whisper_encoder import Pooled, WhisperEncoder, model_file

    path = cache_dir / f"encoder-L{layers}{'-eq' if equalize else ''}.int8.onnx"
    if not path.is_file():
        enc = WhisperEncoder.from_ct2(model_file(), layers=layers, equalize=equalize).eval()
        export_int8_audio(Pooled(enc.crop_positions(int(SEGMENT_S * RATE) // HOP)), path, "pooled")
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def pooled_features(sess, windows: list[np.ndarray]) -> np.ndarray:  # type: ignore[no-untyped-def]
    from fakescope.analyzers.whisper_mel import log_mel

    # One window per run, as the analyzer runs them: int8 activations are quantized with one
    # range per run, so a window's numbers would otherwise depend on its batch.
    return np.concatenate([sess.run(["pooled"], {"input": log_mel(w)[None].astype(np.float32)})[0]
                           for w in windows])


def build_features(clips: list[Clip], cache_dir: Path, layers: int, equalize: bool) -> Features:
    from fakescope.synth.voice import telephone

    eq = "-eq" if equalize else ""
    stem = f"features-v{CORPUS_VERSION}-L{layers}{eq}-int8b1"
    path = cache_dir / f"{stem}-{len(clips)}.npz"
    if path.is_file():
        return _load_features(path)
    sess = encoder_session(cache_dir, layers, equalize)
    full, tel, ci, vi = [], [], [], []
    start = 0
    prefix = cached_prefix(clips, cache_dir, stem)
    if prefix is not None:  # a listing that this one extends (new pseudo-fakes come last)
        old, start = _load_features(prefix[0]), prefix[1]
        full, tel, ci, vi = [old.full], [old.telephone], old.clip.tolist(), old.version.tolist()
        log.info("features: reusing %d clips' windows", start)
    t0 = time.time()
    for i, c in enumerate(clips[start:], start):
        for v, x in enumerate(load_versions(cache_dir, c)):
            ws = speech_windows(x)
            if not ws:
                continue
            xt = telephone(np.concatenate(ws))
            wt = [xt[k * len(ws[0]) : (k + 1) * len(ws[0])] for k in range(len(ws))]
            for dest, batch in ((full, ws), (tel, wt)):
                dest.append(pooled_features(sess, batch).astype(np.float16))
            ci += [i] * len(ws)
            vi += [v] * len(ws)
        if i % 200 == 0:
            log.info("features: %d/%d clips (%.0f s)", i, len(clips), time.time() - t0)
    feats = Features(np.concatenate(full), np.concatenate(tel), np.array(ci, np.int32), np.array(vi, np.int8))
    np.savez(path, full=feats.full, telephone=feats.telephone, clip=feats.clip, version=feats.version)
    return feats


def _load_features(path: Path) -> Features:
    with np.load(path) as z:
        return Features(z["full"], z["telephone"], z["clip"], z["version"])


def cached_prefix(clips: list[Clip], cache_dir: Path, stem: str) -> tuple[Path, int] | None:
    """``stem-N.npz`` of the longest cached clip listing (N clips) that ``clips`` starts with
    (keys compared), and N: per-window arrays of its clips can be reused as they are."""
    keys = [c.key for c in clips]
    best: tuple[int, Path] | None = None
    for listing in cache_dir.glob(f"clips-v{CORPUS_VERSION}*.json"):
        old = [c["key"] for c in json.loads(listing.read_text())]
        n = len(old)
        path = cache_dir / f"{stem}-{n}.npz"
        if n < len(keys) and old == keys[:n] and path.is_file() and (best is None or n > best[0]):
            best = (n, path)
    return None if best is None else (best[1], best[0])
