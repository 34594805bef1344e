"""``fakescope cost``: the monthly cost of a workload on managed cloud APIs (docs/cost.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from fakescope.cli.common import EXIT_FAILED, EXIT_USAGE, fail
from fakescope.errors import FakescopeError


@click.command()
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
        fail(str(exc), EXIT_USAGE if exc.code == "cost_input" else EXIT_FAILED)

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
            fail(f"cannot write {html_out}: {exc.strerror or exc}")
        click.echo(f"HTML chart written to {html_out}", err=True)
