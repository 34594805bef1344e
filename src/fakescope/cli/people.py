"""``fakescope people``: enrol, list and remove protected people (docs/people.md).

Off by default: ``add`` and ``list`` need the operator's key (``FAKESCOPE_PEOPLE_KEY`` or
``--key-file``); ``remove`` does not, so an erasure never waits on a lost key. The
database is the service's (same options as ``fakescope calibrate``).
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any

import click

from fakescope.cli.common import EXIT_USAGE, fail
from fakescope.cli.service import _database, _settings, _store_options
from fakescope.errors import FakescopeError

_media = click.Path(exists=True, dir_okay=False, path_type=Path)
_key_file = click.option("--key-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                         help="File holding the key (else env FAKESCOPE_PEOPLE_KEY_FILE or "
                         "FAKESCOPE_PEOPLE_KEY).")


def _actor() -> str:
    """Who ran the command, for the audit log (the CLI has no API key)."""
    try:
        return f"cli:{getpass.getuser()}"[:40]
    except Exception:  # no login name in some containers
        return "cli"


def _key(key_file: Path | None) -> Any:
    from fakescope.people.crypto import load_key

    try:
        return load_key(key_file)
    except FakescopeError as exc:
        fail(str(exc), EXIT_USAGE)


@click.group()
def people() -> None:
    """Protected people: enrol genuine media of a person so scans can say when a face or
    voice matches them. Their templates are biometric data: stored encrypted with the
    operator's key, never in reports or logs (docs/people.md)."""


@people.command("add")
@click.argument("name")
@click.option("--photo", "photos", multiple=True, type=_media, help="A photo of the person alone "
              "(the largest face is used); repeatable.")
@click.option("--video", "videos", multiple=True, type=_media, help="A video of the person: faces from "
              "8 frames spread over it and the voice of its audio track; repeatable.")
@click.option("--audio", "audios", multiple=True, type=_media, help="A recording of the person "
              "speaking; repeatable.")
@click.option("--note", required=True, help="On what consent or authority the person is enrolled.")
@_key_file
@_store_options
def add(name: str, photos: tuple[Path, ...], videos: tuple[Path, ...], audios: tuple[Path, ...], note: str,
        key_file: Path | None, config_file: Path | None, data_dir: Path | None,
        database_url: str | None) -> None:
    """Enrol NAME from genuine photos, videos and recordings."""
    from fakescope.people import enrolment, store

    if not (photos or videos or audios):
        fail("give the person's media: at least one --photo, --video or --audio", EXIT_USAGE)
    if not note.strip():
        fail("--note is empty: say on what consent or authority the person is enrolled", EXIT_USAGE)
    key = _key(key_file)
    db = _database(_settings(config_file, data_dir=data_dir, database_url=database_url))
    try:
        name = store.clean_name(name)
        store.check_key(db, key)
        if any(p.name == name for p in store.list_people(db)):
            raise store.PersonExistsError(f"{name} is already enrolled: `fakescope people remove` first")
        enrol = enrolment.Enroller(enrolment.face_encoder, enrolment.voice_encoder,
                                   say=lambda line: click.echo(f"  {line}", err=True))
        click.echo(f"reading {len(photos) + len(videos) + len(audios)} file(s) for {name}", err=True)
        for p in photos:
            enrol.photo(p)
        for v in videos:
            enrol.video(v)
        for a in audios:
            enrol.audio(a)
        enrol.check_faces_agree()
        got = enrol.out
        for line in got.notes:
            click.echo(f"  note: {line}", err=True)
        summary = store.enrol(db, name, note, got.faces, got.voices, key, _actor(),
                              face_sources=got.face_sources, voice_sources=got.voice_sources,
                              behaviours=got.behaviours, behaviour_sources=got.behaviour_sources)
    except FakescopeError as exc:
        fail(str(exc))
    finally:
        db.dispose()
    click.echo(f"enrolled {summary.name}: {summary.faces} face and {summary.voices} voice template(s)"
               + (f", {summary.behaviours} recording(s) of how they move" if summary.behaviours else "")
               + ", encrypted")


@people.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "jsonl"]), default="text", show_default=True)
@_key_file
@_store_options
def list_(fmt: str, key_file: Path | None, config_file: Path | None, data_dir: Path | None,
          database_url: str | None) -> None:
    """List the enrolled people: names, template counts, when, by whom and why."""
    from fakescope.people import store

    _key(key_file)  # off unless the operator supplies the key
    db = _database(_settings(config_file, data_dir=data_dir, database_url=database_url))
    try:
        rows = store.list_people(db)
    finally:
        db.dispose()
    for p in rows:
        if fmt == "jsonl":
            click.echo(json.dumps(p.model_dump(mode="json"), ensure_ascii=False))
        else:
            click.echo(f"{p.name}  faces {p.faces}  voices {p.voices}  movement {p.behaviours}  enrolled "
                       f"{p.created_at:%Y-%m-%d %H:%M}Z by {p.created_by or '-'}  — {p.note}")
    if not rows and fmt == "text":
        click.echo("no protected people enrolled")


@people.command("remove")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_store_options
def remove(name: str, yes: bool, config_file: Path | None, data_dir: Path | None,
           database_url: str | None) -> None:
    """Erase NAME and every template enrolled for them (no key needed)."""
    from fakescope.people import store

    db = _database(_settings(config_file, data_dir=data_dir, database_url=database_url))
    try:
        if not yes:
            click.confirm(f"erase {name} and every template enrolled for them?", abort=True, err=True)
        summary = store.remove(db, name, _actor())
    except FakescopeError as exc:
        fail(str(exc))
    finally:
        db.dispose()
    click.echo(f"removed {summary.name}: {summary.faces} face and {summary.voices} voice template(s)"
               + (f", {summary.behaviours} recording(s) of how they move" if summary.behaviours else "")
               + " erased")


@people.command("purge")
@click.option("--older-than", "days", type=click.FloatRange(min=0.0, min_open=True), required=True,
              help="Erase everyone enrolled more than this many days ago.")
@_store_options
def purge(days: float, config_file: Path | None, data_dir: Path | None, database_url: str | None) -> None:
    """Retention: erase every person enrolled more than --older-than days ago, each audited
    (the service does it itself with people_retention_days; this is for deployments without
    one, e.g. from cron)."""
    from fakescope.people import store

    db = _database(_settings(config_file, data_dir=data_dir, database_url=database_url))
    try:
        erased = store.purge_older_than(db, days, _actor())
    finally:
        db.dispose()
    click.echo(f"erased {len(erased)} person(s) enrolled more than {days:g} days ago"
               + (": " + ", ".join(erased) if erased else ""))


@people.command("keygen")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the key to this file (owner-only) instead of printing it.")
def keygen(out: Path | None) -> None:
    """Make a key for the templates (base64 of 32 random bytes): keep it safe, since the
    enrolled templates cannot be read without it."""
    import os

    from fakescope.people.crypto import generate_key

    key = generate_key()
    if out is None:
        click.echo(key)
        return
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        fail(f"{out} exists: not overwriting a key", EXIT_USAGE)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}")
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    click.echo(f"wrote a new key to {out}; use it with --key-file or FAKESCOPE_PEOPLE_KEY_FILE", err=True)
