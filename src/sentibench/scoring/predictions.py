"""The trained model's predictions on the test split, scored beside the TF-IDF reference (the evaluate stage's
work).

Prediction runs in a plain, ordered loop under `torch.no_grad`: every test row is scored
exactly once, in file order, so the per-row predictions line up with the test split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sentibench.core.contract import (
    ENCODED_FIELDS,
    load_saved,
    load_tokenized,
)
from sentibench.core.padding import pad_columns
from sentibench.core.params import EvaluateParams
from sentibench.scoring.metrics import classification_scores
from sentibench.scoring.reference import fit_reference


def predict_logits(model: Any, tokenizer: Any, dataset: Any, batch_size: int) -> np.ndarray:
    """Logits for every row, in order; batches padded to their own longest row, as in training."""
    import torch

    encoded = dataset.select_columns(list(ENCODED_FIELDS))
    device = next(model.parameters()).device
    chunks = []
    with torch.no_grad():
        for start in range(0, len(encoded), batch_size):
            batch = pad_columns(encoded[start : start + batch_size], tokenizer)
            chunks.append(model(**{k: v.to(device) for k, v in batch.items()}).logits.float().cpu().numpy())
    return np.concatenate(chunks)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), labels].mean())


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits.astype(np.float64) - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def evaluate_model(
    model_dir: Path, tokenized_dir: Path, params: EvaluateParams
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The evaluation report and one record per test row."""
    model, tokenizer = load_saved(model_dir)
    dataset = load_tokenized(tokenized_dir)
    test, train = dataset["test"], dataset["train"]
    label_names = test.features["label"].names
    labels = np.asarray(test["label"])

    logits = predict_logits(model, tokenizer, test, params.batch_size)
    predicted = logits.argmax(axis=1)
    reference = fit_reference(
        train["text"], train["label"], params.reference_ngram_max, params.reference_max_features, params.reference_c
    )
    reference_predicted = reference.predict(test["text"])

    scores = classification_scores(predicted, labels)
    reference_scores = classification_scores(reference_predicted, labels)
    report = {
        **scores,
        "loss": cross_entropy(logits, labels),
        "rows": len(test),
        "reference": {**reference_scores, "train_rows": len(train)},
        "accuracy_over_reference": scores["accuracy"] - reference_scores["accuracy"],
    }
    probabilities = softmax(logits)
    records = [
        {
            "row": i,
            "actual": label_names[labels[i]],
            "predicted": label_names[predicted[i]],
            "reference": label_names[reference_predicted[i]],
            **{f"p_{name}": round(float(probabilities[i, j]), 6) for j, name in enumerate(label_names)},
            "text": test[i]["text"],
        }
        for i in range(len(test))
    ]
    return report, records
