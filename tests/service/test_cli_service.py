"""The service's commands: serve --openapi, keys create/list/revoke beside keys init, audit."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from fakescope.cli import main


def test_keys_group_holds_api_and_c2pa_commands(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["keys", "--help"])
    assert r.exit_code == 0
    for cmd in ("init", "create", "list", "revoke"):
        assert cmd in r.output
    # The C2PA test PKI still works as before.
    r = CliRunner().invoke(main, ["keys", "init", "--out", str(tmp_path / "pki")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "pki" / "ca.pem").exists()


def test_api_key_lifecycle(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    r = CliRunner().invoke(main, ["keys", "create", *data, "--name", "cms", "--rate", "30"])
    assert r.exit_code == 0, r.output
    token = r.stdout.strip().splitlines()[0]
    assert token.startswith("fsk_")
    key_id = token.split("_")[1]
    listed = CliRunner().invoke(main, ["keys", "list", *data]).output
    assert key_id in listed and "cms" in listed and "30/min" in listed and token not in listed
    assert CliRunner().invoke(main, ["keys", "revoke", *data, key_id]).exit_code == 0
    assert "revoked" in CliRunner().invoke(main, ["keys", "list", *data]).output
    assert CliRunner().invoke(main, ["keys", "revoke", *data, key_id]).exit_code == 2


def test_serve_openapi_and_audit(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["serve", "--openapi", "--data-dir", str(tmp_path / "d")])
    assert r.exit_code == 0, r.output
    spec = json.loads(r.stdout)
    assert "/v1/scans" in spec["paths"] and spec["info"]["title"] == "fakescope"
    assert not (tmp_path / "d").exists()  # printing the spec touches no storage

    from fakescope.store.database import Database, utcnow
    from fakescope.store.models import AuditEvent

    db = Database(f"sqlite:///{tmp_path / 'e' / 'fakescope.db'}")
    db.migrate()
    with db.write() as s:
        s.add(AuditEvent(at=utcnow(), key_id="k1", action="scan.delete", scan_id="abc"))
    db.dispose()
    r = CliRunner().invoke(main, ["audit", "--data-dir", str(tmp_path / "e"), "--format", "jsonl"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.splitlines()[0])["action"] == "scan.delete"


def test_serve_bad_config_is_a_usage_error(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("workers = -3\n")
    r = CliRunner().invoke(main, ["serve", "--config", str(cfg)])
    assert r.exit_code == 2 and "invalid settings" in r.output
