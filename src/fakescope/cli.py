"""The ``fakescope`` command line.

Exit status: 0 when every input was scanned (whatever the verdicts), 1 when some input
failed (each failure is reported and the rest still scanned), 2 for usage errors.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from fakescope import __version__
from fakescope.cli_batch import batch as batch_command
from fakescope.cli_provenance import provenance_commands
from fakescope.cli_service import add_api_key_commands, service_commands
from fakescope.errors import FakescopeError

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2

_VERDICT_STYLE = {
    "fake": "bold red", "real": "green", "inconclusive": "yellow", "no_face": "cyan",
    "error": "bold magenta",
}


def _fail(message: str, code: int = EXIT_SOME_FAILED) -> None:
    click.echo(f"fakescope: {message}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fakescope")
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-vv for debug).")
def main(verbose: int) -> None:
    """Deepfake detection and media provenance with explained verdicts."""
    logging.basicConfig(
        level=logging.WARNING - 10 * min(verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["text", "jsonl"]), default="text",
              show_default=True, help="jsonl: one JSON report per input file on stdout.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a self-contained HTML report with face boxes and heatmaps.")
@click.option("--analyzers", help="Comma-separated analyzer names (default: all).")
@click.option("--max-pixels", type=click.IntRange(min=1), help="Refuse larger images.")
@click.option("--max-bytes", type=click.IntRange(min=1), help="Refuse larger image files.")
@click.option("--max-duration", type=click.FloatRange(min=0.1),
              help="Refuse video/audio longer than this many seconds.")
@click.option("--frames", "video_frames", type=click.IntRange(min=1, max=10_000),
              help="Video: frames sampled evenly over the clip (default 32).")
@click.option("--fps", "video_fps", type=click.FloatRange(min=0.01, max=120),
              help="Video: dense mode, analyse this many frames per second instead.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: when stderr is a terminal).")
def scan(paths: tuple[str, ...], fmt: str, html_out: Path | None, analyzers: str | None,
         max_pixels: int | None, max_bytes: int | None, max_duration: float | None,
         video_frames: int | None, video_fps: float | None, progress: bool | None) -> None:
    """Scan photos (files or folders, recursively) for manipulation."""
    from rich.console import Console
    from rich.markup import escape

    from fakescope.config import MediaLimits, ScanSettings, VideoSettings
    from fakescope.inputs import InputFile, Skipped, expand
    from fakescope.pipeline import Scanner
    from fakescope.progress import make_progress

    limits = MediaLimits()
    if max_pixels:
        limits.max_pixels = max_pixels
    if max_bytes:
        limits.max_bytes = max_bytes
    if max_duration:
        limits.max_duration_s = max_duration
    video = VideoSettings()
    if video_frames:
        video.frames = video_frames
    if video_fps:
        video.fps = video_fps
    settings = ScanSettings(
        limits=limits,
        video=video,
        analyzers=[a.strip() for a in analyzers.split(",") if a.strip()] if analyzers else None,
        explain=html_out is not None,
    )
    try:
        scanner = Scanner(settings)
    except FakescopeError as exc:
        _fail(str(exc), EXIT_USAGE if exc.code == "unknown_analyzer" else EXIT_SOME_FAILED)

    entries = list(expand(paths))
    files = [e for e in entries if isinstance(e, InputFile)]
    err = Console(stderr=True)
    out = Console(highlight=False, soft_wrap=True)
    show_progress = progress if progress is not None else (err.is_terminal and len(files) > 1)

    html = None
    if html_out is not None:
        from fakescope.report.html import HtmlReportWriter

        html = HtmlReportWriter(html_out)

    failed = 0
    counts: dict[str, int] = {}
    prog = make_progress(err) if show_progress else None
    task = prog.add_task("scanning", total=len(files), rate="") if prog else None
    if prog:
        prog.start()
        if out.is_terminal:
            # Same terminal as the bar: print through it so lines and bar do not collide.
            out = prog.console
    try:
        for entry in entries:
            if isinstance(entry, Skipped):
                err.print(f"[dim]skipped {escape(entry.display)}: {entry.reason}[/dim]",
                          highlight=False)
                continue
            report = scanner.scan(entry.path, entry.display)
            counts[report.verdict] = counts.get(report.verdict, 0) + 1
            if report.verdict == "error":
                failed += 1
            if fmt == "jsonl":
                sys.stdout.write(report.to_json() + "\n")
                sys.stdout.flush()
            else:
                _print_text(out, report)
            if html is not None:
                html.add(report)
            report.drop_visual()
            if prog is not None and task is not None:
                prog.advance(task)
    finally:
        if prog:
            prog.stop()
        if html is not None:
            html.close()
    if html_out is not None:
        err.print(f"HTML report written to {html_out}", highlight=False)
    if len(files) > 1:
        summary = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
        err.print(f"{len(files)} files: {summary}", highlight=False)
    sys.exit(EXIT_SOME_FAILED if failed else EXIT_OK)


def _command_line() -> str:
    """The command as a user would retype it (program name, not the interpreter path)."""
    return " ".join(["fakescope", *sys.argv[1:]])


def _print_text(out, report) -> None:  # type: ignore[no-untyped-def]
    style = _VERDICT_STYLE.get(report.verdict, "")
    score = f"{report.score:.3f}" if report.score is not None else "  -  "
    faces = f"{len(report.faces)} face{'s' if len(report.faces) != 1 else ''}"
    detail = report.reason if report.verdict in ("error", "no_face") else faces
    if report.media_type == "video" and report.verdict not in ("error", "no_face") and report.video:
        n = len(report.tracks)
        detail = (f"{report.video.duration_s:.0f} s, {n} person{'s' if n != 1 else ''}, "
                  f"{report.video.frames_analysed} frames")
    if report.media_type == "audio" and report.verdict != "error":
        detail = report.reason if report.score is None else (
            f"{report.audio.speech_s or 0:.1f} s of speech" if report.audio else "audio")
    from rich.markup import escape

    out.print(f"[{style}]{report.verdict:<12}[/{style}] {score}  {escape(report.file)}  "
              f"({escape(detail)})",
              highlight=False, soft_wrap=True)


@main.command()
@click.argument("directories", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where to write results (default: eval-results/); one folder per dataset "
                   "and degradation with metrics.json, scores.csv, roc.png, reliability.png.")
@click.option("--degrade", "degradations", multiple=True, default=("none",), show_default=True,
              help="Re-encode every file first: none, jpegQ (e.g. jpeg70), resizeF (e.g. "
                   "resize0.5). Repeat to measure several.")
@click.option("--bootstrap", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Bootstrap resamples for the AUC confidence interval (0 = none).")
@click.option("--limit", type=click.IntRange(min=1), help="Evaluate only the first N rows.")
@click.option("--subsample", type=click.IntRange(min=2),
              help="Evaluate a fixed random subset of N rows (seed 0).")
@click.option("--analyzers", help="Comma-separated analyzer names (default: all), e.g. to "
                                  "measure one model.")
@click.option("--record-in-card", is_flag=True,
              help="Record the metrics in the card of the one model evaluated (maintainers; "
                   "with --analyzers).")
def eval(directories: tuple[Path, ...], out_dir: Path | None, degradations: tuple[str, ...],
         bootstrap: int, limit: int | None, subsample: int | None, analyzers: str | None,
         record_in_card: bool) -> None:
    """Measure detection on labelled folders (DIR/labels.csv: file,label with real/fake).

    Prints AUC (with a bootstrap 95% interval), EER, accuracy, TPR/FPR at the shipped
    threshold, TPR at 1% and 5% FPR and the expected calibration error, per dataset.
    """
    from fakescope.evaluation.run import eval_settings, evaluate, parse_degradation, results_table
    from fakescope.pipeline import Scanner

    out_dir = out_dir or Path("eval-results")
    try:
        for d in degradations:
            parse_degradation(d)
        settings = eval_settings()
        if analyzers:
            settings.analyzers = [a.strip() for a in analyzers.split(",") if a.strip()]
        scanner = Scanner(settings)
        with_cards = [a.name for a in scanner.analyzers if a.card is not None]
        if record_in_card and len(with_cards) != 1:
            _fail("--record-in-card records one model's metrics: choose it with --analyzers "
                  f"(models here: {', '.join(with_cards) or 'none'})", EXIT_USAGE)
        results = []
        for directory in directories:
            for d in degradations:
                name = directory.name if d == "none" else f"{directory.name}-{d}"
                result = evaluate(directory, out_dir / name, bootstrap=bootstrap, limit=limit,
                                  record_in_card=record_in_card, command=_command_line(),
                                  subsample=subsample, degradation=d, scanner=scanner)
                results.append(result)
                click.echo(result.text() + "\n")
    except FakescopeError as exc:
        usage = exc.code in ("dataset_error", "unknown_analyzer")
        _fail(str(exc), EXIT_USAGE if usage else EXIT_SOME_FAILED)
    if len(results) > 1:
        click.echo(results_table(results))
    click.echo(f"wrote metrics.json, scores.csv, roc.png and reliability.png under {out_dir}/",
               err=True)


@main.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path), default="demo")
def demo(out_dir: Path) -> None:
    """Generate demo media (real photos, self-blended fakes, no-face and broken files)."""
    from fakescope.demo import make_demo

    for path, what in make_demo(out_dir):
        click.echo(f"{path}  {what}")


@main.command()
def schema() -> None:
    """Print the JSON Schema of the scan report."""
    from fakescope.report.schema import ScanReport

    click.echo(json.dumps(ScanReport.model_json_schema(), indent=2))


@main.command()
def models() -> None:
    """List the bundled models and what their cards say."""
    from fakescope.analyzers.registry import MODEL_FREE, available
    from fakescope.models import load_card, models_dir

    for name in available():
        if name in MODEL_FREE:
            continue
        try:
            card = load_card(name)
        except FakescopeError as exc:
            click.echo(f"{name}: {exc}")
            continue
        click.echo(f"{card.name} {card.version}  ({models_dir() / card.file})")
        if card.input.kind == "audio":
            click.echo(f"  {card.architecture}; input {card.input.segment_s:g} s windows at "
                       f"{card.input.sample_rate} Hz, {card.input.size} bands")
        else:
            click.echo(f"  {card.architecture}; input {card.input.size}px, margin {card.input.margin}")
        for m in card.metrics:
            click.echo(f"  {m.name} {m.value:.4f} on {m.dataset} (n={m.n}) — `{m.command}`")


@main.command()
@click.option("--images-per-month", type=int, help="Photos scanned a month.")
@click.option("--videos-per-month", type=int, help="Video files scanned a month.")
@click.option("--video-minutes", type=float, help="Minutes of video scanned a month (all videos).")
@click.option("--storage-tb", type=float, help="Media kept in object storage, in TB.")
@click.option("--provider", default="all", show_default=True, help="aws, gcp, azure or all.")
@click.option("--preset", default="seed-2025", show_default=True,
              help="Price sheets (and, when no volume is given, the workload) to use.")
@click.option("--frames-per-video-minute", type=int,
              help="Video frames sent to face detection per minute (default: the preset's).")
@click.option("--inference-instances", type=int,
              help="Always-on managed inference instances (default: the preset's).")
@click.option("--self-hosted", is_flag=True,
              help="Also price the workload on fakescope itself, sized from measured throughput.")
@click.option("--throughput-file", "throughput_files", multiple=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Benchmark result JSON (photos_per_s and/or video_minutes_per_s); repeatable. "
                   "Default: benchmarks/results/photos.json and videos.json.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True)
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a self-contained HTML bar chart.")
@click.option("--prices-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Use price sheets and presets from this folder instead of the bundled ones.")
def cost(images_per_month: int | None, videos_per_month: int | None, video_minutes: float | None,
         storage_tb: float | None, provider: str, preset: str, frames_per_video_minute: int | None,
         inference_instances: int | None, self_hosted: bool, throughput_files: tuple[Path, ...],
         fmt: str, html_out: Path | None, prices_dir: Path | None) -> None:
    """Estimate the monthly cost of a workload on managed cloud APIs (and self-hosted).

    With no volume given, the preset's own workload is priced: `fakescope cost` alone
    reproduces the seed-2025 comparison table. A volume not given is then zero.
    """
    from decimal import Decimal

    from rich.console import Console

    from fakescope.cost.report import build_report

    def dec(value: float | None) -> Decimal | None:
        # Through str: the decimal the user typed, not the binary float click parsed.
        return None if value is None else Decimal(str(value))

    try:
        report = build_report(
            preset=preset, provider=provider, images_per_month=images_per_month,
            videos_per_month=videos_per_month, video_minutes=dec(video_minutes),
            storage_tb=dec(storage_tb), frames_per_video_minute=frames_per_video_minute,
            inference_instances=inference_instances, self_hosted=self_hosted,
            throughput_files=list(throughput_files) or None, prices_dir=prices_dir,
        )
    except FakescopeError as exc:
        _fail(str(exc), EXIT_USAGE if exc.code == "cost_input" else EXIT_SOME_FAILED)

    if fmt == "json":
        from fakescope.cost.render import to_json

        sys.stdout.write(to_json(report))
    elif fmt == "csv":
        from fakescope.cost.render import to_csv

        sys.stdout.write(to_csv(report))
        # stdout stays machine-readable CSV; the assumptions still reach the reader.
        for line in report.assumptions:
            click.echo(f"assumption: {line}", err=True)
    else:
        from fakescope.cost.render import print_table

        out = Console(highlight=False)
        if not out.is_terminal:
            out = Console(highlight=False, width=200)  # a pipe or file: never wrap table rows
        print_table(report, out)
    if html_out is not None:
        from fakescope.cost.chart import to_html

        try:
            html_out.write_text(to_html(report), encoding="utf-8")
        except OSError as exc:
            _fail(f"cannot write {html_out}: {exc.strerror or exc}")
        click.echo(f"HTML chart written to {html_out}", err=True)


@main.group()
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
        _fail(f"training needs the [train] extra ({exc}); run `make setup-train`", EXIT_USAGE)
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


@train.command("synthesis")
@click.option("--data", "data_dir", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Labelled folder whose real images are used (fakes are re-synthesised).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("runs/synthesis"), show_default=True)
@click.option("--steps", type=click.IntRange(min=10), default=1200, show_default=True)
@click.option("--ae-steps", type=click.IntRange(min=10), default=800, show_default=True,
              help="Training steps of each simulating auto-encoder.")
@click.option("--holdout-kind", type=click.Choice(["transposed", "nearest", "bilinear",
                                                   "pixelshuffle"]),
              help="Leave this decoder kind out of training and report AUC on it.")
@click.option("--max-images", type=click.IntRange(min=10), default=3000, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=2), default=32, show_default=True)
def train_synthesis(data_dir: Path, out_dir: Path, steps: int, ae_steps: int,
                    holdout_kind: str | None, max_images: int, batch_size: int) -> None:
    """Train the whole-image synthesis detector on simulated generator traces."""
    try:
        from fakescope.train.synthesis import SynthConfig
        from fakescope.train.synthesis import train as run_train
    except ImportError as exc:
        _fail(f"training needs the [train] extra ({exc}); run `make setup-train`", EXIT_USAGE)
    logging.getLogger("fakescope.train").setLevel(logging.INFO)
    cfg = SynthConfig(data_dir=data_dir, out_dir=out_dir, steps=steps, ae_steps=ae_steps,
                      holdout_kind=holdout_kind, max_images=max_images, batch_size=batch_size)
    path = run_train(cfg)
    click.echo(f"exported {path} and its card")


@train.command("voice")
@click.option("--data", "data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=Path("../shared/data/speech"), show_default=True,
              help="Folder with vc/ and librispeech/ (labels.csv each).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("runs/voice"), show_default=True)
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("runs/voice-cache"), show_default=True,
              help="Decoded audio, pseudo-fakes and features, reused between runs.")
@click.option("--holdout-system", type=click.Choice(["ALGAN-VC", "CycleGAN-VC", "CycleGAN-VC2"]),
              help="Leave-one-system-out: never train on this system; report EER on it (no export).")
@click.option("--folds", type=click.IntRange(min=2), default=3, show_default=True,
              help="With --holdout-system: folds over utterance groups.")
@click.option("--steps", type=click.IntRange(min=10), default=900, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=4), default=32, show_default=True)
@click.option("--no-pseudo", is_flag=True, help="Without re-synthesised pseudo-fakes and TTS (ablation).")
@click.option("--no-dataset-fakes", is_flag=True, help="Train on pseudo-fakes only (ablation).")
def train_voice(data_dir: Path, out_dir: Path, cache_dir: Path, holdout_system: str | None, folds: int,
                steps: int, batch_size: int, no_pseudo: bool, no_dataset_fakes: bool) -> None:
    """Train the voice model (bona fide vs synthesised/converted speech); export ONNX + card."""
    try:
        from fakescope.train.voice import VoiceConfig, loso, train_final
    except ImportError as exc:
        _fail(f"training needs the [train] extra ({exc}); run `make setup-train`", EXIT_USAGE)
    logging.getLogger("fakescope.train").setLevel(logging.INFO)
    cfg = VoiceConfig(data_dir=data_dir, out_dir=out_dir, cache_dir=cache_dir, holdout_system=holdout_system,
                      folds=folds, steps=steps, batch_size=batch_size, pseudo=not no_pseudo,
                      dataset_fakes=not no_dataset_fakes, command=_command_line())
    if holdout_system:
        click.echo(json.dumps(loso(cfg), indent=2, default=float))
        return
    path = train_final(cfg)
    click.echo(f"exported {path} and its card; copy both into src/fakescope/models/weights/ to ship them")


for _command in provenance_commands():  # sign, keys, watermark, register, lookup, log
    main.add_command(_command)
for _command in service_commands():  # serve, worker, audit
    main.add_command(_command)
add_api_key_commands(main.commands["keys"])  # type: ignore[arg-type]
main.add_command(batch_command)  # fakescope batch (docs/batch.md)


if __name__ == "__main__":
    main()
