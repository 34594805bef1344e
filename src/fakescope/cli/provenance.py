"""Provenance commands of the ``fakescope`` command line: sign, keys, watermark, register,
lookup, log and verify. Kept apart from the media commands (``cli/main.py`` adds both to
its group) so that the detection commands and these can change independently.

Exit status as for ``scan``: 0 done, 1 something failed (an invalid proof, a tampered
registry, a file that cannot be signed), 2 usage errors (missing certificate or key, no
registry where one was named).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from fakescope.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail
from fakescope.errors import FakescopeError

_USAGE_CODES = frozenset({"credentials", "registry_not_found"})


def _fail(exc: FakescopeError | str, code: int | None = None) -> NoReturn:
    if code is None:
        code = EXIT_USAGE if isinstance(exc, FakescopeError) and exc.code in _USAGE_CODES else EXIT_FAILED
    fail(str(exc), code)


def _registry_option(f: Any) -> Any:
    return click.option("--registry", "registry_path", type=click.Path(dir_okay=False, path_type=Path),
                        help="Registry database (default: $FAKESCOPE_REGISTRY or "
                             "~/.local/share/fakescope/registry.db).")(f)


def _registry_path(given: Path | None) -> Path:
    from fakescope.config import default_registry_path

    return given if given is not None else default_registry_path()


def _load(path: Path) -> Any:
    from fakescope.config import MediaLimits
    from fakescope.media import read_file

    return read_file(path, MediaLimits())


# --- sign and keys -------------------------------------------------------------------


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--cert", "cert", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="PEM certificate chain: the signing certificate first, then its CA(s).")
@click.option("--key", "key", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="PEM private key of the signing certificate (unencrypted).")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the signed copy (default FILE with .signed before the suffix).")
@click.option("--source-type",
              help="Declare how the content was made, as an IPTC digital source type (e.g. "
                   "digitalCapture, trainedAlgorithmicMedia): records c2pa.created. Without it "
                   "the manifest records an edit of the file as it was, then c2pa.published.")
@click.option("--with-scan", is_flag=True, help="Scan the file and add the result as an assertion.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
def sign(file: Path, cert: Path, key: Path, out: Path | None, source_type: str | None, with_scan: bool,
         force: bool) -> None:
    """Add a C2PA manifest (Content Credentials) to FILE."""
    from fakescope.provenance.c2pa_reader import mime_for, read_c2pa
    from fakescope.provenance.c2pa_signer import load_credentials, sign_bytes

    try:
        creds = load_credentials(cert, key)
    except FakescopeError as exc:
        _fail(exc)
    out = out or file.with_name(f"{file.stem}.signed{file.suffix}")
    if out.exists() and not force:
        _fail(f"{out} exists (use --force to overwrite)", EXIT_USAGE)
    try:
        loaded = _load(file)
        scan = _scan_assertion(file) if with_scan else None
        signed = sign_bytes(loaded.data, mime_for(loaded.format, file.name, loaded.data[:32]), creds,
                            title=file.name, source_type=source_type, scan=scan)
    except FakescopeError as exc:
        _fail(exc)
    try:
        out.write_bytes(signed)
    except OSError as exc:
        _fail(f"cannot write {out}: {exc.strerror or exc}")
    info = read_c2pa(signed, mime_for(loaded.format, file.name, loaded.data[:32]), _anchors())
    trust = "trusted" if info.trusted else "signer not in the configured trust anchors"
    click.echo(f"signed {out}  (C2PA {info.state}, {trust}; signer {info.signer})")


def _anchors() -> str | None:
    from fakescope.config import ProvenanceSettings
    from fakescope.provenance.c2pa_reader import load_trust_anchors

    try:
        return load_trust_anchors(ProvenanceSettings().trust_anchors)
    except FakescopeError as exc:
        _fail(exc)


def _scan_assertion(path: Path) -> dict[str, Any]:
    from fakescope import __version__
    from fakescope.scan.scanner import Scanner

    r = Scanner().scan(path)
    return {"fakescope_version": __version__, "schema_version": r.schema_version, "verdict": r.verdict,
            "score": r.score, "reason": r.reason,
            "analyzers": [{"name": a.name, "version": a.version, "score": a.score} for a in r.analyzers]}


@click.group()
def keys() -> None:
    """Keys and certificates for signing."""


@keys.command("init")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("fakescope-keys"), show_default=True)
@click.option("--org", default="fakescope test", show_default=True, help="Organisation name.")
@click.option("--days", type=click.IntRange(min=1), default=365, show_default=True)
@click.option("--force", is_flag=True, help="Overwrite existing keys.")
def keys_init(out_dir: Path, org: str, days: int, force: bool) -> None:
    """Make a local test CA and a signing certificate (for trying `sign`, not production)."""
    from fakescope.provenance.keys import init_test_pki

    try:
        pki = init_test_pki(out_dir, organisation=org, days=days, force=force)
    except FakescopeError as exc:
        _fail(exc, EXIT_USAGE)
    click.echo(f"CA certificate   {pki.ca_cert}   (trust anchor)")
    click.echo(f"CA key           {pki.ca_key}   (0600)")
    click.echo(f"signing chain    {pki.chain}")
    click.echo(f"signing key      {pki.key}   (0600)")
    click.echo(f"try: fakescope sign FILE --cert {pki.chain} --key {pki.key}")
    click.echo(f"trust it when scanning: export FAKESCOPE_TRUST_ANCHORS={pki.ca_cert}")


# --- watermark -------------------------------------------------------------------------


@click.group()
def watermark() -> None:
    """Invisible watermarks (invisible-watermark's dwtDctSvd scheme with a fakescope payload)."""


@watermark.command("embed")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--payload", help="32-bit payload as 8 hex digits (default: the first 8 hex "
                                "digits of the file's SHA-256).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Output image (default FILE.wm.png; .jpg writes JPEG quality 95).")
def watermark_embed(file: Path, payload: str | None, out: Path | None) -> None:
    """Embed the fakescope watermark in an image."""
    import numpy as np
    from PIL import Image

    from fakescope.config import MediaLimits
    from fakescope.media import decode
    from fakescope.provenance.watermark import embed

    try:
        value = int(payload, 16) if payload else None
    except ValueError:
        _fail(f"--payload must be hex digits, not {payload!r}", EXIT_USAGE)
    if value is not None and not 0 <= value < 2**32:
        _fail("--payload must fit in 32 bits (8 hex digits)", EXIT_USAGE)
    out = out or file.with_name(f"{file.stem}.wm.png")
    try:
        loaded = _load(file)
        media = decode(loaded, MediaLimits())
        if value is None:
            value = int(loaded.sha256[:8], 16)
        marked = embed(media.rgb, value)
    except FakescopeError as exc:
        _fail(exc)
    im = Image.fromarray(np.ascontiguousarray(marked))
    try:
        if out.suffix.lower() in (".jpg", ".jpeg"):
            im.save(out, format="JPEG", quality=95)
        else:
            im.save(out, format="PNG")
    except (OSError, ValueError) as exc:
        _fail(f"cannot write {out}: {exc}")
    click.echo(f"watermarked {out}  (payload {value:08x})")


@watermark.command("detect")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "jsonl"]), default="text", show_default=True)
def watermark_detect(files: tuple[Path, ...], fmt: str) -> None:
    """Look for the fakescope watermark in images."""
    from fakescope.config import MediaLimits
    from fakescope.media import decode
    from fakescope.provenance.watermark import detect

    failed = 0
    for f in files:
        try:
            info = detect(decode(_load(f), MediaLimits()).rgb)
        except FakescopeError as exc:
            click.echo(f"fakescope: {f}: {exc}", err=True)
            failed += 1
            continue
        if fmt == "jsonl":
            click.echo(json.dumps({"file": str(f), **info.model_dump()}))
        elif not info.checked:
            click.echo(f"unchecked  {f}  ({info.reason})")
        else:
            what = f"payload {info.payload}" if info.detected else "no fakescope mark"
            click.echo(f"{'marked' if info.detected else 'unmarked':<10} {f}  ({what}; magic bits "
                       f"{info.bit_accuracy:.0%} correct)")
    sys.exit(EXIT_FAILED if failed else EXIT_OK)


# --- registry and log ------------------------------------------------------------------


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--label", help="A note stored with each entry (e.g. a caption or an ID).")
@_registry_option
def register(files: tuple[Path, ...], label: str | None, registry_path: Path | None) -> None:
    """Record files' SHA-256 and perceptual fingerprints in the registry's Merkle log."""
    from fakescope.config import MediaLimits
    from fakescope.media import decode
    from fakescope.provenance.check import fingerprint_loaded
    from fakescope.provenance.registry import Registry

    path = _registry_path(registry_path)
    failed = 0
    try:
        reg = Registry.create(path)
    except FakescopeError as exc:
        _fail(exc)
    with reg:
        for f in files:
            try:
                loaded = _load(f)
                media = decode(loaded, MediaLimits()) if loaded.media_type == "image" else None
                fp = fingerprint_loaded(loaded, media, MediaLimits(), variants=True)
                if fp is None:
                    raise FakescopeError(f"{loaded.format or 'this'} files cannot be fingerprinted")
                done = reg.register(loaded.sha256, fp, label=label)
            except FakescopeError as exc:
                click.echo(f"fakescope: {f}: {exc}", err=True)
                failed += 1
                if exc.code == "registry_tampered":
                    break
                continue
            state = "registered" if done.new else "already registered"
            click.echo(f"{state:<18} {f}  entry {done.entry.id}, tree size {done.head.tree_size}, "
                       f"root {done.head.root.hex()[:16]}…")
    sys.exit(EXIT_FAILED if failed else EXIT_OK)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--proof", "proof_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the best match's inclusion proof (JSON) here, for `log verify-proof`.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: matches and the best match's inclusion proof on stdout.")
@_registry_option
def lookup(file: Path, proof_out: Path | None, fmt: str, registry_path: Path | None) -> None:
    """Find exact and near-duplicate matches of FILE in the registry, with an inclusion proof."""
    from fakescope.config import MediaLimits
    from fakescope.media import decode
    from fakescope.provenance.check import fingerprint_loaded
    from fakescope.provenance.registry import Registry

    try:
        reg = Registry.open(_registry_path(registry_path))
    except FakescopeError as exc:
        _fail(exc)
    with reg:
        try:
            loaded = _load(file)
            media = decode(loaded, MediaLimits()) if loaded.media_type == "image" else None
            fp = fingerprint_loaded(loaded, media, MediaLimits())
            info = reg.lookup(loaded.sha256, fp)
            bundle = reg.inclusion_bundle(info.matches[0].entry_id) if info.matches else None
        except FakescopeError as exc:
            _fail(exc)
    if fmt == "json":
        click.echo(json.dumps({"file": str(file), "sha256": loaded.sha256, **info.model_dump(),
                               "proof": bundle}, indent=2))
    else:
        if not info.matches:
            click.echo(f"no match  {file}  (log of {info.tree_size} entries)")
        for m in info.matches:
            label = f", {m.label}" if m.label else ""
            click.echo(f"{m.kind:<5} entry {m.entry_id}  distance {m.distance:.3f}  registered "
                       f"{m.registered_at}{label}")
    if bundle is not None and proof_out is not None:
        try:
            proof_out.write_text(json.dumps(bundle, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            _fail(f"cannot write {proof_out}: {exc.strerror or exc}")
        click.echo(f"inclusion proof of entry {bundle['leaf_index']} written to {proof_out}", err=True)


@click.group()
def log() -> None:
    """The registry's transparency log: signed tree heads and proofs."""


@log.command("head")
@_registry_option
def log_head(registry_path: Path | None) -> None:
    """Check the log and print its latest signed tree head and public key (to pin)."""
    import base64
    import datetime as dt

    from fakescope.provenance.registry import Registry

    try:
        with Registry.open(_registry_path(registry_path)) as reg:
            head = reg.check()
            click.echo(f"tree size   {head.tree_size}")
            click.echo(f"root hash   {head.root.hex()}")
            when = dt.datetime.fromtimestamp(head.timestamp_ms / 1000, dt.timezone.utc)
            click.echo(f"signed at   {when.isoformat(timespec='seconds')}")
            click.echo(f"log id      {reg.log_id}")
            click.echo(f"public key  {base64.b64encode(reg.public_key).decode()}  (Ed25519)")
    except FakescopeError as exc:
        _fail(exc)


@log.command("audit")
@_registry_option
def log_audit(registry_path: Path | None) -> None:
    """Check every signed tree head against the entries: finds rewritten entries."""
    from fakescope.provenance.registry import Registry

    try:
        with Registry.open(_registry_path(registry_path)) as reg:
            heads = reg.audit()
    except FakescopeError as exc:
        _fail(exc)
    click.echo(f"ok: {len(heads)} signed tree heads, {heads[-1].tree_size} entries, all consistent")


@log.command("consistency")
@click.option("--from", "old_size", type=click.IntRange(min=0), required=True,
              help="Size of the earlier signed tree head (the one you hold).")
@click.option("--to", "new_size", type=click.IntRange(min=0), help="Later size (default: latest).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the proof here.")
@_registry_option
def log_consistency(old_size: int, new_size: int | None, out: Path | None,
                    registry_path: Path | None) -> None:
    """A consistency proof: the later tree extends the earlier one, nothing rewritten."""
    from fakescope.provenance.registry import Registry

    try:
        with Registry.open(_registry_path(registry_path)) as reg:
            bundle = reg.consistency_bundle(old_size, new_size)
    except FakescopeError as exc:
        _fail(exc)
    text = json.dumps(bundle, indent=2) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")


@log.command("verify-proof")
@click.argument("proof", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--file", "file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Also check that this file is the registered one (same SHA-256).")
@click.option("--log-key", help="Pin the log's Ed25519 public key (base64, from `log head`).")
def log_verify_proof(proof: Path, file: Path | None, log_key: str | None) -> None:
    """Verify an inclusion or consistency proof offline (no registry needed)."""
    import base64
    import binascii
    import hashlib

    from fakescope.provenance.registry import verify_bundle

    try:
        bundle = json.loads(proof.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        _fail(f"cannot read {proof}: {exc}", EXIT_USAGE)
    try:
        pinned = base64.b64decode(log_key, validate=True) if log_key else None
    except (binascii.Error, ValueError):
        _fail("--log-key must be base64", EXIT_USAGE)
    digest = hashlib.sha256(file.read_bytes()).hexdigest() if file else None
    try:
        result = verify_bundle(bundle, pinned_key=pinned, file_sha256=digest)
    except FakescopeError as exc:
        _fail(f"proof invalid: {exc}")
    for line in result.lines:
        click.echo(f"ok  {line}")
    click.echo(f"valid {result.kind} proof")


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "jsonl"]), default="text", show_default=True,
              help="jsonl: one provenance object per file on stdout.")
def verify(paths: tuple[Path, ...], fmt: str) -> None:
    """Check provenance only (Content Credentials, watermark, registry), no detection.

    Reads any file the C2PA SDK reads (images, video, audio, PDF, …); folders are walked
    recursively and every file in them is checked.
    """
    import os

    from fakescope.config import MediaLimits, ProvenanceSettings
    from fakescope.errors import UnsupportedMediaError
    from fakescope.media import decode
    from fakescope.provenance.check import ProvenanceChecker

    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            for root, dirs, names in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                files.extend(Path(root) / n for n in sorted(names) if not n.startswith("."))
        else:
            files.append(p)
    try:
        checker = ProvenanceChecker(ProvenanceSettings(), MediaLimits())
    except FakescopeError as exc:
        _fail(exc)
    failed = 0
    for f in files:
        try:
            loaded = _load(f)
            media = None
            if loaded.media_type == "image":
                try:
                    media = decode(loaded, MediaLimits())
                except UnsupportedMediaError:
                    media = None
            info = checker.check(loaded, media)
        except FakescopeError as exc:
            click.echo(f"fakescope: {f}: {exc}", err=True)
            failed += 1
            continue
        if fmt == "jsonl":
            click.echo(json.dumps({"file": str(f), "sha256": loaded.sha256, **info.model_dump()}))
            continue
        c = info.c2pa
        parts = [f"C2PA {c.state}" + (" (trusted)" if c.trusted else "")]
        if c.signer:
            parts.append(f"signer {c.signer}")
        if c.ai_generated:
            parts.append("declares AI generation")
        if c.validation_errors:
            parts.append(c.validation_errors[0].split(":", 1)[0])
        if c.state == "unverifiable" and c.reason:
            parts.append(c.reason)
        if info.watermark is not None and info.watermark.detected:
            parts.append(f"watermark {info.watermark.payload}")
        if info.registry is not None and info.registry.matched != "none":
            parts.append(f"registry {info.registry.matched} match, entry {info.registry.matches[0].entry_id}")
        click.echo(f"{c.state:<13} {f}  ({'; '.join(parts)})")
    sys.exit(EXIT_FAILED if failed else EXIT_OK)
