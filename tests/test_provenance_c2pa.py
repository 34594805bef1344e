"""Content Credentials: the conformance set, signing round trips, tampering, trust, fusion."""

from __future__ import annotations

import csv
import io
import stat
import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakescope.config import ProvenanceSettings, ScanSettings
from fakescope.errors import CredentialsError, UnsupportedMediaError
from fakescope.fusion import Fused, apply_provenance
from fakescope.media.sniff import sniff_bytes
from fakescope.provenance.c2pa_reader import mime_for, read_c2pa
from fakescope.provenance.c2pa_signer import load_credentials, sign_bytes
from fakescope.provenance.keys import LocalPki, init_test_pki
from fakescope.provenance.models import C2paInfo, Provenance


def expected_state(row: dict[str, str]) -> str:
    """What the reference reader's row implies (the issue's mapping)."""
    if row["c2pa"] == "manifest":
        return {"Valid": "valid", "Trusted": "valid", "Invalid": "invalid"}[row["validation_state"]]
    if row["c2pa"] == "none":
        return "absent"
    return "unverifiable"


def _read(data: bytes, name: str, anchors: str | None = None) -> C2paInfo:
    sniffed = sniff_bytes(data[:64])
    return read_c2pa(data, mime_for(sniffed.format if sniffed else None, name, data[:32]), anchors)


@pytest.mark.data
def test_conformance_set_matches_the_reference_reader(shared_data) -> None:  # type: ignore[no-untyped-def]
    root = shared_data("provenance", "c2pa")
    rows = list(csv.DictReader((root / "c2pa_reader_results.csv").open()))
    assert len(rows) >= 20
    wrong = []
    for row in rows:
        info = _read((root / row["file"]).read_bytes(), row["file"])
        if info.state != expected_state(row):
            wrong.append((row["file"], expected_state(row), info.state, info.reason))
        if row["c2pa"] == "manifest":
            assert info.manifest_count == int(row["n_manifests"]), row["file"]
        if row["non_trust_errors"] and row["c2pa"] == "manifest":
            first = row["non_trust_errors"].split(";")[0]
            assert any(e.startswith(first) for e in info.validation_errors), (row["file"], first)
    assert not wrong, wrong


@pytest.mark.data
def test_scan_reports_carry_the_conformance_state(shared_data) -> None:  # type: ignore[no-untyped-def]
    from fakescope.scan.scanner import Scanner

    root = shared_data("provenance", "c2pa")
    scanner = Scanner(ScanSettings(analyzers=["metadata"],
                                   provenance=ProvenanceSettings(registry=None)))
    for row in csv.DictReader((root / "c2pa_reader_results.csv").open()):
        report = scanner.scan(root / row["file"])
        assert report.provenance is not None, row["file"]
        assert report.provenance.c2pa.state == expected_state(row), row["file"]
        if expected_state(row) == "invalid" and report.verdict != "error":
            codes = report.provenance.c2pa.validation_errors
            # Tampering makes the file fake; an expired credential alone does not.
            tampered = any(not c.startswith(("signingCredential.", "timeStamp.")) for c in codes)
            assert (report.verdict == "fake") == tampered, row["file"]


@pytest.mark.data
def test_pdf_declaring_ai_generation_is_read(shared_data) -> None:  # type: ignore[no-untyped-def]
    path = shared_data("provenance", "c2pa", "pdf", "adobe-20240110-single_manifest_store.pdf")
    info = _read(path.read_bytes(), path.name)
    assert info.state == "valid" and info.ai_generated
    assert "trainedAlgorithmicMedia" in info.digital_source_types


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LocalPki:
    return init_test_pki(tmp_path_factory.mktemp("pki"))


def _jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def test_keys_are_private_and_refuse_to_be_overwritten(pki: LocalPki) -> None:
    for key in (pki.key, pki.ca_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    with pytest.raises(CredentialsError, match="refusing to overwrite"):
        init_test_pki(pki.key.parent)


def test_sign_then_verify_round_trip_and_trust(pki: LocalPki, astronaut: np.ndarray) -> None:
    creds = load_credentials(pki.chain, pki.key)
    signed = sign_bytes(_jpeg(astronaut), "image/jpeg", creds, title="a.jpg")
    untrusted = read_c2pa(signed, "image/jpeg")
    assert untrusted.state == "valid" and not untrusted.trusted
    assert untrusted.validation_errors == []  # "untrusted" is reported by `trusted`, not as an error
    anchors = pki.ca_cert.read_text()
    trusted = read_c2pa(signed, "image/jpeg", anchors)
    assert trusted.state == "valid" and trusted.trusted
    assert trusted.signer == "fakescope test signer"
    assert [a.action for a in trusted.actions] == ["c2pa.opened", "c2pa.published"]
    assert trusted.claim_generator and trusted.claim_generator.startswith("fakescope")


def test_flipping_one_byte_of_image_data_makes_it_invalid(pki: LocalPki, astronaut: np.ndarray) -> None:
    creds = load_credentials(pki.chain, pki.key)
    signed = bytearray(sign_bytes(_jpeg(astronaut), "image/jpeg", creds, title="a.jpg"))
    sos = signed.rfind(b"\xff\xda")  # start of scan: what follows is entropy-coded pixels
    signed[sos + (len(signed) - sos) // 2] ^= 0x01
    info = read_c2pa(bytes(signed), "image/jpeg", pki.ca_cert.read_text())
    assert info.state == "invalid"
    assert any(e.startswith("assertion.dataHash.mismatch") for e in info.validation_errors)


def test_scan_verdicts_follow_provenance(pki: LocalPki, astronaut: np.ndarray, tmp_path: Path) -> None:
    from fakescope.scan.scanner import Scanner

    creds = load_credentials(pki.chain, pki.key)
    signed = sign_bytes(_jpeg(astronaut), "image/jpeg", creds, title="a.jpg")
    tampered = bytearray(signed)
    tampered[signed.rfind(b"\xff\xda") + 500] ^= 0x01
    (tmp_path / "signed.jpg").write_bytes(signed)
    (tmp_path / "tampered.jpg").write_bytes(bytes(tampered))
    (tmp_path / "plain.jpg").write_bytes(_jpeg(astronaut))
    settings = ScanSettings(analyzers=["metadata"], provenance=ProvenanceSettings(
        trust_anchors=str(pki.ca_cert), registry=None))
    scanner = Scanner(settings)
    ok = scanner.scan(tmp_path / "signed.jpg")
    assert ok.verdict == "real" and ok.score is not None and ok.score <= 0.05
    assert "Content Credentials" in ok.reason and "trusted" in ok.reason
    bad = scanner.scan(tmp_path / "tampered.jpg")
    assert bad.verdict == "fake" and bad.score is not None and bad.score >= 0.95
    assert "dataHash" in bad.reason
    plain = scanner.scan(tmp_path / "plain.jpg")
    assert plain.provenance is not None and plain.provenance.c2pa.state == "absent"
    assert plain.verdict == "no_face"  # absent credentials are never evidence of anything


def test_declared_ai_generation_is_reported_and_judged_fake(pki: LocalPki, astronaut: np.ndarray) -> None:
    creds = load_credentials(pki.chain, pki.key)
    signed = sign_bytes(_jpeg(astronaut), "image/jpeg", creds, title="gen.jpg",
                        source_type="trainedAlgorithmicMedia")
    info = read_c2pa(signed, "image/jpeg")
    assert info.state == "valid" and info.ai_generated
    assert info.actions[0].action == "c2pa.created"
    assert info.actions[0].digital_source_type == "trainedAlgorithmicMedia"
    fused = apply_provenance(Fused("real", 0.1, [0.1], "manipulation probability 0.10 < 0.35"),
                             Provenance(c2pa=info))
    assert fused.verdict == "fake" and fused.score is not None and fused.score >= 0.95
    assert "AI generation" in fused.reason


def test_fusion_leaves_absent_and_untrusted_alone() -> None:
    base = Fused("inconclusive", 0.5, [0.5], "within the band")
    assert apply_provenance(base, Provenance(c2pa=C2paInfo(state="absent"))) == base
    assert apply_provenance(base, Provenance(c2pa=C2paInfo(state="unverifiable"))) == base
    assert apply_provenance(base, Provenance(c2pa=C2paInfo(state="valid", trusted=False))) == base
    expired = C2paInfo(state="invalid", validation_errors=["signingCredential.expired: certificate expired"])
    assert apply_provenance(base, Provenance(c2pa=expired)) == base


def test_remote_manifest_is_unverifiable_offline(pki: LocalPki, astronaut: np.ndarray) -> None:
    import c2pa

    creds = load_credentials(pki.chain, pki.key)
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(creds.alg.encode(), creds.chain_pem,
                                                       creds.key_pem, None))
    manifest = {"title": "r.jpg", "assertions": [
        {"label": "c2pa.actions", "data": {"actions": [{"action": "c2pa.created",
         "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"}]}}]}
    with c2pa.Builder(manifest) as builder:
        builder.set_no_embed()
        builder.set_remote_url("https://manifests.invalid/r.c2pa")
        out = io.BytesIO()
        builder.sign(signer, "image/jpeg", io.BytesIO(_jpeg(astronaut)), out)
    info = read_c2pa(out.getvalue(), "image/jpeg")
    assert info.state == "unverifiable"
    assert info.remote_manifest_url == "https://manifests.invalid/r.c2pa"


def test_unparsable_and_unsupported_assets_are_unverifiable() -> None:
    assert read_c2pa(b"\xff\xd8\xff" + b"x" * 200, "image/jpeg").state == "unverifiable"
    assert read_c2pa(b"just some text, not media", None).state == "unverifiable"


def _wav(seconds: float = 1.0, rate: int = 16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    pcm = (np.sin(2 * np.pi * 440 * t) * 12000).astype("<i2").tobytes()
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["png", "webp", "tiff", "wav"])
def test_other_formats_sign_and_validate(fmt: str, pki: LocalPki, astronaut: np.ndarray) -> None:
    if fmt == "wav":
        data = _wav()
    else:
        buf = io.BytesIO()
        Image.fromarray(astronaut[:128, :128]).save(buf, format=fmt.upper())
        data = buf.getvalue()
    sniffed = sniff_bytes(data[:64])
    assert sniffed is not None
    mime = mime_for(sniffed.format)
    assert read_c2pa(data, mime).state == "absent"
    signed = sign_bytes(data, mime, load_credentials(pki.chain, pki.key), title=f"x.{fmt}")
    info = read_c2pa(signed, mime, pki.ca_cert.read_text())
    assert info.state == "valid" and info.trusted


def test_credential_errors_are_typed(pki: LocalPki, tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="not found"):
        load_credentials(tmp_path / "missing.pem", pki.key)
    other = init_test_pki(tmp_path / "other")
    with pytest.raises(CredentialsError, match="does not match"):
        load_credentials(pki.chain, other.key)
    with pytest.raises(UnsupportedMediaError, match="does not support"):
        sign_bytes(b"%PDF-not-really", "text/plain", load_credentials(pki.chain, pki.key), title="x")
