"""Measure `sentibench predict` against `transformers.pipeline("text-classification")`, paired.

Usage (after `dvc repro`, from the repository root):
    PYTHONPATH=src python benchmark/predict_vs_pipeline.py --texts 10000 --chunk 1000 --budget 120
Both classify the same texts (the prepared splits' texts, in their order) with the same model (models/final,
loaded once per side, before measuring) and the same thread count (runtime.threads), each in a worker process
of its own (bench/worker.py --classify), stepped in lockstep by the engine of every speed comparison
(bench/lockstep.py): pair i is the same chunk of texts on both sides, in alternating order, and the ratio comes
with its 95% interval. Each side cuts, sorts and pads within its chunk (a call of `predict` on `--chunk` texts).
Both run natively (no portable kernels): this is inference speed, not the training pipeline's bytes. Both must
give the same labels (compared by digest at the end).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

from sentibench.bench.lockstep import Side, Worker, plan_arguments, plan_from, run_phase
from sentibench.core.contract import MODEL_DIR, PARAMS, PREPARED, SPLITS
from sentibench.core.params import load_params
from sentibench.portable.environment import cpu_model

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--texts", type=int, default=10_000)
parser.add_argument("--chunk", type=int, default=1000, help="texts per turn: one call of predict")
parser.add_argument("--batch-size", type=int, default=64, help="for both")
parser.add_argument("--model", type=Path, default=MODEL_DIR)
plan_arguments(parser, budget=120)
args = parser.parse_args()
for option in ("texts", "chunk", "batch_size"):
    if getattr(args, option) < 1:
        parser.error(f"--{option.replace('_', '-')} must be at least 1")
if not (args.model / "config.json").is_file():
    parser.error(f"--model {args.model}: not a model folder (no config.json); run dvc repro first")

texts = [t for split in SPLITS for t in pq.read_table(PREPARED / f"{split}.parquet")["text"].to_pylist()]
texts = (texts * (args.texts // len(texts) + 1))[: args.texts]
with tempfile.TemporaryDirectory(prefix="predict-vs-pipeline-") as folder:
    texts_file = Path(folder, "texts.json")
    texts_file.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    common = ["--params", str(PARAMS), "--model", str(args.model), "--texts", str(texts_file)]
    common += ["--chunk", str(args.chunk), "--batch-size", str(args.batch_size)]
    workers = (
        Worker(Side("pipeline", ["--classify", "pipeline", *common])),
        Worker(Side("predict", ["--classify", "predict", *common])),
    )
    try:
        for worker in workers:
            worker.expect()  # loaded, not measured
        result = run_phase(
            workers, "infer", "predict vs pipeline", plan_from(args), lambda line: print(line, flush=True)
        )
        digests = [worker.ask("end")["labels_sha256"] for worker in workers]
    finally:
        for worker in workers:
            worker.close()
comparison = result.comparison
print(
    json.dumps(
        {
            "texts": len(texts),
            "chunk": args.chunk,
            "batch_size": args.batch_size,
            "threads": load_params(PARAMS).runtime.threads,
            "cpu": cpu_model(),
            "texts_per_second_median": {
                "pipeline": round(comparison.a_median, 1),
                "predict": round(comparison.b_median, 1),
            },
            "ratio_predict_over_pipeline": round(comparison.ratio, 3),
            "interval_95": [round(comparison.low, 3), round(comparison.high, 3)],
            "pairs": comparison.pairs,
            "same_labels": digests[0] == digests[1],
        },
        indent=2,
    )
)
sys.exit(0 if digests[0] == digests[1] else 1)
