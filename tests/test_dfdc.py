"""The bundled model on the public DFDC dev split (only where ../shared/data exists)."""

from __future__ import annotations

import pytest

# The model card states the full-split AUC; this floor on a fixed subset guards against
# shipping a broken model or a preprocessing change that silently hurts it.
AUC_FLOOR = 0.80


@pytest.mark.data
def test_bundled_model_beats_floor_on_dfdc_dev(tmp_path, shared_data) -> None:
    from fakescope.evaluation.run import evaluate

    root = shared_data("faces", "dfdc-dev")
    result = evaluate(root, tmp_path, bootstrap=0, limit=None, subsample=400)
    assert result.metrics.n == 400
    assert result.metrics.auc >= AUC_FLOOR, result.text()
