"""``fakescope train voice-head --feedback``: the voice model's head retrained from this
deployment's reviewed audio files (feedback/voice_head.py, docs/feedback.md). The command
itself is registered in ``cli/train.py``; its body lives here."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from fakescope.cli.common import fail


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:5.1f} %"


def feedback_voice_head(config_file: Path | None, data_dir: Path | None, database_url: str | None,
                        blob_url: str | None, dry_run: bool) -> None:
    """The challenger from the reviews, its comparison printed and kept, promoted if it wins."""
    from fakescope.analyzers.base import AudioItem
    from fakescope.analyzers.voice import VoiceAnalyzer
    from fakescope.cli.service import _database, _settings
    from fakescope.config import ScanSettings
    from fakescope.errors import FakescopeError
    from fakescope.feedback import versions, voice_head
    from fakescope.media import decode, read_file
    from fakescope.media.audio import RATE, AudioMedia
    from fakescope.models import load_fusion, models_dir
    from fakescope.store.blobs import BlobStore

    settings = _settings(config_file, data_dir=data_dir, database_url=database_url, blob_url=blob_url)
    scan_settings = ScanSettings()
    limits = scan_settings.limits
    try:
        analyzer = VoiceAnalyzer()
    except FakescopeError as exc:
        fail(f"the voice model cannot be loaded: {exc}")

    def readings_of(path: Path) -> object:
        try:
            media = decode(read_file(path, limits), limits)
            if not isinstance(media, AudioMedia):
                return None
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
    c = outcome.comparison
    click.echo(f"{outcome.files} reviewed audio files ({c.reviews_real} real, {c.reviews_fake} fake)"
               + "".join(f"; {n} left out: {why}" for why, n in outcome.skipped.items()))
    click.echo(f"  {'':34s} {'in use':>9s} {'challenger':>11s}")
    rc, rn = c.reviews["champion"], c.reviews["challenger"]
    click.echo(f"  {'held-out reviews: mistakes':34s} {rc.mistakes:9d} {rn.mistakes:11d}")
    click.echo(f"  {'  real files called fake':34s} {_pct(rc.false_alarms):>9s} {_pct(rn.false_alarms):>11s}")
    click.echo(f"  {'  fake files called fake':34s} {_pct(rc.detection):>9s} {_pct(rn.detection):>11s}")
    gc, gn = c.guard["champion"], c.guard["challenger"]
    click.echo(f"  benchmark ({c.guard_size['fake']} synthetic, {c.guard_size['real']} real speech files):")
    click.echo(f"  {'  AUC':34s} {gc.auc or 0:9.3f} {gn.auc or 0:11.3f}")
    click.echo(f"  {'  synthetic called fake':34s} {_pct(gc.detection):>9s} {_pct(gn.detection):>11s}")
    click.echo(f"  {'  real called fake':34s} {_pct(gc.false_alarms):>9s} {_pct(gn.false_alarms):>11s}")
    kept = voice_head.keep(folder, outcome)
    click.echo(f"comparison kept in {kept}")
    if not c.promoted:
        click.echo("the head in use stays: " + "; ".join(c.reasons))
        return
    if dry_run:
        click.echo("the challenger wins; dry run: nothing promoted")
        return
    saved = versions.save_new(folder, outcome.calibration)
    click.echo(f"the challenger wins: local calibration v{saved.version} reads audio files with it from the "
               "next scan (fakescope calibrate --rollback goes back)")
