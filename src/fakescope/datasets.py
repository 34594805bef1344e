"""Labelled media folders: ``DIR/labels.csv`` with columns file,label[,group]."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from fakescope.errors import DatasetError

# Label -> is it manipulated/synthetic (the positive class everywhere in fakescope).
POSITIVE_LABELS = {"fake": 1, "spoof": 1, "real": 0, "bonafide": 0}


@dataclass(frozen=True)
class LabelledItem:
    path: Path
    file: str  # as written in labels.csv
    label: int  # 1 = fake/spoof
    group: str


def read_labels(root: Path) -> list[LabelledItem]:
    """Rows of ``root/labels.csv``; unknown labels or missing columns raise DatasetError."""
    labels = root / "labels.csv"
    if not labels.is_file():
        raise DatasetError(f"{root} has no labels.csv (columns: file,label with real/fake)")
    items: list[LabelledItem] = []
    with open(labels, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        cols = set(reader.fieldnames or [])
        if not {"file", "label"} <= cols:
            raise DatasetError(f"{labels} needs columns file,label; it has {sorted(cols)}")
        for n, row in enumerate(reader, start=2):
            lab = (row.get("label") or "").strip().lower()
            if lab not in POSITIVE_LABELS:
                raise DatasetError(
                    f"{labels}:{n}: label {lab!r} is not one of {sorted(POSITIVE_LABELS)}"
                )
            file = (row.get("file") or "").strip()
            if not file:
                raise DatasetError(f"{labels}:{n}: empty file column")
            items.append(
                LabelledItem(
                    path=root / file,
                    file=file,
                    label=POSITIVE_LABELS[lab],
                    group=(row.get("group") or file).strip(),
                )
            )
    if not items:
        raise DatasetError(f"{labels} has no rows")
    return items
