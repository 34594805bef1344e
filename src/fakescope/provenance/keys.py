"""A local test PKI for trying `fakescope sign`: a root CA and a signing certificate.

The C2PA SDK accepts only certificates shaped for content signing: an end-entity
certificate (not a CA, not self-signed) with the digitalSignature key usage and an
extended key usage from the C2PA list (emailProtection here), issued by a CA. Keys are
written readable by their owner only (0600). This is for testing: production signing
needs a certificate from a CA on the C2PA trust list.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from fakescope.errors import CredentialsError


@dataclass(frozen=True)
class LocalPki:
    ca_cert: Path  # the trust anchor to configure (FAKESCOPE_TRUST_ANCHORS)
    ca_key: Path
    chain: Path  # signing certificate followed by the CA: what `sign --cert` takes
    key: Path  # signing key: what `sign --key` takes


def write_private(path: Path, data: bytes) -> None:
    """Write secret material so that no other user can read it, even for an instant."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(path, 0o600)  # O_CREAT's mode does not apply to a file that already existed


def init_test_pki(out_dir: Path, organisation: str = "fakescope test", days: int = 365,
                  force: bool = False) -> LocalPki:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    pki = LocalPki(out_dir / "ca.pem", out_dir / "ca.key", out_dir / "signer.pem",
                  out_dir / "signer.key")
    existing = [p for p in (pki.ca_key, pki.key) if p.exists()]
    if existing and not force:
        raise CredentialsError(f"{existing[0]} exists; refusing to overwrite a key (use --force)")

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation)])

    def usage(sign: bool, ca: bool) -> x509.KeyUsage:
        return x509.KeyUsage(digital_signature=sign, content_commitment=False,
                             key_encipherment=False, data_encipherment=False, key_agreement=False,
                             key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False)

    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)  # tolerate clock skew
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(name(f"{organisation} root CA"))
        .issuer_name(name(f"{organisation} root CA")).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage(sign=False, ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder().subject_name(name(f"{organisation} signer"))
        .issuer_name(ca.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(sign=True, ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def pem_key(k: ec.EllipticCurvePrivateKey) -> bytes:
        return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())

    out_dir.mkdir(parents=True, exist_ok=True)
    write_private(pki.ca_key, pem_key(ca_key))
    write_private(pki.key, pem_key(key))
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    pki.ca_cert.write_bytes(ca_pem)
    pki.chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM) + ca_pem)
    return pki
