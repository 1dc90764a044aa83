"""Metric computation through the `evaluate` library, from modules that ship in this repo.

`evaluate.load('accuracy')` fetches its script from the Hub, which is not reachable here, so the
modules live in `metric_modules/<name>/<name>.py` and are loaded by path.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

MODULES_DIR = Path(__file__).parent / "metric_modules"


@cache
def load_metric(name: str) -> Any:
    import evaluate

    return evaluate.load(str(MODULES_DIR / name))


def classification_scores(predictions: np.ndarray, references: np.ndarray) -> dict[str, float]:
    """Accuracy and macro precision / recall / F1 of integer predictions."""
    scores = dict(load_metric("accuracy").compute(predictions=predictions, references=references))
    scores.update(load_metric("macro_prf").compute(predictions=predictions, references=references))
    return scores


def compute_accuracy(eval_pred: Any) -> dict[str, float]:
    """The seed's `compute_metrics`: argmax of the logits, then accuracy."""
    logits, labels = eval_pred
    return load_metric("accuracy").compute(predictions=np.asarray(logits).argmax(axis=1), references=labels)
