"""``fakescope anonymize``: hide every face in photos and videos before sharing them."""

from __future__ import annotations

from pathlib import Path

import click

from fakescope.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"}


def _keep(value: str | None) -> set[int]:
    if not value:
        return set()
    try:
        return {int(x) - 1 for x in value.split(",") if x.strip()}
    except ValueError:
        raise click.BadParameter("a comma-separated list of face numbers, e.g. 1,3") from None


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the anonymised copies (same names; videos become .mp4).")
@click.option("--method", type=click.Choice(["pixelate", "blur"]), default="pixelate", show_default=True)
@click.option("--keep", "keep", help="Faces to leave visible, by their number in `fakescope scan`'s "
              "report (1 = the first face), e.g. --keep 2. Applies to every file given.")
@click.option("--force", is_flag=True, help="Overwrite existing files in --out.")
def anonymize(inputs: tuple[Path, ...], out_dir: Path, method: str, keep: str | None, force: bool) -> None:
    """Cover every face in photos and videos (metadata stripped, audio kept), for sharing
    evidence without exposing bystanders."""
    from fakescope.anonymize import PHOTO_SUFFIXES, anonymize_photo, anonymize_video
    from fakescope.errors import FakescopeError
    from fakescope.inputs import InputFile, expand

    spared = _keep(keep)
    files = [e for e in expand(list(inputs)) if isinstance(e, InputFile)]
    if not files:
        fail("no media files among the inputs", EXIT_USAGE)
    failed = 0
    for f in files:
        suffix = f.path.suffix.lower()
        is_video = suffix in VIDEO_SUFFIXES
        if not is_video and suffix not in PHOTO_SUFFIXES:
            click.echo(f"skipped {f.display}: not a photo or video fakescope anonymizes", err=True)
            continue
        dst = out_dir / (f.path.stem + (".mp4" if is_video else suffix))
        if dst.exists() and not force:
            click.echo(f"skipped {f.display}: {dst} exists (use --force)", err=True)
            failed += 1
            continue
        try:
            if is_video:
                r = anonymize_video(f.path, dst, method=method, keep=spared)  # type: ignore[arg-type]
                click.echo(f"{dst}  {r.frames} frames, {r.faces} face-frames covered"
                           + (f", {r.kept} kept" if r.kept else ""))
            else:
                r = anonymize_photo(f.path, dst, method=method, keep=spared)  # type: ignore[arg-type]
                click.echo(f"{dst}  {r.faces} face(s) covered" + (f", {r.kept} kept" if r.kept else ""))
        except FakescopeError as exc:
            click.echo(f"error {f.display}: {exc}", err=True)
            failed += 1
    raise SystemExit(EXIT_FAILED if failed else EXIT_OK)
