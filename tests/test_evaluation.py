"""evaluate: metrics from the shipped evaluate modules, per-row predictions, and the reference."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import REPO
from sentibench.core.contract import load_saved
from sentibench.core.errors import UserError, run_cli
from sentibench.core.params import EvaluateParams
from sentibench.scoring import predictions
from sentibench.scoring.metrics import classification_scores, compute_accuracy
from sentibench.stages import evaluation


def test_seed_compute_metrics_example():
    from transformers.trainer_utils import EvalPrediction

    eval_pred = EvalPrediction(predictions=np.array([[0, 1], [2, 3], [4, 5], [6, 7]]), label_ids=np.array([1, 1, 0, 1]))
    assert compute_accuracy(eval_pred) == {"accuracy": 0.75}


def test_scoring_writes_nothing_into_the_users_home(tmp_path):
    """evaluate caches modules and metric files under ~/.cache/huggingface unless told otherwise."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "XDG_"))}
    env.update(HOME=str(home), PYTHONPATH=str(REPO / "src"), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    code = (
        "import numpy as np; from sentibench.scoring.metrics import classification_scores; "
        "print(classification_scores(np.array([0, 1, 1]), np.array([0, 1, 0]))['accuracy'])"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert float(done.stdout.split()[-1]) == pytest.approx(2 / 3)
    assert [p.relative_to(home).as_posix() for p in home.rglob("*")] == []


def test_macro_scores_weigh_classes_equally():
    scores = classification_scores(np.array([1, 1, 1, 1]), np.array([1, 1, 0, 1]))
    assert scores["accuracy"] == 0.75
    assert scores["recall_macro"] == 0.5  # class 0 never found
    assert scores["precision_macro"] == pytest.approx(0.375)
    assert scores["f1_macro"] == pytest.approx((0 + 2 * 0.75 / 1.75) / 2)


def test_cross_entropy_matches_torch():
    logits = np.array([[2.0, -1.0], [0.5, 0.25], [-3.0, 4.0]], dtype=np.float32)
    labels = np.array([0, 1, 0])
    expected = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(labels)).item()
    assert predictions.cross_entropy(logits, labels) == pytest.approx(expected, rel=1e-6)


def test_evaluate_scores_every_test_row_beside_the_reference(tiny_run, tmp_path):
    metrics, predictions = tmp_path / "eval.json", tmp_path / "predictions.csv"
    code = run_cli(
        evaluation.main,
        [
            "--params",
            str(tiny_run / "params.yaml"),
            "--model-dir",
            str(tiny_run / "model"),
            "--tokenized",
            str(tiny_run / "tokenized"),
            "--metrics",
            str(metrics),
            "--predictions",
            str(predictions),
        ],
    )
    assert code == 0
    report = json.loads(metrics.read_text())
    rows = list(csv.DictReader(predictions.open(encoding="utf-8")))
    assert report["rows"] == len(rows) == 80
    assert {r["predicted"] for r in rows} == {"negative", "positive"}  # a model that learned, not one class
    assert report["accuracy"] >= 0.6 and report["f1_macro"] >= 0.6
    assert report["accuracy"] == pytest.approx(np.mean([r["actual"] == r["predicted"] for r in rows]))
    assert report["reference"]["accuracy"] == pytest.approx(np.mean([r["actual"] == r["reference"] for r in rows]))
    assert report["reference"]["train_rows"] == 300
    assert report["accuracy_over_reference"] == pytest.approx(report["accuracy"] - report["reference"]["accuracy"])
    assert {"f1_macro", "precision_macro", "recall_macro", "loss"} <= set(report)
    for row in rows:
        assert float(row["p_negative"]) + float(row["p_positive"]) == pytest.approx(1, abs=1e-5)
    prepared_test = [r["text"] for r in rows]
    assert len(set(prepared_test)) == 80


def test_evaluate_reruns_give_identical_predictions(tiny_run):
    first, _ = predictions.evaluate_model(
        tiny_run / "model", tiny_run / "tokenized", EvaluateParams(reference_max_features=20000)
    )
    second, _ = predictions.evaluate_model(
        tiny_run / "model", tiny_run / "tokenized", EvaluateParams(batch_size=7, reference_max_features=20000)
    )
    assert first["accuracy"] == second["accuracy"]  # batch size changes padding, not predictions


def test_missing_model_is_named(tmp_path):
    with pytest.raises(UserError, match=r"no model\.safetensors; run the train stage first"):
        load_saved(tmp_path)


def test_outputs_change_together_or_not_at_all(tiny_run, tmp_path, capsys):
    """metrics/ that cannot be written stops evaluate before it replaces the predictions."""
    (tmp_path / "metrics").write_text("a file where a folder should be")
    predictions = tmp_path / "predictions.csv"
    predictions.write_text("old")
    args = ["--params", str(tiny_run / "params.yaml"), "--model-dir", str(tiny_run / "model")]
    args += ["--tokenized", str(tiny_run / "tokenized"), "--predictions", str(predictions)]
    code = run_cli(evaluation.main, [*args, "--metrics", str(tmp_path / "metrics" / "eval.json")])
    assert code == 2 and "is a file, not a folder" in capsys.readouterr().err
    assert predictions.read_text() == "old"


def test_the_reference_keeps_the_most_frequent_ngrams_and_breaks_ties_by_the_ngram():
    from sentibench.scoring.reference import frequent_ngrams

    texts = ["ba", "ab", "c"]  # a and b twice, c once; 2-grams ab and ba once each
    assert frequent_ngrams(texts, 1, 2) == ["a", "b"]
    assert frequent_ngrams(texts, 2, 3) == ["a", "ab", "b"]  # ab, ba and c tie: ab comes first
    assert frequent_ngrams(texts, 2, 99) is None  # no more than the limit: keep them all
