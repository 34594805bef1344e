"""Add a C2PA manifest to a file's bytes: `fakescope sign`.

Without a declared source type the manifest records an edit of the file as it was
(the SDK's Edit intent: the original becomes the parent ingredient, so an existing
manifest chain is kept) followed by ``c2pa.published``. With a source type (for
example ``digitalCapture`` or ``trainedAlgorithmicMedia``) it records ``c2pa.created``
with that IPTC digital source type. The fakescope scan result can ride along as an
``org.fakescope.scan`` assertion.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fakescope import __version__
from fakescope.errors import CredentialsError, SigningError, UnsupportedMediaError

IPTC_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/"
SCAN_ASSERTION = "org.fakescope.scan"


@dataclass(frozen=True)
class Credentials:
    chain_pem: bytes
    key_pem: bytes
    alg: str  # es256, es384, es512, ps256 or ed25519


def load_credentials(cert: Path, key: Path) -> Credentials:
    """Read a PEM certificate chain and its private key; typed errors for every way they fail."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    chain_pem = _read(cert, "certificate chain")
    key_pem = _read(key, "private key")
    try:
        certs = x509.load_pem_x509_certificates(chain_pem)
    except ValueError as exc:
        raise CredentialsError(f"{cert} holds no readable PEM certificate") from exc
    try:
        private = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise CredentialsError(
            f"{key} is not an unencrypted PEM private key ({' '.join(str(exc).split())})"
        ) from exc
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if certs[0].public_key().public_bytes(der, pub) != private.public_key().public_bytes(der, pub):
        raise CredentialsError(f"{key} does not match the first certificate in {cert}")
    if isinstance(private, ec.EllipticCurvePrivateKey):
        alg = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}.get(private.curve.name)
        if alg is None:
            raise CredentialsError(f"elliptic curve {private.curve.name} is not allowed by C2PA")
    elif isinstance(private, ed25519.Ed25519PrivateKey):
        alg = "ed25519"
    elif isinstance(private, rsa.RSAPrivateKey):
        alg = "ps256"
    else:
        raise CredentialsError(f"{type(private).__name__} keys are not allowed by C2PA")
    return Credentials(chain_pem=chain_pem, key_pem=key_pem, alg=alg)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise CredentialsError(f"{what} not found: {path}") from exc
    except OSError as exc:
        raise CredentialsError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc


def signable_mime_types() -> set[str]:
    import c2pa

    return set(c2pa.Builder.get_supported_mime_types())


def sign_bytes(data: bytes, mime: str | None, creds: Credentials, *, title: str,
               source_type: str | None = None, scan: dict[str, Any] | None = None) -> bytes:
    """The signed file's bytes (the input is never modified)."""
    import c2pa

    if mime is None or mime not in signable_mime_types():
        raise UnsupportedMediaError(
            f"C2PA signing does not support {mime or 'this kind of'} files"
        )
    assertions: list[dict[str, Any]] = []
    if source_type:
        short = source_type.rstrip("/").rsplit("/", 1)[-1]
        actions = [{"action": "c2pa.created", "digitalSourceType": IPTC_SOURCE_TYPE + short,
                    "softwareAgent": {"name": "fakescope", "version": __version__}}]
    else:
        actions = [{"action": "c2pa.published",
                    "softwareAgent": {"name": "fakescope", "version": __version__}}]
    assertions.append({"label": "c2pa.actions", "data": {"actions": actions}})
    if scan is not None:
        assertions.append({"label": SCAN_ASSERTION, "data": scan})
    manifest = {"title": title, "assertions": assertions}
    context = c2pa.Context.from_dict({
        "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
        "builder": {"thumbnail": {"enabled": False},
                    "claim_generator_info": {"name": "fakescope", "version": __version__}},
    })
    try:
        signer = c2pa.Signer.from_info(
            c2pa.C2paSignerInfo(creds.alg.encode(), creds.chain_pem, creds.key_pem, None)
        )
        with c2pa.Builder(manifest, context=context) as builder:
            if not source_type:
                builder.set_intent(c2pa.C2paBuilderIntent.EDIT)
            out = io.BytesIO()
            builder.sign(signer, mime, io.BytesIO(data), out)
    except c2pa.C2paError as exc:
        raise SigningError(f"the C2PA SDK could not sign: {' '.join(str(exc).split())[:300]}") from exc
    return out.getvalue()
