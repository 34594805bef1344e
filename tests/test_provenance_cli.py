"""Provenance commands: exit status and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def run(*args: str, registry: Path | None = None,
        anchors: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["FAKESCOPE_REGISTRY"] = str(registry) if registry else "/nonexistent/fakescope/registry.db"
    env.pop("FAKESCOPE_TRUST_ANCHORS", None)
    if anchors:
        env["FAKESCOPE_TRUST_ANCHORS"] = str(anchors)
    return subprocess.run([sys.executable, "-m", "fakescope.cli", *args], capture_output=True,
                          text=True, timeout=600, env=env)


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fakescope.demo import astronaut

    path = tmp_path_factory.mktemp("cli") / "a.jpg"
    Image.fromarray(astronaut()).save(path, quality=90)
    return path


def test_keys_sign_and_errors(tmp_path: Path, photo: Path) -> None:
    keys = tmp_path / "keys"
    p = run("keys", "init", "--out", str(keys))
    assert p.returncode == 0, p.stderr
    assert oct((keys / "signer.key").stat().st_mode & 0o777) == "0o600"
    assert run("keys", "init", "--out", str(keys)).returncode == 2  # never overwrites a key

    out = tmp_path / "signed.jpg"
    p = run("sign", str(photo), "--cert", str(keys / "signer.pem"), "--key", str(keys / "signer.key"),
            "--out", str(out), anchors=keys / "ca.pem")
    assert p.returncode == 0, p.stderr
    assert "C2PA valid" in p.stdout and "trusted" in p.stdout and out.is_file()
    p = run("verify", str(out), str(photo), "--format", "jsonl", anchors=keys / "ca.pem")
    assert p.returncode == 0, p.stderr
    signed, plain = (json.loads(line) for line in p.stdout.splitlines())
    assert signed["c2pa"]["state"] == "valid" and signed["c2pa"]["trusted"]
    assert plain["c2pa"]["state"] == "absent" and plain["registry"] is None

    p = run("sign", str(photo), "--cert", str(tmp_path / "nope.pem"), "--key", str(keys / "signer.key"))
    assert p.returncode == 2 and "certificate chain not found" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    p = run("sign", str(keys / "ca.pem"), "--cert", str(keys / "signer.pem"), "--key",
            str(keys / "signer.key"), "--out", str(tmp_path / "x.pem"))
    assert p.returncode == 1 and "does not support" in p.stderr
    assert run("sign", str(photo)).returncode == 2  # --cert and --key are required


def test_register_lookup_and_proofs(tmp_path: Path, photo: Path) -> None:
    db = tmp_path / "reg.db"
    p = run("lookup", str(photo), registry=db)
    assert p.returncode == 2 and "no registry" in p.stderr and not db.exists()

    assert run("register", str(photo), "--label", "portrait", registry=db).returncode == 0
    small = tmp_path / "small.jpg"
    im = Image.open(photo)
    im.resize((im.width // 2, im.height // 2)).save(small, quality=70)
    proof = tmp_path / "proof.json"
    p = run("lookup", str(small), "--proof", str(proof), registry=db)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("near  entry 0") and proof.is_file()

    head = run("log", "head", registry=db)
    assert head.returncode == 0
    key = next(line.split()[2] for line in head.stdout.splitlines() if line.startswith("public key"))
    p = run("log", "verify-proof", str(proof), "--file", str(photo), "--log-key", key)
    assert p.returncode == 0 and "valid inclusion proof" in p.stdout

    bundle = json.loads(proof.read_text())
    bundle["entry"] = bundle["entry"].replace("portrait", "forgery")
    proof.write_text(json.dumps(bundle))
    p = run("log", "verify-proof", str(proof))
    assert p.returncode == 1 and "proof invalid" in p.stderr
    assert run("log", "audit", registry=db).returncode == 0


def test_watermark_embed_and_detect(tmp_path: Path, photo: Path) -> None:
    out = tmp_path / "m.png"
    p = run("watermark", "embed", str(photo), "--payload", "0badcafe", "--out", str(out))
    assert p.returncode == 0, p.stderr
    p = run("watermark", "detect", str(out), str(photo), "--format", "jsonl")
    assert p.returncode == 0, p.stderr
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    assert rows[0]["detected"] and rows[0]["payload"] == "0badcafe" and not rows[1]["detected"]
    assert run("watermark", "embed", str(photo), "--payload", "xyz").returncode == 2
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tiny)
    p = run("watermark", "embed", str(tiny))
    assert p.returncode == 1 and "256x256" in p.stderr
