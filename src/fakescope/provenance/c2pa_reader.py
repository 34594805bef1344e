"""Content Credentials (C2PA): read and validate a manifest from bytes already in memory.

One state per file, mapped from what the C2PA SDK (c2pa-python) says:

- ``valid``: a manifest store is present and its active manifest validates (the SDK's
  ``Valid`` or ``Trusted``); ``trusted`` says whether the signer chains to a configured anchor;
- ``invalid``: present but fails validation (content changed after signing, a broken
  hash or signature, an expired or revoked signing credential);
- ``absent``: no manifest (the SDK's ``ManifestNotFound``);
- ``unverifiable``: anything else the SDK cannot check offline: a remote manifest (never
  fetched: fakescope downloads nothing at run time), an unsupported or unparsable asset.

Trust anchors come from a PEM bundle (``ProvenanceSettings.trust_anchors`` or
``$FAKESCOPE_TRUST_ANCHORS``) and *replace* any built-in list: "trusted" means trusted
by whoever runs fakescope, nothing else.
"""

from __future__ import annotations

import io
import json
import logging
import mimetypes
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

from fakescope.errors import CredentialsError, DependencyMissingError
from fakescope.provenance.models import C2paAction, C2paInfo, C2paIngredient

log = logging.getLogger("fakescope.provenance")

# Sniffed container format (fakescope.media.sniff) -> MIME type for the SDK; HEIF is
# split into HEIC and AVIF by its brand. Formats left out are detected by the SDK.
SNIFFED_MIME = {
    "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "tiff": "image/tiff",
    "gif": "image/gif", "mp4": "video/mp4", "mov": "video/quicktime", "avi": "video/avi",
    "m4a": "audio/mp4", "wav": "audio/wav", "flac": "audio/flac", "mp3": "audio/mpeg",
}

# IPTC digital source types that declare trained-model (AI) generation of content.
AI_SOURCE_TYPES = frozenset({"trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia"})

# Failure codes about who signed rather than what was signed; reported through `trusted`.
_TRUST_CODES = frozenset({"signingCredential.untrusted"})

_MAX_LISTED = 64  # a long edit history must not blow up one report line


def mime_for(fmt: str | None, name: str | None = None, head: bytes | None = None) -> str | None:
    """The MIME type to hand the SDK: from content when sniffed, else from the name."""
    if fmt and fmt in SNIFFED_MIME:
        return SNIFFED_MIME[fmt]
    if fmt == "heif" and head is not None and head[4:8] == b"ftyp":
        return "image/avif" if head[8:12] in (b"avif", b"avis") else "image/heic"
    if fmt:
        return None  # sniffed but not in the table: let the SDK look at the bytes
    if name:
        guessed, _ = mimetypes.guess_type(name)
        return guessed
    return None


def _c2pa():  # type: ignore[no-untyped-def]
    try:
        import c2pa
    except ImportError as exc:  # pragma: no cover - a broken install
        raise DependencyMissingError(
            "Content Credentials need c2pa-python: pip install c2pa-python"
        ) from exc
    return c2pa


def load_trust_anchors(path: str | Path | None) -> str | None:
    """The PEM text of a trust-anchor bundle; a typed error when it cannot be used."""
    if not path:
        return None
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise CredentialsError(f"cannot read trust anchors {p}: {exc.strerror or exc}") from exc
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise CredentialsError(f"trust anchors {p} hold no PEM certificate")
    return text


@lru_cache(maxsize=8)
def reader_context(anchors_pem: str | None) -> Any:
    """An SDK context that never touches the network: no remote manifests, no OCSP."""
    settings: dict[str, Any] = {
        "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False, "verify_trust": True},
    }
    if anchors_pem:
        settings["trust"] = {"trust_anchors": anchors_pem}
    return _c2pa().Context.from_dict(settings)


def read_c2pa(data: bytes | BinaryIO, mime: str | None = None,
              anchors_pem: str | None = None) -> C2paInfo:
    """Validate the manifest store embedded in ``data`` (bytes, or a seekable binary stream
    for large files). Never raises for a bad asset."""
    c2pa = _c2pa()
    try:
        ctx = reader_context(anchors_pem)
    except Exception as exc:  # bad PEM in the bundle: the SDK refuses the settings
        raise CredentialsError(f"the C2PA SDK refused the trust anchors: {_one_line(exc)}") from exc
    try:
        stream = io.BytesIO(data) if isinstance(data, bytes) else data
        with c2pa.Reader(mime, stream, context=ctx) as reader:
            store = json.loads(reader.json())
    except c2pa.C2paError.ManifestNotFound:
        return C2paInfo(state="absent", reason="no C2PA manifest in the file")
    except c2pa.C2paError as exc:
        return _unverifiable(exc)
    except Exception as exc:  # the SDK must never cost a scan its other evidence
        log.warning("C2PA reader failed: %s", exc)
        return C2paInfo(state="unverifiable", reason=f"C2PA reader failed: {_one_line(exc)}")
    return summarise_store(store)


def _unverifiable(exc: Exception) -> C2paInfo:
    msg = _one_line(exc)
    if msg.startswith("Remote:") or "remote manifest" in msg.lower():
        url = re.search(r"https?://\S+", msg)
        return C2paInfo(
            state="unverifiable",
            reason="the manifest is stored remotely and fakescope never fetches at run time",
            remote_manifest_url=url.group(0) if url else None,
        )
    if msg.startswith("NotSupported"):
        return C2paInfo(state="unverifiable", reason="the C2PA SDK does not read this file type")
    return C2paInfo(state="unverifiable", reason=f"the C2PA SDK cannot read the file: {msg}")


def summarise_store(store: dict[str, Any]) -> C2paInfo:
    """Map the SDK's manifest-store JSON onto the report's C2PA block."""
    manifests: dict[str, Any] = store.get("manifests") or {}
    active_label = store.get("active_manifest")
    active = manifests.get(active_label) if active_label else None
    sdk_state = str(store.get("validation_state") or "")
    statuses = store.get("validation_status") or []
    errors = [
        f"{s.get('code')}: {s.get('explanation')}" if s.get("explanation") else str(s.get("code"))
        for s in statuses
        if s.get("code") not in _TRUST_CODES
    ]
    if sdk_state in ("Valid", "Trusted"):
        state = "valid"
    elif sdk_state == "Invalid":
        state = "invalid"
    elif active is None:
        state = "unverifiable"
    else:
        # An SDK without validation_state: any failure beyond trust makes it invalid.
        state = "invalid" if errors else "valid"
    if active is None and state == "valid":
        state = "unverifiable"

    actions: list[C2paAction] = []
    source_types: list[str] = []
    # The active manifest first: its actions made this very file; the rest is history.
    ordered = sorted(manifests.items(), key=lambda kv: kv[0] != active_label)
    for label, manifest in ordered:
        for act in _actions(manifest):
            dst = _short_source_type(act.get("digitalSourceType"))
            if dst and dst not in source_types:
                source_types.append(dst)
            if len(actions) < _MAX_LISTED:
                actions.append(C2paAction(
                    action=str(act.get("action", "")), digital_source_type=dst,
                    software_agent=_agent(act.get("softwareAgent")), when=act.get("when"),
                    manifest=label,
                ))
    sig = (active or {}).get("signature_info") or {}
    return C2paInfo(
        state=state,  # type: ignore[arg-type]
        trusted=sdk_state == "Trusted",
        signer=sig.get("common_name"),
        issuer=sig.get("issuer"),
        signed_at=sig.get("time"),
        claim_generator=_claim_generator(active or {}),
        manifest_count=len(manifests),
        actions=actions,
        digital_source_types=source_types,
        ai_generated=any(t in AI_SOURCE_TYPES for t in source_types),
        ingredients=[
            C2paIngredient(
                title=ing.get("title"), format=ing.get("format"),
                relationship=ing.get("relationship"),
                has_manifest=bool(ing.get("active_manifest") or ing.get("manifest_data")),
            )
            for ing in ((active or {}).get("ingredients") or [])[:_MAX_LISTED]
        ],
        validation_errors=errors[:_MAX_LISTED],
        reason=None if active is not None else "manifest store has no active manifest",
    )


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for assertion in manifest.get("assertions") or []:
        label = str(assertion.get("label", ""))
        if label == "c2pa.actions" or label.startswith(("c2pa.actions.", "c2pa.actions__")):
            data = assertion.get("data") or {}
            out.extend(a for a in data.get("actions") or [] if isinstance(a, dict))
    return out


def _short_source_type(value: Any) -> str | None:
    if not value or not isinstance(value, str):
        return None
    return value.rstrip("/").rsplit("/", 1)[-1]


def _agent(value: Any) -> str | None:
    if isinstance(value, dict):
        name, version = value.get("name"), value.get("version")
        return f"{name}/{version}" if name and version else (name or None)
    return str(value) if value else None


def _claim_generator(manifest: dict[str, Any]) -> str | None:
    if manifest.get("claim_generator"):
        return str(manifest["claim_generator"])
    info = manifest.get("claim_generator_info") or []
    if isinstance(info, list) and info and isinstance(info[0], dict):
        return _agent(info[0])
    return None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]
