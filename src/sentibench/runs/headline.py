"""The headline metrics: what a reviewer looks at first, in `report` and in `history --plot`.

Quality (with a sweep's spread where one is given), quality against the TF-IDF reference, time to the
target accuracy, training speed and its real-token MFU, batch-1 inference latency and peak memory.
"""

from __future__ import annotations

HEADLINE = {
    "eval.accuracy": "test accuracy",
    "eval.f1_macro": "test macro F1",
    "eval.accuracy_over_reference": "accuracy over the TF-IDF reference",
    "train.steps_to_target": "steps to the target accuracy",
    "train_timing.seconds_to_target": "seconds to the target accuracy",
    "throughput.training.samples_per_second.median": "training samples/s",
    "throughput.training.model_flops_utilisation_real_tokens": "real-token MFU",
    "throughput.inference.batch_1_latency.p50_ms": "inference p50 at batch 1 (ms)",
    "throughput.memory.peak_rss_mib": "peak memory (MiB)",
}
REFERENCE = {"eval.accuracy": "eval.reference.accuracy", "eval.f1_macro": "eval.reference.f1_macro"}  # drawn beside
