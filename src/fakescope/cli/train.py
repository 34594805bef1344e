"""``fakescope train``: face-forgery, generated and voice (the [train] extra: torch).

torch and the training code are imported inside each command, and only there.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from fakescope.cli.common import EXIT_USAGE, command_line, fail

if TYPE_CHECKING:
    from fakescope.feedback.heads import Comparison
    from fakescope.feedback.versions import LocalCalibration


@click.group()
def train() -> None:
    """Train models (needs the [train] extra: torch)."""


@train.command("face-forgery")
@click.option("--data", "data_dir", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--dev", "dev_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("runs/face-forgery"), show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--input-size", type=click.IntRange(min=32), default=None)
@click.option("--batch-size", type=click.IntRange(min=2), default=32, show_default=True)
@click.option("--lr", type=float, default=4e-4, show_default=True)
@click.option("--sbi-share", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Share of each epoch's fakes that are self-blended images.")
@click.option("--sbi/--no-sbi", default=False, show_default=True,
              help="Add self-blended pseudo-fakes (off in the shipped model: see the ablation "
                   "in docs/metrics.md).")
@click.option("--appearance-p", type=click.FloatRange(0, 1), default=0.3, show_default=True,
              help="Share of faces globally restyled (colour, tone, blur), label kept.")
@click.option("--version", "version", default="1.1.0", show_default=True,
              help="Version written into the exported card.")
@click.option("--dataset-fakes/--no-dataset-fakes", default=True,
              help="Use the folder's own fakes (off: real faces + SBI only).")
@click.option("--pair-batches/--no-pair-batches", default=True,
              help="Put each real face next to a fake of the same source in its batch.")
@click.option("--tta", type=click.Choice(["hflip", "none"]), default="hflip", show_default=True,
              help="Test-time augmentation the exported card asks the runtime for.")
@click.option("--max-minutes", type=float, help="Stop after this much training time.")
@click.option("--limit", type=click.IntRange(min=10), help="Use only N rows (smoke test).")
def train_face_forgery(data_dir: Path, dev_dir: Path | None, out_dir: Path, epochs: int,
                       input_size: int | None, batch_size: int, lr: float, sbi_share: float,
                       sbi: bool, appearance_p: float, version: str, dataset_fakes: bool,
                       pair_batches: bool, tta: str, max_minutes: float | None,
                       limit: int | None) -> None:
    """Train the face-forgery model and export ONNX + card into --out."""
    try:
        from fakescope.train.face_forgery import TrainConfig
        from fakescope.train.face_forgery import train as run_train
    except ImportError as exc:
        fail(f"training needs the [train] extra ({exc}); run `make setup-train`", EXIT_USAGE)
    cfg = TrainConfig(
        data_dir=data_dir, dev_dir=dev_dir, out_dir=out_dir, epochs=epochs, input_size=input_size,
        batch_size=batch_size, lr=lr, sbi_share=sbi_share, use_sbi=sbi,
        use_dataset_fakes=dataset_fakes, pair_batches=pair_batches, tta=tta,
        max_minutes=max_minutes, limit=limit, appearance_p=appearance_p, version=version,
    )
    logging.getLogger("fakescope.train").setLevel(logging.INFO)
    path = run_train(cfg)
    click.echo(f"exported {path} and its card; copy both into src/fakescope/models/weights/ "
               "to ship them")


@train.command("generated")
@click.option("--photos", "photos_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=Path("../shared/data/photos"), show_default=True,
              help="Real photos (labels.csv): the training half is used, the dev half validates.")
@click.option("--faces", "faces_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=Path("../shared/data/faces/dfdc-train"), show_default=True,
              help="Labelled folder whose real crops are used too (fakes are decoded from them).")
@click.option("--taef2", "taef2_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=Path("../shared/data/weights/taef2"), show_default=True,
              help="TAEF2 encoder/decoder weights (used at training time only).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("runs/generated"), show_default=True)
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("runs/generated-cache"), show_default=True,
              help="Decoded twins of every real image, built once (resumable) and reused.")
@click.option("--steps", type=click.IntRange(min=10), default=3000, show_default=True)
@click.option("--kinds", default=None,
              help="Comma-separated decoder kinds to train on (default: all; an ablation option).")
@click.option("--generated", "generated_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Also train on these generated pictures (labels.csv with file, generator, source).")
@click.option("--exclude", multiple=True,
              help="A generator, or a publishing source (owner/name), never trained on: to measure it.")
@click.option("--generated-share", type=click.FloatRange(0, 1), default=0.25, show_default=True,
              help="Share of the pairs that are a generated picture against a real one (with --generated).")
@click.option("--frames", "frames_dirs", multiple=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A video folder (labels.csv) whose real clips give training frames, 8 per clip.")
@click.option("--init", "init_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Start from this training run's model.pt (fine-tuning) instead of ImageNet weights.")
@click.option("--version", "version", default="1.0.0", show_default=True)
def train_generated(photos_dir: Path, faces_dir: Path, taef2_dir: Path, out_dir: Path, cache_dir: Path,
                    steps: int, kinds: str | None, generated_dir: Path | None, exclude: tuple[str, ...],
                    generated_share: float, frames_dirs: tuple[Path, ...], init_dir: Path | None,
                    version: str) -> None:
    """Train the generated-image detector on real images and their decoded twins."""
    try:
        from fakescope.train.generated import GeneratedConfig
        from fakescope.train.generated import train as run_train
    except ImportError as exc:
        fail(f"training needs the [train] extra ({exc}); run `make setup-train`", EXIT_USAGE)
    logging.getLogger("fakescope.train").setLevel(logging.INFO)
    cfg = GeneratedConfig(photos_dir=photos_dir, faces_dir=faces_dir, taef2_dir=taef2_dir,
                          out_dir=out_dir, cache_dir=cache_dir, steps=steps, version=version,
                          generated_dir=generated_dir, exclude=list(exclude), generated_share=generated_share,
                          init=init_dir, frames_dirs=list(frames_dirs),
                          **({"kinds": [k.strip() for k in kinds.split(",")]} if kinds else {}))
    path = run_train(cfg)
    click.echo(f"exported {path} and its card; measure it with "
               f"`FAKESCOPE_MODELS_DIR={out_dir} python scripts/generated_eval.py`")


def _feedback_options(f: Any) -> Any:
    """Where a `--feedback` retrain reads the reviews: the service's store (as `fakescope
    calibrate`), and --dry-run."""
    f = click.option("--dry-run", is_flag=True, help="Compare and keep the comparison, promote nothing.")(f)
    f = click.option("--blob-url", help="The service's blob store.")(f)
    f = click.option("--database-url", help="The service's database.")(f)
    f = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                     help="The service's data folder (env FAKESCOPE_DATA_DIR).")(f)
    return click.option("--config", "config_file",
                        type=click.Path(dir_okay=False, exists=True, path_type=Path),
                        help="The service's settings file.")(f)


def _decoded(path: Path, kind: type) -> Any:
    """A reviewed upload decoded as the scan decodes it, if it is of ``kind`` (else None)."""
    from fakescope.config import ScanSettings
    from fakescope.errors import FakescopeError
    from fakescope.media import decode, read_file

    limits = ScanSettings().limits
    try:
        media = decode(read_file(path, limits), limits)
    except FakescopeError:
        return None
    return media if isinstance(media, kind) else None


@train.command("generated-head")
@click.option("--features", "features", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Feature files of scripts/picture_features.py (the base file and --layers).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("runs/generated-head"), show_default=True,
              help="Writes generated.head.json here (and the generated_clip thresholds into "
                   "a fusion.json found there).")
@click.option("--folds", type=click.IntRange(min=2), default=5, show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True,
              help="Draws of the folds the estimate averages.")
@click.option("--spec", default=None, help="The features read (default: the shipped reading).")
@click.option("--balance", type=click.FloatRange(0, 1), default=None,
              help="Weigh pictures by their source's size ** -balance (default: the shipped value).")
@click.option("--feedback", is_flag=True,
              help="Retrain from this deployment's reviewed photos instead (the service's database and "
                   "blobs: --data-dir / --database-url / --blob-url): a challenger that replaces the head "
                   "in use only if it beats it on held-out reviews and on the bundled benchmark.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="With --feedback: the service's settings file.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="With --feedback: the service's data folder (env FAKESCOPE_DATA_DIR).")
@click.option("--database-url", help="With --feedback: the service's database.")
@click.option("--blob-url", help="With --feedback: the service's blob store.")
@click.option("--dry-run", is_flag=True,
              help="With --feedback: compare and keep the comparison, promote nothing.")
def train_generated_head(features: tuple[Path, ...], out_dir: Path, folds: int, repeats: int,
                         spec: str | None, balance: float | None, feedback: bool, config_file: Path | None,
                         data_dir: Path | None, database_url: str | None, blob_url: str | None,
                         dry_run: bool) -> None:
    """Fit the generated-image head on frozen CLIP features, with the estimate held out by source;
    or, with --feedback, retrain it from this deployment's reviews (docs/feedback.md)."""
    if feedback:
        _feedback_head(config_file, data_dir, database_url, blob_url, dry_run)
        return
    if not features:
        fail("give the feature files (--features), or --feedback to retrain from reviews", EXIT_USAGE)
    from fakescope.train import generated_head as gh

    try:
        report = gh.train_head(list(features), out_dir, folds, repeats, spec=spec or gh.SPEC,
                               balance=gh.BALANCE if balance is None else balance)
    except (KeyError, ValueError) as exc:
        fail(f"cannot fit the head: {exc}", EXIT_USAGE)
    (out_dir / "generated.head.estimate.json").write_text(json.dumps(report, indent=1) + "\n")
    click.echo(f"held out by source: AUC {report['auc']:.3f}, reals called fake "
               f"{report['real_called_fake']:.3f} (worst source {report['worst_real_source']:.3f}, "
               f"{report['real_sources_over_5pct']} real sources over 5 %), "
               f"fakes caught {report['fake_caught']:.3f}")
    click.echo(f"wrote {out_dir / 'generated.head.json'}; copy it into src/fakescope/models/weights/ "
               "to ship it")


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:5.1f} %"


def _feedback_head(config_file: Path | None, data_dir: Path | None, database_url: str | None,
                   blob_url: str | None, dry_run: bool) -> None:
    """The challenger from the reviews, its comparison printed and kept, promoted if it wins."""
    import sys

    from fakescope.analyzers.generated import GeneratedImageAnalyzer
    from fakescope.cli.service import _database, _settings
    from fakescope.errors import FakescopeError
    from fakescope.feedback import heads
    from fakescope.media import ImageMedia
    from fakescope.models import load_fusion, models_dir
    from fakescope.store.blobs import BlobStore

    settings = _settings(config_file, data_dir=data_dir, database_url=database_url, blob_url=blob_url)
    analyzer = GeneratedImageAnalyzer()
    if analyzer.head is None:
        fail("retraining the head needs the CLIP encoder: fakescope models install-clip", EXIT_USAGE)
    card = load_fusion()
    if card is None:
        fail("no fusion card is installed: nothing judges the head", EXIT_USAGE)

    def features_of(path: Path) -> object:
        media = _decoded(path, ImageMedia)
        return analyzer.head_features(media.rgb) if media is not None else None

    folder = settings.calibration_dir
    try:
        outcome = heads.retrain(_database(settings), BlobStore(settings.blobs_url), folder,
                                models_dir("generated"), card, features_of,
                                command=" ".join(["fakescope train generated-head", *sys.argv[3:]]))
    except FakescopeError as exc:
        fail(str(exc))
    _print_comparison(outcome.comparison, outcome.pictures, outcome.skipped, "photos",
                      ("real photos called fake", "fake photos called fake"), "pictures")
    _promote(folder, heads.keep(folder, outcome), outcome.comparison, outcome.calibration, dry_run, "photos")


def _print_comparison(c: Comparison, n: int, skipped: Mapping[str, int], what: str, rows: tuple[str, str],
                      bench: str, made: str = "generated") -> None:
    """Champion against challenger, as the `--feedback` commands print it."""
    click.echo(f"{n} reviewed {what} ({c.reviews_real} real, {c.reviews_fake} fake)"
               + "".join(f"; {k} left out: {why}" for why, k in skipped.items()))
    click.echo(f"  {'':34s} {'in use':>9s} {'challenger':>11s}")
    rc, rn = c.reviews["champion"], c.reviews["challenger"]
    click.echo(f"  {'held-out reviews: mistakes':34s} {rc.mistakes:9d} {rn.mistakes:11d}")
    click.echo(f"  {'  ' + rows[0]:34s} {_pct(rc.false_alarms):>9s} {_pct(rn.false_alarms):>11s}")
    click.echo(f"  {'  ' + rows[1]:34s} {_pct(rc.detection):>9s} {_pct(rn.detection):>11s}")
    gc, gn = c.guard["champion"], c.guard["challenger"]
    click.echo(f"  benchmark ({c.guard_size['fake']} {made}, {c.guard_size['real']} real {bench}):")
    click.echo(f"  {'  AUC':34s} {gc.auc or 0:9.3f} {gn.auc or 0:11.3f}")
    click.echo(f"  {'  ' + made + ' called fake':34s} {_pct(gc.detection):>9s} {_pct(gn.detection):>11s}")
    click.echo(f"  {'  real called fake':34s} {_pct(gc.false_alarms):>9s} {_pct(gn.false_alarms):>11s}")


def _promote(folder: Path, kept: Path, c: Comparison, calibration: LocalCalibration, dry_run: bool,
             what: str) -> None:
    """Say where the comparison is kept, and save the winner as a new local calibration."""
    from fakescope.feedback import versions

    click.echo(f"comparison kept in {kept}")
    if not c.promoted:
        click.echo("the head in use stays: " + "; ".join(c.reasons))
        return
    if dry_run:
        click.echo("the challenger wins; dry run: nothing promoted")
        return
    saved = versions.save_new(folder, calibration)
    click.echo(f"the challenger wins: local calibration v{saved.version} reads {what} with it from the next "
               "scan (fakescope calibrate --rollback goes back)")


@train.command("video-head")
@click.option("--feedback", is_flag=True,
              help="Retrain the appearance head (what the video clip model reads) from this deployment's "
                   "reviewed videos (the service's database and blobs: --data-dir / --database-url / "
                   "--blob-url): a challenger that replaces the head in use only if it beats it on "
                   "held-out reviews and on the bundled benchmark.")
@_feedback_options
def train_video_head(feedback: bool, config_file: Path | None, data_dir: Path | None,
                     database_url: str | None, blob_url: str | None, dry_run: bool) -> None:
    """Retrain the video clip model's appearance head from this deployment's reviews
    (--feedback; docs/feedback.md). The shipped head is fitted by scripts/video_clip_embed.py fit."""
    if not feedback:
        fail("the shipped appearance head is fitted by `python scripts/video_clip_embed.py fit`; "
             "--feedback retrains it from this deployment's reviewed videos", EXIT_USAGE)
    import sys

    from fakescope.analyzers.appearance import HEAD_FILE, AppearanceAnalyzer
    from fakescope.cli.service import _database, _settings
    from fakescope.errors import FakescopeError
    from fakescope.feedback import video_head
    from fakescope.media.video import VideoMedia
    from fakescope.models import load_fusion
    from fakescope.store.blobs import BlobStore

    settings = _settings(config_file, data_dir=data_dir, database_url=database_url, blob_url=blob_url)
    try:
        analyzer = AppearanceAnalyzer()
    except FakescopeError as exc:
        fail(str(exc))
    if analyzer.head is None:
        fail("retraining the head needs the CLIP encoder: fakescope models install-clip", EXIT_USAGE)
    card = load_fusion()
    if card is None:
        fail("no fusion card is installed: nothing judges the head", EXIT_USAGE)

    def features_of(path: Path) -> object:
        media = _decoded(path, VideoMedia)
        return analyzer.head_inputs(media) if media is not None else None

    folder = settings.calibration_dir
    try:
        outcome = video_head.retrain(_database(settings), BlobStore(settings.blobs_url), folder,
                                     HEAD_FILE.parent, card, features_of,
                                     command=" ".join(["fakescope train video-head", *sys.argv[3:]]))
    except FakescopeError as exc:
        fail(str(exc))
    _print_comparison(outcome.comparison, outcome.videos, outcome.skipped, "videos",
                      ("real videos called fake", "fake videos caught"), "clips")
    _promote(folder, video_head.keep(folder, outcome), outcome.comparison, outcome.calibration, dry_run,
             "videos")


@train.command("voice")
@click.option("--data", "data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=Path("../shared/data/speech"), show_default=True,
              help="Folder with tts/, vc/ and librispeech/ (labels.csv each).")
@click.option("--pages", "pages_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The demo-page corpus (python -m fakescope.train.speech_corpus prepare): more pages, "
                   "each family held out whole.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("runs/voice"), show_default=True)
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("runs/voice-cache"), show_default=True,
              help="Decoded audio, pseudo-fakes, channel copies and encoder features, reused between runs.")
@click.option("--layers", type=click.IntRange(1, 4), default=2, show_default=True,
              help="Whisper encoder blocks the model keeps.")
@click.option("--hidden", type=click.IntRange(min=0), default=0, show_default=True,
              help="Hidden units of the head (0: linear).")
@click.option("--equalize/--no-equalize", default=True, show_default=True,
              help="Replace each mel band's mean by a speech profile before the encoder.")
@click.option("--steps", type=click.IntRange(min=10), default=3000, show_default=True)
@click.option("--telephone-p", type=click.FloatRange(0, 1), default=0.3, show_default=True,
              help="Share of training windows band-limited to the telephone band.")
@click.option("--no-pseudo", is_flag=True, help="Without re-synthesised and TTS pseudo-fakes (ablation).")
@click.option("--vocoder", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="HiFi-GAN ONNX from `python -m fakescope.synth.vocoder`: a vocoder twin of every real "
                   "clip, and the pairs that train the trace kinds (vocoder/codec-like, prosody, spectrum).")
@click.option("--twins/--no-twins", default=False, show_default=True,
              help="With --vocoder: the score head learns from the vocoder twins too (by default only the "
                   "trace kinds do: with twins the unseen page families lost 0.02 AUC).")
@click.option("--version", "version", default="2.0.0", show_default=True)
@click.option("--lopo-only", is_flag=True, help="Print the leave-one-page-out table; export nothing.")
def train_voice(data_dir: Path, pages_dir: Path | None, out_dir: Path, cache_dir: Path, layers: int,
                hidden: int, equalize: bool, steps: int, telephone_p: float, no_pseudo: bool,
                vocoder: Path | None, twins: bool, version: str, lopo_only: bool) -> None:
    """Train the voice model (bona fide vs synthesised/converted speech); export ONNX + card."""
    try:
        from fakescope.train.voice import VoiceConfig, lopo, summarise, train_final
    except ImportError as exc:
        fail(f"training needs the [train] extra ({exc}); run `make setup-train`", EXIT_USAGE)
    logging.getLogger("fakescope.train").setLevel(logging.INFO)
    cfg = VoiceConfig(data_dir=data_dir, pages_dir=pages_dir, out_dir=out_dir, cache_dir=cache_dir,
                      layers=layers, hidden=hidden,
                      equalize=equalize,
                      steps=steps, telephone_p=telephone_p, pseudo=not no_pseudo, vocoder=vocoder,
                      twins=twins, version=version, command=command_line())
    if lopo_only:
        res = lopo(cfg)
        click.echo(json.dumps(summarise(res["corpus"], res["oof"]), indent=2, default=float))
        return
    path = train_final(cfg)
    click.echo(f"exported {path} and its card; copy both into src/fakescope/models/weights/ to ship them")


@train.command("voice-head")
@click.option("--feedback", is_flag=True,
              help="Retrain from this deployment's reviewed audio files (the service's database and "
                   "blobs: --data-dir / --database-url / --blob-url): a challenger that replaces the head in "
                   "use only if it beats it on held-out reviews and on the bundled benchmark.")
@_feedback_options
def train_voice_head(feedback: bool, config_file: Path | None, data_dir: Path | None,
                     database_url: str | None, blob_url: str | None, dry_run: bool) -> None:
    """Retrain the voice model's head from this deployment's reviews (--feedback; docs/feedback.md)."""
    if not feedback:
        fail("the voice head is trained with `fakescope train voice`; give --feedback to retrain it from "
             "reviews", EXIT_USAGE)
    import sys

    from fakescope.analyzers.base import AudioItem
    from fakescope.analyzers.voice import VoiceAnalyzer
    from fakescope.cli.service import _database, _settings
    from fakescope.config import ScanSettings
    from fakescope.errors import FakescopeError
    from fakescope.feedback import voice_head
    from fakescope.media.audio import RATE, AudioMedia
    from fakescope.models import load_fusion, models_dir
    from fakescope.store.blobs import BlobStore

    settings = _settings(config_file, data_dir=data_dir, database_url=database_url, blob_url=blob_url)
    scan_settings = ScanSettings()
    try:
        analyzer = VoiceAnalyzer()
    except FakescopeError as exc:
        fail(f"the voice model cannot be loaded: {exc}")

    def readings_of(path: Path) -> object:
        media = _decoded(path, AudioMedia)
        if media is None:
            return None
        try:
            return analyzer.head_readings(AudioItem(media=media, chunks=lambda: media.chunks(RATE), rate=RATE,
                                                    settings=scan_settings))
        except FakescopeError:
            return None

    folder = settings.calibration_dir
    fusion = load_fusion()
    try:
        outcome = voice_head.retrain(_database(settings), BlobStore(settings.blobs_url), folder,
                                     models_dir("voice"), readings_of,
                                     command=" ".join(["fakescope train voice-head", *sys.argv[3:]]),
                                     base_fusion=fusion.version if fusion is not None else "")
    except FakescopeError as exc:
        fail(str(exc))
    _print_comparison(outcome.comparison, outcome.files, outcome.skipped, "audio files",
                      ("real files called fake", "fake files called fake"), "speech files", made="synthetic")
    _promote(folder, voice_head.keep(folder, outcome), outcome.comparison, outcome.calibration, dry_run,
             "audio files")
