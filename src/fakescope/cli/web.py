"""``fakescope web-build``: the in-browser check as a static folder (docs/browser.md)."""

from __future__ import annotations

from pathlib import Path

import click

from fakescope.cli.common import EXIT_FAILED, fail


@click.command("web-build")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--node-modules", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="node_modules filled by `npm ci` with fakescope/web/package.json (default: "
              "$FAKESCOPE_WEB_NODE_MODULES, else the one next to that package.json).")
def web_build(out: Path, node_modules: Path | None) -> None:
    """Build the page that checks photos in the browser, on the user's own device, into OUT.

    Open OUT/index.html from disk, serve the folder anywhere, or let `fakescope serve` serve
    it at /check (setting check_dir, or DATA_DIR/check)."""
    from fakescope.errors import FakescopeError
    from fakescope.web.build import build

    try:
        result = build(out, node_modules)
    except FakescopeError as exc:
        fail(str(exc), EXIT_FAILED)
    click.echo(f"built {result.out} ({len(result.files)} files, {result.total_bytes / 2**20:.1f} MB): "
               f"open {result.out / 'index.html'} in a browser")
