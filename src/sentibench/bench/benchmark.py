"""Stage `benchmark`: training and inference speed, measured the way a benchmark must be.

Training: the same Trainer set-up as the `train` stage, from the same data; `warmup_steps` run
untimed, then each of `measure_steps` steps is timed on its own, from the end of the step before
(so fetching and collating its batch counts) and reported as median and spread,
with the real and padded tokens of exactly those batches. Inference: the trained model on one pool
of test rows for every batch size, batched as serving systems batch (length-sorted, each batch
padded to its own longest row) and, beside it, in the given order; after warm-up, whole passes over
the pool for at least T seconds (CUDA events on a GPU, perf_counter on the CPU), with the padding
efficiency of each. Model FLOPs utilisation divides the achieved training FLOP/s by
the machine's own peak, measured in the same process with a large matmul. Runs outside
deterministic mode (which slows CUDA) and outside portable mode (the quality pipeline's pinned
kernels, about 0.6x the speed): it measures what this machine can do, and records the mode it ran in
(`levers` in metrics/throughput.json, `runtime` in results/benchmark_env.json); `sentibench levers`
shows what portability costs. It is never replayed from DVC's run-cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sentibench.bench.flops import Clock, peak_matmul_flops, synchronize, training_flops_per_token
from sentibench.bench.stats import summarise
from sentibench.core.atomic import write_csv, write_json
from sentibench.core.contract import (
    BENCHMARK_ENV,
    ENCODED_FIELDS,
    INFERENCE_CURVE,
    MODEL_DIR,
    SPEED,
    THROUGHPUT,
    TOKENIZED,
    load_data_tokenizer,
    load_saved,
    load_tokenized,
)
from sentibench.core.errors import run_cli
from sentibench.core.levers import lever_values
from sentibench.core.padding import padding_collator
from sentibench.core.params import BenchmarkParams, Params
from sentibench.core.stagecli import stage_command
from sentibench.portable.environment import environment
from sentibench.portable.runtime import apply_runtime
from sentibench.training.trainer import build_trainer, training_arguments


def step_timer(clock: Clock) -> Any:
    """A Trainer callback that times every optimisation step from the end of the one before it.

    Timing from `on_step_begin` would miss fetching and collating the batch, which the Trainer does
    before that event; end to end, data loading is part of what a lever can speed up or slow down.
    """
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.seconds: list[float] = []
            self._last_end = 0.0

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            synchronize()
            self._last_end = clock()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            synchronize()
            now = clock()
            self.seconds.append(now - self._last_end)
            self._last_end = now

    return StepTimer()


def measure_training(
    params: Params, dataset: Any, tokenizer: Any, clock: Clock = time.perf_counter, callbacks: Sequence[Any] = ()
) -> dict[str, Any]:
    """Time warm-up + measured steps of the train stage's Trainer set-up; report the measured ones.

    `callbacks` join the step timer in the Trainer: benchmark/step_profile.py profiles the same steps."""
    from transformers import set_seed

    from sentibench.core.modeling import load_model

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
        trainer = build_trainer(
            params,
            model=model,
            args=args,
            train_dataset=dataset["train"],
            data_collator=padding_collator(tokenizer),
            processing_class=tokenizer,
            callbacks=[timer, *callbacks],
        )
        # The peak is the best GEMM of two rounds, one on each side of the steps: one round alone, caught by
        # another process's burst on a shared VM, gave an MFU of 173% (2026-12-06).
        peak_before = peak_matmul_flops(b.gemm_size, params.train.bf16, clock)
        trainer.train()
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode() + tensor.detach().float().cpu().numpy().tobytes())
    warmup = timer.seconds[: b.warmup_steps]
    measured = slice(b.warmup_steps, steps)
    seconds, masks = timer.seconds[measured], masks[measured]
    rows = [int(m.shape[0]) for m in masks]
    real = [int(m.sum()) for m in masks]
    padded = [int(m.numel()) for m in masks]
    flops = [training_flops_per_token(model.config, int(m.shape[1])) * p for m, p in zip(masks, padded, strict=True)]
    real_flops = [real_token_flops(model.config, m) for m in masks]
    peak = max(peak_before, peak_matmul_flops(b.gemm_size, params.train.bf16, clock))
    achieved = summarise([f / s for f, s in zip(flops, seconds, strict=True)], "FLOP/s")
    achieved_real = summarise([f / s for f, s in zip(real_flops, seconds, strict=True)], "FLOP/s")
    return {
        "warmup_steps": b.warmup_steps,
        "measured_steps": len(seconds),
        "step_seconds": summarise(seconds, "s", warmup).as_dict(),
        "samples_per_second": summarise([r / s for r, s in zip(rows, seconds, strict=True)], "samples/s").as_dict(),
        "tokens_per_second": summarise([t / s for t, s in zip(real, seconds, strict=True)], "tokens/s").as_dict(),
        "padded_tokens_per_second": summarise(
            [t / s for t, s in zip(padded, seconds, strict=True)], "tokens/s"
        ).as_dict(),
        "padding_efficiency": padding_efficiency(masks),
        "mean_real_tokens_per_row": sum(real) / sum(rows),
        "mean_padded_tokens_per_row": sum(padded) / sum(rows),
        "achieved_flops_per_second": achieved.median,
        "achieved_real_token_flops_per_second": achieved_real.median,
        "peak_matmul_flops_per_second": peak,
        "peak_dtype": "bfloat16" if params.train.bf16 else "float32",
        "model_flops_utilisation": achieved.median / peak,
        "model_flops_utilisation_real_tokens": achieved_real.median / peak,
        "weights_sha256": digest.hexdigest(),  # after the last step: tells whether a lever changes results
    }


def padding_efficiency(attention_masks: Sequence[Any]) -> float:
    """Real tokens over padded tokens, over whole batches (each mask: rows x padded length)."""
    real = sum(int(mask.sum()) for mask in attention_masks)
    padded = sum(int(mask.numel()) for mask in attention_masks)
    return real / padded


def real_token_flops(config: Any, mask: Any) -> float:
    """Training FLOPs the batch needs without padding: each row at its own length."""
    return sum(training_flops_per_token(config, int(n)) * int(n) for n in mask.sum(dim=1))


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


def inference_batches(lengths: Sequence[int], batch_size: int, length_sorted: bool) -> list[list[int]]:
    """Row indices of each batch: over rows sorted by length, as serving systems batch (each batch padded
    only to its own longest row), or in the given order; the batches then in a seeded shuffled order, so
    that warm-up and timed batches, short and long, are alike."""
    import random

    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i)) if length_sorted else range(len(lengths))
    batches = [list(order[i : i + batch_size]) for i in range(0, len(lengths), batch_size)]
    random.Random(0).shuffle(batches)
    return batches


def time_inference(model: Any, batches: list[dict[str, Any]], b: BenchmarkParams, clock: Clock) -> list[float]:
    """Seconds of each timed forward pass: warm-up first, then whole passes over the batches, at least
    one and until `min_seconds` have passed."""
    for batch in batches[: b.inference_warmup]:
        model(**batch)
    seconds: list[float] = []
    started = clock()
    while not seconds or clock() - started < b.min_seconds:
        for batch in batches:
            seconds.append(_timed(lambda batch=batch: model(**batch), clock))
    return seconds


def measure_inference(
    model: Any, tokenizer: Any, test: Any, b: BenchmarkParams, bf16: bool, clock: Clock = time.perf_counter
) -> list[dict[str, Any]]:
    """Latency, throughput and padding efficiency per batch size, on one pool of test rows for every size
    (`max(batch_sizes)` x `min_iterations` rows, cycled when the split is short): batches formed from the
    length-sorted pool, and beside them (`given_order_*`) from the pool in its given order."""
    import torch

    device = next(model.parameters()).device
    rows = test.select_columns(list(ENCODED_FIELDS))
    pool = [rows[i % len(rows)] for i in range(max(b.batch_sizes) * b.min_iterations)]
    lengths = [len(row["input_ids"]) for row in pool]
    results = []
    for batch_size in b.batch_sizes:
        measured = {}
        for length_sorted in (True, False):
            batches = [
                tokenizer.pad([pool[i] for i in indices], return_tensors="pt")
                for indices in inference_batches(lengths, batch_size, length_sorted)
            ]
            masks = [batch["attention_mask"] for batch in batches]
            batches = [{k: v.to(device) for k, v in batch.items()} for batch in batches]
            autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
            with torch.inference_mode(), autocast:
                seconds = time_inference(model, batches, b, clock)
            ms = summarise([1000 * s for s in seconds], "ms")
            measured[length_sorted] = {
                "rows_per_second": len(pool) * len(seconds) / len(batches) / sum(seconds),
                "padding_efficiency": padding_efficiency(masks),
                "mean_ms": ms.mean,
                "p50_ms": ms.median,
                "p90_ms": ms.p90,
                "p99_ms": ms.p99,
                "stdev_ms": ms.stdev,
                "iterations": ms.n,
            }
        given = measured[False]
        results.append(
            {
                "batch_size": batch_size,
                **measured[True],
                "given_order_rows_per_second": given["rows_per_second"],
                "given_order_padding_efficiency": given["padding_efficiency"],
                "given_order_p50_ms": given["p50_ms"],
            }
        )
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
    dataset = load_tokenized(tokenized_dir)
    training = measure_training(params, dataset, load_data_tokenizer(tokenized_dir), clock)
    model, tokenizer = load_saved(model_dir)
    inference = measure_inference(model, tokenizer, dataset["test"], params.benchmark, params.train.bf16, clock)
    return {
        "training": training,
        "inference": {
            "batch_1_latency": next((r for r in inference if r["batch_size"] == 1), None),
            "by_batch_size": inference,
        },
        "memory": peak_memory(),
        "levers": {**lever_values(params), "train.batch_size": params.train.batch_size},
    }


def headline(report: dict[str, Any]) -> dict[str, Any]:
    """The speed numbers `dvc metrics show` prints (every statistic stays in metrics/throughput.json)."""
    training, inference = report["training"], report["inference"]
    widest = max(inference["by_batch_size"], key=lambda r: r["batch_size"])
    return {
        "train_samples_per_second": training["samples_per_second"]["median"],
        "mfu_real_tokens": training["model_flops_utilisation_real_tokens"],
        "batch_1_p50_ms": (inference["batch_1_latency"] or {}).get("p50_ms"),
        f"batch_{widest['batch_size']}_rows_per_second": widest["rows_per_second"],
    }


def main(argv: Sequence[str] | None = None) -> None:
    paths = {
        "--tokenized": TOKENIZED,
        "--model-dir": MODEL_DIR,
        "--metrics": THROUGHPUT,
        "--curve": INFERENCE_CURVE,
        "--env": BENCHMARK_ENV,
        "--speed": SPEED,
    }
    params, args = stage_command(__doc__, argv, paths, lambda a: (a.metrics, a.curve, a.env, a.speed))
    params = dataclasses.replace(
        params, runtime=dataclasses.replace(params.runtime, deterministic=False, portable=False)
    )
    apply_runtime(params.runtime)
    print("benchmark: timing training steps, then inference per batch size", flush=True)
    report = benchmark(params, args.tokenized, args.model_dir)
    write_csv(args.curve, report["inference"]["by_batch_size"])
    write_json(args.metrics, report)
    write_json(args.speed, headline(report))
    write_json(args.env, environment(params.runtime))
    t = report["training"]
    print(
        f"benchmark: training {t['samples_per_second']['median']:.1f} samples/s, "
        f"{t['tokens_per_second']['median']:.0f} tokens/s (median of {t['measured_steps']} steps), "
        f"padding efficiency {t['padding_efficiency']:.1%}, MFU {t['model_flops_utilisation']:.1%}",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(run_cli(main))
