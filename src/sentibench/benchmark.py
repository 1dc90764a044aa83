"""Stage `benchmark`: training and inference speed, measured the way a benchmark must be.

Training: the same Trainer set-up as the `train` stage, from the same data; `warmup_steps` run
untimed, then each of `measure_steps` steps is timed on its own and reported as median and spread,
with the real and padded tokens of exactly those batches. Inference: the trained model on test
rows, per batch size, after warm-up, for at least N iterations and T seconds (CUDA events on a
GPU, perf_counter on the CPU). Model FLOPs utilisation divides the achieved training FLOP/s by
the machine's own peak, measured in the same process with a large matmul. Runs outside
deterministic mode (which slows CUDA) and is never replayed from DVC's run-cache.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sentibench.atomic import write_csv, write_json
from sentibench.environment import environment
from sentibench.errors import run_cli
from sentibench.params import DEFAULT_PARAMS, BenchmarkParams, Params, load_params
from sentibench.preprocess import DEFAULT_OUT as TOKENIZED_DIR
from sentibench.preprocess import ENCODED_FIELDS
from sentibench.runtime import apply_runtime
from sentibench.train import DEFAULT_MODEL_DIR, load_tokenized, training_arguments

DEFAULT_METRICS = Path("metrics/throughput.json")
DEFAULT_CURVE = Path("results/inference.csv")
Clock = Callable[[], float]


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (no interpolation between measurements)."""
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median and spread of measured values (p10/p90, min/max, mean, stdev)."""
    ordered = sorted(values)
    return {
        "median": statistics.median(ordered),
        "p10": percentile(ordered, 0.1),
        "p90": percentile(ordered, 0.9),
        "min": ordered[0],
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
        "stdev": statistics.stdev(ordered) if len(ordered) > 1 else 0.0,
        "n": len(ordered),
    }


def latency_stats(seconds: Sequence[float]) -> dict[str, float]:
    ms = sorted(1000 * s for s in seconds)
    return {
        "mean_ms": statistics.fmean(ms),
        "p50_ms": percentile(ms, 0.5),
        "p90_ms": percentile(ms, 0.9),
        "p99_ms": percentile(ms, 0.99),
        "stdev_ms": statistics.stdev(ms) if len(ms) > 1 else 0.0,
        "iterations": len(ms),
    }


def padding_efficiency(attention_masks: Sequence[Any]) -> float:
    """Real tokens over padded tokens, over whole batches (each mask: rows x padded length)."""
    real = sum(int(mask.sum()) for mask in attention_masks)
    padded = sum(int(mask.numel()) for mask in attention_masks)
    return real / padded


def bert_forward_flops_per_token(config: Any, seq_len: int) -> float:
    """Forward matmul FLOPs per token of a BERT encoder (2 FLOPs per multiply-add).

    Per layer: Q, K, V and output projections (4 h^2), the feed-forward pair (2 h i), and
    attention scores and their weighted sum (2 seq h). Embedding look-ups, norms, softmax and
    the per-sequence pooler/classifier are ignored, as in the usual 6N-per-token estimate.
    """
    h, i, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    return 2.0 * layers * (4 * h * h + 2 * h * i + 2 * seq_len * h)


def training_flops_per_token(config: Any, seq_len: int) -> float:
    """Forward plus backward (twice the forward): three forward passes' worth."""
    return 3.0 * bert_forward_flops_per_token(config, seq_len)


def _synchronize() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def peak_matmul_flops(size: int, bf16: bool, clock: Clock = time.perf_counter, reps: int = 5) -> float:
    """The machine's achievable matmul FLOP/s for the training dtype: the best of a few large GEMMs."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if bf16 else torch.float32
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b  # warm-up: kernel selection, page faults
    best = float("inf")
    for _ in range(reps):
        _synchronize()
        start = clock()
        a @ b
        _synchronize()
        best = min(best, clock() - start)
    return 2.0 * size**3 / best


def step_timer(clock: Clock) -> Any:
    """A Trainer callback that times every optimisation step on its own."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.seconds: list[float] = []
            self._start = 0.0

        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            _synchronize()
            self._start = clock()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            _synchronize()
            self.seconds.append(clock() - self._start)

    return StepTimer()


def measure_training(params: Params, dataset: Any, tokenizer: Any, clock: Clock = time.perf_counter) -> dict[str, Any]:
    """Time warm-up + measured steps of the train stage's Trainer set-up; report the measured ones."""
    from transformers import DataCollatorWithPadding, Trainer, set_seed

    from sentibench.modeling import load_model

    b = params.benchmark
    steps = b.warmup_steps + b.measure_steps
    label_names = dataset["train"].features["label"].names
    set_seed(params.train.seed)
    model = load_model(params.model, len(tokenizer), label_names)
    timer = step_timer(clock)
    masks: list[Any] = []  # the attention mask of every batch the model is trained on, as it sees it
    model.register_forward_pre_hook(
        lambda _, __, kwargs: masks.append(kwargs["attention_mask"].cpu()), with_kwargs=True
    )
    with tempfile.TemporaryDirectory(prefix="sentibench-bench-") as tmp:
        args = training_arguments(
            params,
            Path(tmp),
            max_steps=steps,
            eval_strategy="no",
            save_strategy="no",
            logging_strategy="no",
            disable_tqdm=True,
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=dataset["train"],
            data_collator=DataCollatorWithPadding(tokenizer),
            processing_class=tokenizer,
            callbacks=[timer],
        )
        trainer.train()
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode() + tensor.detach().float().cpu().numpy().tobytes())
    measured = slice(b.warmup_steps, steps)
    seconds, masks = timer.seconds[measured], masks[measured]
    rows = [int(m.shape[0]) for m in masks]
    real = [int(m.sum()) for m in masks]
    padded = [int(m.numel()) for m in masks]
    flops = [training_flops_per_token(model.config, int(m.shape[1])) * p for m, p in zip(masks, padded, strict=True)]
    peak = peak_matmul_flops(b.gemm_size, params.train.bf16, clock)
    achieved = spread([f / s for f, s in zip(flops, seconds, strict=True)])
    return {
        "warmup_steps": b.warmup_steps,
        "measured_steps": len(seconds),
        "step_seconds": spread(seconds),
        "samples_per_second": spread([r / s for r, s in zip(rows, seconds, strict=True)]),
        "tokens_per_second": spread([t / s for t, s in zip(real, seconds, strict=True)]),
        "padded_tokens_per_second": spread([t / s for t, s in zip(padded, seconds, strict=True)]),
        "padding_efficiency": padding_efficiency(masks),
        "mean_real_tokens_per_row": sum(real) / sum(rows),
        "mean_padded_tokens_per_row": sum(padded) / sum(rows),
        "achieved_flops_per_second": achieved["median"],
        "peak_matmul_flops_per_second": peak,
        "peak_dtype": "bfloat16" if params.train.bf16 else "float32",
        "model_flops_utilisation": achieved["median"] / peak,
        "weights_sha256": digest.hexdigest(),  # after the last step: tells whether a lever changes results
    }


def _timed(run: Callable[[], Any], clock: Clock) -> float:
    """One inference iteration's seconds: CUDA events on a GPU, the clock on the CPU."""
    import torch

    if torch.cuda.is_available():
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        run()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / 1000
    start_time = clock()
    run()
    return clock() - start_time


def measure_inference(
    model: Any, tokenizer: Any, test: Any, b: BenchmarkParams, bf16: bool, clock: Clock = time.perf_counter
) -> list[dict[str, Any]]:
    """Latency and throughput per batch size, over test rows taken in order (cycled when short)."""
    import torch
    from transformers import DataCollatorWithPadding

    collate = DataCollatorWithPadding(tokenizer)
    device = next(model.parameters()).device
    rows = test.select_columns(list(ENCODED_FIELDS))
    results = []
    for batch_size in b.batch_sizes:
        picks = [rows[i % len(rows)] for i in range(batch_size * (b.min_iterations + b.inference_warmup))]
        batches = [collate(picks[i : i + batch_size]) for i in range(0, len(picks), batch_size)]
        batches = [{k: v.to(device) for k, v in batch.items()} for batch in batches]
        autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)

        def forward(batch: dict[str, Any]) -> Callable[[], Any]:
            return lambda: model(**batch)

        with torch.no_grad(), autocast:
            for batch in batches[: b.inference_warmup]:
                model(**batch)
            seconds: list[float] = []
            started = clock()
            while len(seconds) < b.min_iterations or clock() - started < b.min_seconds:
                batch = batches[b.inference_warmup + len(seconds) % b.min_iterations]
                seconds.append(_timed(forward(batch), clock))
        stats = latency_stats(seconds)
        results.append({"batch_size": batch_size, "rows_per_second": batch_size * len(seconds) / sum(seconds), **stats})
    return results


def peak_memory() -> dict[str, float | None]:
    import torch

    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    cuda = torch.cuda.is_available()
    return {
        "peak_rss_mib": round(rss_mib, 1),
        "cuda_max_allocated_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1) if cuda else None,
        "cuda_max_reserved_mib": round(torch.cuda.max_memory_reserved() / 2**20, 1) if cuda else None,
    }


def benchmark(params: Params, tokenized_dir: Path, model_dir: Path, clock: Clock = time.perf_counter) -> dict[str, Any]:
    from sentibench.evaluation import load_saved
    from sentibench.modeling import load_tokenizer

    dataset = load_tokenized(tokenized_dir)
    training = measure_training(params, dataset, load_tokenizer(params.model), clock)
    model, tokenizer = load_saved(model_dir)
    inference = measure_inference(model, tokenizer, dataset["test"], params.benchmark, params.train.bf16, clock)
    return {
        "training": training,
        "inference": {
            "batch_1_latency": next((r for r in inference if r["batch_size"] == 1), None),
            "by_batch_size": inference,
        },
        "memory": peak_memory(),
        "levers": {
            "group_by_length": params.train.group_by_length,
            "bf16": params.train.bf16,
            "dataloader_workers": params.train.dataloader_workers,
            "threads": params.runtime.threads,
            "batch_size": params.train.batch_size,
        },
        "environment": environment(params.runtime),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS)
    parser.add_argument("--tokenized", type=Path, default=TOKENIZED_DIR)
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--metrics", type=Path, default=DEFAULT_METRICS)
    parser.add_argument("--curve", type=Path, default=DEFAULT_CURVE)
    args = parser.parse_args(argv)
    params = load_params(args.params)
    params = dataclasses.replace(params, runtime=dataclasses.replace(params.runtime, deterministic=False))
    apply_runtime(params.runtime)
    print("benchmark: timing training steps, then inference per batch size", flush=True)
    report = benchmark(params, args.tokenized, args.model_dir)
    write_csv(args.curve, report["inference"]["by_batch_size"])
    write_json(args.metrics, report)
    t = report["training"]
    print(
        f"benchmark: training {t['samples_per_second']['median']:.1f} samples/s, "
        f"{t['tokens_per_second']['median']:.0f} tokens/s (median of {t['measured_steps']} steps), "
        f"padding efficiency {t['padding_efficiency']:.1%}, MFU {t['model_flops_utilisation']:.1%}",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(run_cli(main))
