"""The ``fakescope`` click group and the registration of every command.

Each command family lives in its own module and is added here explicitly (importing a
command module registers nothing). Imports of heavy libraries stay inside the command
bodies, so ``fakescope --help`` loads neither the models nor the service.
"""

from __future__ import annotations

import logging
import sys

import click

from fakescope import __version__
from fakescope.cli import (
    anonymize,
    batch,
    cost,
    feedback,
    people,
    provenance,
    scan,
    service,
    train,
    watch,
    web,
)


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


# Media: scan, eval, demo, schema, models.
main.add_command(scan.scan)
main.add_command(scan.eval)
main.add_command(scan.demo)
main.add_command(scan.schema)
main.add_command(scan.models)
main.add_command(cost.cost)
main.add_command(anonymize.anonymize)
main.add_command(watch.watch)  # live streams (docs/live.md)
main.add_command(train.train)  # train face-forgery | generated | voice
# Provenance (docs/provenance.md).
main.add_command(provenance.verify)
main.add_command(provenance.sign)
main.add_command(provenance.keys)
main.add_command(provenance.watermark)
main.add_command(provenance.register)
main.add_command(provenance.lookup)
main.add_command(provenance.log)
# Service (docs/service.md); the API-key commands join the C2PA `keys init` in one group.
main.add_command(service.serve)
main.add_command(service.worker)
main.add_command(service.audit)
main.add_command(feedback.calibrate)  # local thresholds from reviews (docs/feedback.md)
service.add_api_key_commands(provenance.keys)
main.add_command(batch.batch)  # fakescope batch (docs/batch.md)
main.add_command(web.web_build)  # the in-browser check page (docs/browser.md)
main.add_command(people.people)  # protected people, off until a key is supplied (docs/people.md)
