"""`fakescope eval` on a labelled folder generated with a known answer."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakescope.evaluation.metrics import auc


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> Path:
    from fakescope.demo import no_face_photo, self_blended_photo

    root = tmp_path_factory.mktemp("labelled")
    rows = []
    for i, q in enumerate((95, 85, 75)):
        Image.fromarray(astronaut).save(root / f"real{i}.jpg", quality=q)
        rows.append((f"real{i}.jpg", "real"))
        Image.fromarray(self_blended_photo(astronaut, seed=i)).save(root / f"fake{i}.jpg",
                                                                    quality=q)
        rows.append((f"fake{i}.jpg", "fake"))
    Image.fromarray(no_face_photo()).save(root / "cup.png")
    rows.append(("cup.png", "real"))
    with open(root / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "label"])
        w.writerows(rows)
    return root


def test_eval_writes_metrics_scores_and_roc(labelled: Path, tmp_path: Path) -> None:
    out = tmp_path / "ev"
    p = subprocess.run([sys.executable, "-m", "fakescope.cli", "eval", str(labelled), "--out",
                        str(out), "--bootstrap", "200", "--degrade", "none", "--degrade",
                        "jpeg70"], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert (out / f"{labelled.name}-jpeg70" / "metrics.json").is_file()
    assert "| dataset | degradation |" in p.stdout  # the summary table of both runs
    out = out / labelled.name
    assert "AUC" in p.stdout and "EER" in p.stdout and "TPR@FPR 1%" in p.stdout
    m = json.loads((out / "metrics.json").read_text())
    # The cup has no face, yet the generated-image evidence judges it: nothing unscored.
    assert m["metrics"]["n"] == 7 and m["metrics"]["n_fake"] == 3 and m["unscored"] == 0
    assert "no_face" not in m["verdicts"] and sum(m["verdicts"].values()) == 7
    # The AUC printed is the AUC of the scores written (no_face counts as 0.5).
    with open(out / "scores.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    y = np.array([r["label"] == "fake" for r in rows], int)
    s = np.array([float(r["score"]) if r["score"] else 0.5 for r in rows])
    assert m["metrics"]["auc"] == pytest.approx(auc(y, s))
    lo, hi = m["metrics"]["auc_ci95"]
    assert lo <= m["metrics"]["auc"] <= hi
    for plot in ("roc.png", "reliability.png"):
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_without_matplotlib_writes_metrics_and_no_plots(labelled: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """matplotlib is only in the `eval` extra: a plain install still evaluates."""
    from fakescope.evaluation import run

    monkeypatch.setattr(run, "plots_available", lambda: False)
    result = run.evaluate(labelled, tmp_path / "ev", bootstrap=0, limit=3)
    assert result.metrics.n == 3
    assert (tmp_path / "ev" / "metrics.json").is_file() and (tmp_path / "ev" / "scores.csv").is_file()
    assert not (tmp_path / "ev" / "roc.png").exists()


def test_eval_rejects_bad_labels(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text("file,label\na.jpg,maybe\n")
    p = subprocess.run([sys.executable, "-m", "fakescope.cli", "eval", str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "maybe" in p.stderr
    p = subprocess.run([sys.executable, "-m", "fakescope.cli", "eval", str(tmp_path), "--degrade",
                        "blur"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "unknown degradation" in p.stderr


def test_recording_in_a_card_needs_one_chosen_model(labelled: Path, tmp_path: Path) -> None:
    # Several models run by default: their metrics must not land in each other's cards.
    p = subprocess.run([sys.executable, "-m", "fakescope.cli", "eval", str(labelled),
                        "--record-in-card", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and "--analyzer" in p.stderr
    p = subprocess.run([sys.executable, "-m", "fakescope.cli", "eval", str(labelled),
                        "--analyzers", "no-such-thing", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and "no-such-thing" in p.stderr


def test_degradations_parse() -> None:
    from fakescope.evaluation.run import parse_degradation

    rgb = np.full((64, 64, 3), 128, np.uint8)
    assert parse_degradation("none") is None
    half = Image.open(io.BytesIO(parse_degradation("resize0.5")(rgb)))
    assert half.size == (32, 32)
    assert Image.open(io.BytesIO(parse_degradation("jpeg70")(rgb))).size == (64, 64)
