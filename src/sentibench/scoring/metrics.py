"""Metric computation through the `evaluate` library, from modules that ship in this repo.

`evaluate.load('accuracy')` fetches its script from the Hub, which is not reachable here, so the
modules live in `metric_modules/<name>/<name>.py` and are loaded by path. Loading one copies it into
evaluate's modules cache and computing writes metric files, both under the user's home by default
(`~/.cache/huggingface`): a stage writes nowhere but its outputs, so both go to a folder of this
process, removed when it exits, and metrics are computed in memory.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

MODULES_DIR = Path(__file__).parent / "metric_modules"


@cache
def private_cache() -> Path:
    """A folder for evaluate's caches, set before evaluate is first imported (it reads them then)."""
    folder = Path(tempfile.mkdtemp(prefix="sentibench-evaluate-"))
    atexit.register(shutil.rmtree, folder, True)
    os.environ.setdefault("HF_MODULES_CACHE", str(folder / "modules"))
    os.environ.setdefault("HF_METRICS_CACHE", str(folder / "metrics"))
    return folder


@cache
def load_metric(name: str) -> Any:
    private_cache()
    import evaluate

    return evaluate.load(str(MODULES_DIR / name), keep_in_memory=True)


def classification_scores(predictions: np.ndarray, references: np.ndarray) -> dict[str, float]:
    """Accuracy and macro precision / recall / F1 of integer predictions."""
    scores = dict(load_metric("accuracy").compute(predictions=predictions, references=references))
    scores.update(load_metric("macro_prf").compute(predictions=predictions, references=references))
    return scores


def compute_accuracy(eval_pred: Any) -> dict[str, float]:
    """The seed's `compute_metrics`: argmax of the logits, then accuracy."""
    logits, labels = eval_pred
    return load_metric("accuracy").compute(predictions=np.asarray(logits).argmax(axis=1), references=labels)
