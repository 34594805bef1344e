"""``fakescope calibrate``: local thresholds from this deployment's reviews (docs/feedback.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from fakescope.cli.service import _database, _settings, _store_options
from fakescope.errors import FakescopeError


def _pct(x: float | int | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


@click.command()
@_store_options
@click.option("--fpr", type=click.FloatRange(0.005, 0.5), default=0.05, show_default=True,
              help="Share of reviewed real media each kind of evidence may call fake.")
@click.option("--dry-run", is_flag=True, help="Fit and print, but keep the thresholds in use.")
@click.option("--rollback", is_flag=True, help="Go back to the version before the current one.")
@click.option("--list", "list_versions", is_flag=True, help="List the versions and which is in use.")
def calibrate(config_file: Path | None, data_dir: Path | None, database_url: str | None, fpr: float,
              dry_run: bool, rollback: bool, list_versions: bool) -> None:
    """Refit each kind of evidence's thresholds from the reviewed scans of this deployment.

    Prints, per kind, the labels it used and the thresholds before and after, then the
    false alarms and detection before and after per media type (cross-validated on the
    reviews), and writes a new numbered version that the service uses from its next scan
    on. Kinds with too few labels keep the bundled thresholds; it says how many they need.
    """
    from fakescope.feedback import versions
    from fakescope.feedback.calibrate import MIN_FAKE, MIN_REAL
    from fakescope.feedback.calibrate import calibrate as fit
    from fakescope.models import load_fusion

    settings = _settings(config_file, data_dir=data_dir, database_url=database_url)
    folder = settings.calibration_dir
    try:
        if list_versions:
            cur = versions.current_version(folder)
            for v in versions.versions(folder):
                c = versions.load(folder, v)
                kinds = ", ".join([f"{k} {t.threshold_fake:.2f}" for k, t in c.kinds.items()]
                                  + [f"{name} head retrained on {len(h.scans)} reviews"
                                     for name, h in c.heads.items()])
                who = set(c.reviewers).union(*(h.reviewers for h in c.heads.values()))
                click.echo(f"v{v}{'  (in use)' if v == cur else ''}  {c.created:%Y-%m-%d %H:%M}  {kinds}  "
                           f"labels of {len(who)} reviewer(s)")
            if cur is None:
                click.echo("in use: the bundled thresholds")
            return
        if rollback:
            back = versions.rollback(folder)
            click.echo(f"in use now: {'the bundled thresholds' if back is None else f'v{back}'}")
            return
        card = load_fusion()
        if card is None:
            raise click.ClickException("no fusion card is installed: nothing to calibrate")
        db = _database(settings)
        local, skipped, items = fit(db, card, fpr, command=" ".join(["fakescope calibrate", *sys.argv[2:]]))
    except FakescopeError as exc:
        raise click.ClickException(str(exc)) from None
    labels = {m: sum(1 for i in items if i.media_type == m) for m in sorted({i.media_type for i in items})}
    click.echo(f"{len(items)} reviewed scans labelled fake or real"
               + (": " + ", ".join(f"{n} {m}" for m, n in labels.items()) if labels else ""))
    for kind, why in skipped.items():
        click.echo(f"  {kind}: kept — {why}")
    if local is None:
        click.echo(f"nothing to refit yet: a kind of evidence needs {MIN_REAL} reviewed real photos, "
                   "videos or audio files that carry it (label scans in the service's review queue)")
        return
    click.echo(f"  {'kind':20s} {'real':>5s} {'fake':>5s}  {'fake at':>15s}  {'real below':>15s}")
    for kind, t in local.kinds.items():
        note = (f"  (held by the bound ±{t.bound:.2f})" if t.bounded else
                f"  (kept: moving it down needs {MIN_FAKE} fake labels)" if t.lower_needs_fakes else "")
        click.echo(f"  {kind:20s} {t.real_labels:5d} {t.fake_labels:5d}  {t.before[0]:6.2f} → "
                   f"{t.threshold_fake:5.2f}  {t.before[1]:6.2f} → {t.threshold_real:5.2f}{note}")
    click.echo("cross-validated on the reviews (5 folds):")
    for media, f in local.figures.items():
        if "false_alarms_before" in f:
            click.echo(f"  {media}: false alarms {_pct(f['false_alarms_before'])} → "
                       f"{_pct(f['false_alarms_after'])} of {f['real_labels']} real; detection "
                       f"{_pct(f['detection_before'])} → {_pct(f['detection_after'])} "
                       f"of {f['fake_labels']} fake")
        else:
            click.echo(f"  {media}: {f['real_labels']} real, {f['fake_labels']} fake labels (its "
                       "thresholds are not refitted yet)")
    click.echo(f"labels of {len(local.reviewers)} reviewer(s): "
               + ", ".join(f"{k} {n}" for k, n in sorted(local.reviewers.items())))
    if dry_run:
        click.echo("dry run: nothing written")
        return
    cur = versions.current_version(folder)
    if cur is not None:  # a head retrained from reviews stays in use beside the new thresholds
        local = local.model_copy(update={"heads": versions.load(folder, cur).heads})
    saved = versions.save_new(folder, local)
    click.echo(f"wrote v{saved.version} to {folder}: in use from the next scan "
               "(fakescope calibrate --rollback goes back)")
