"""Measure `sentibench predict` against `transformers.pipeline("text-classification")`, side by side.

Usage (after `dvc repro`, from the repository root):
    PYTHONPATH=src python benchmark/predict_vs_pipeline.py --texts 10000 --repeats 2
Both classify the same texts (the prepared splits' texts, in their order) with the same model folder
(models/final), in one process, with the same thread count (runtime.threads), alternating so that both
see the machine in the same state. Startup (loading the model and tokenizer) is timed apart from
classifying; the ratio of the steady-state medians is the number to read. Both run natively (no
portable kernels): this is inference speed, not the training pipeline's bytes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import pyarrow.parquet as pq
import torch
from transformers import pipeline

from sentibench.core.contract import MODEL_DIR, MODEL_INFO, PARAMS, PREPARED, SPLITS, load_saved
from sentibench.core.params import load_params
from sentibench.portable.environment import cpu_model
from sentibench.use.predict import predict

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--texts", type=int, default=10_000)
parser.add_argument("--repeats", type=int, default=2)
parser.add_argument("--batch-size", type=int, default=64, help="for both")
parser.add_argument("--model", type=Path, default=MODEL_DIR)
args = parser.parse_args()

torch.set_num_threads(load_params(PARAMS).runtime.threads)
max_tokens = json.loads((args.model / MODEL_INFO).read_text(encoding="utf-8"))["max_tokens"]  # as predict cuts
texts = [t for split in SPLITS for t in pq.read_table(PREPARED / f"{split}.parquet")["text"].to_pylist()]
texts = (texts * (args.texts // len(texts) + 1))[: args.texts]
labels: dict[str, list[str]] = {}
times: dict[str, dict[str, list[float]]] = {"predict": {"load": [], "run": []}, "pipeline": {"load": [], "run": []}}


def run_predict() -> tuple[float, float, list[str]]:
    """predict loads inside its call: its load is timed on its own first, then subtracted."""
    started = time.perf_counter()
    load_saved(args.model)
    load = time.perf_counter() - started
    started = time.perf_counter()
    names, probabilities, _ = predict(args.model, texts, args.batch_size)
    total = time.perf_counter() - started
    return load, total - load, [names[i] for i in probabilities.argmax(axis=1)]


def run_pipeline() -> tuple[float, float, list[str]]:
    started = time.perf_counter()
    classify = pipeline("text-classification", model=str(args.model), tokenizer=str(args.model), device="cpu")
    load = time.perf_counter() - started
    started = time.perf_counter()
    out = classify(texts, batch_size=args.batch_size, truncation=True, max_length=max_tokens)
    return load, time.perf_counter() - started, [row["label"] for row in out]


for repeat in range(args.repeats):
    for name, run in (("predict", run_predict), ("pipeline", run_pipeline)):
        load, seconds, labels[name] = run()
        times[name]["load"].append(load)
        times[name]["run"].append(seconds)
        print(f"run {repeat + 1} {name}: load {load:.2f} s, {len(texts)} texts in {seconds:.2f} s", flush=True)

rates = {name: len(texts) / statistics.median(t["run"]) for name, t in times.items()}
agree = sum(a == b for a, b in zip(labels["predict"], labels["pipeline"], strict=True)) / len(texts)
print(
    json.dumps(
        {
            "texts": len(texts),
            "batch_size": args.batch_size,
            "threads": torch.get_num_threads(),
            "cpu": cpu_model(),
            "rows_per_second": {name: round(rate, 1) for name, rate in rates.items()},
            "load_seconds_median": {name: round(statistics.median(t["load"]), 2) for name, t in times.items()},
            "ratio_predict_over_pipeline": round(rates["predict"] / rates["pipeline"], 3),
            "same_labels": round(agree, 4),
        },
        indent=2,
    )
)
