"""Where a training step goes: the benchmark's measured steps under torch.profiler, op by op, in groups.

Runs the benchmark stage's own training measurement (the train stage's Trainer set-up, natively and
outside deterministic mode, as the benchmark runs) with the profiler on for exactly its measured steps,
and sums every op's self time into groups: the matmuls, the fused attention kernel, GELU, layer norm,
dropout's masks, the optimizer, gradient clipping, embeddings, filling and copying tensors, fetching
and collating the batch, the other ops (the largest are named), and the time outside any op (Python,
the Trainer, and the profiler's own cost). It also prints the FLOP/s of the matmul ops within the step
against the peak GEMM, and the MFU of a step made of nothing but the model's per-token work (matmuls,
attention, GELU, layer norm): the most that removing everything else could give. So the gap between the
benchmark's MFU and what the model's matmuls reach is named, not guessed. The profiler slows each op a
little, so its steps are slower than the benchmark's: read the shares and the bound here, and the
benchmark for the speed.

    PYTHONPATH=src python benchmark/step_profile.py [--params params.yaml] [--tokenized data/tokenized] [--format md]
        [--portable]
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

from sentibench.bench.benchmark import measure_training, real_token_flops
from sentibench.core.contract import TOKENIZED, load_data_tokenizer, load_tokenized
from sentibench.core.errors import run_cli
from sentibench.core.params import load_params
from sentibench.core.tables import render_table
from sentibench.portable.runtime import apply_runtime

GROUPS = {  # the first pattern an op's name matches (re.search) names its group
    "matmuls (mm, addmm, bmm)": r"^aten::(mm|addmm|bmm|baddbmm)$",
    "fused attention (forward and backward)": r"scaled_dot_product",
    "GELU (forward and backward)": r"^aten::gelu",
    "layer norm (forward and backward)": r"layer_norm",
    "dropout masks (bernoulli_)": r"^aten::bernoulli_$",
    "optimizer (fused AdamW)": r"adamw|^Optimizer\.",
    "gradient clipping (norms)": r"vector_norm|_foreach_norm|clip_grad",
    "embeddings (look-up and gradient)": r"embedding|index_select",
    "filling and copying tensors": r"^aten::(fill_|zero_|copy_)$",
    "fetching and collating the batch": r"DataLoader",
}
MODEL_WORK = tuple(GROUPS)[:4]  # the per-token work of any BERT step; the last three are ATen's fused CPU kernels
MATMULS = MODEL_WORK[0]


def group_of(name: str) -> str:
    return next((group for group, pattern in GROUPS.items() if re.search(pattern, name)), "other ops")


class MeasuredStepsProfiler(TrainerCallback):
    """Profiles from the end of the last warm-up step to the end of the last measured one (the steps the
    benchmark's step timer measures), and keeps the attention masks of those steps' batches."""

    def __init__(self, first: int, last: int) -> None:
        self.first, self.last = first, last
        self.profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], with_flops=True)
        self.seconds = 0.0
        self.masks: list[Any] = []
        self.recording = False
        self.config: Any = None  # the trained model's, whatever its source

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        def keep(_: Any, __: Any, inputs: dict[str, Any]) -> None:
            if self.recording:
                self.masks.append(inputs["attention_mask"].cpu())

        model.register_forward_pre_hook(keep, with_kwargs=True)
        self.config = model.config

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == self.first:
            self.profiler.start()
            self.seconds, self.recording = time.perf_counter(), True
        elif state.global_step == self.last:
            self.seconds, self.recording = time.perf_counter() - self.seconds, False
            self.profiler.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--tokenized", type=Path, default=TOKENIZED)
    parser.add_argument("--format", choices=("text", "md"), default="text")
    parser.add_argument(
        "--portable", action="store_true", help="profile the portable kernels (runtime.portable) instead of native"
    )
    args = parser.parse_args(argv)
    params = load_params(args.params)
    params = dataclasses.replace(
        params, runtime=dataclasses.replace(params.runtime, deterministic=False, portable=args.portable)
    )
    apply_runtime(params.runtime)
    steps = params.benchmark.measure_steps
    profiler = MeasuredStepsProfiler(params.benchmark.warmup_steps, params.benchmark.warmup_steps + steps)
    dataset = load_tokenized(args.tokenized)
    measured = measure_training(params, dataset, load_data_tokenizer(args.tokenized), callbacks=[profiler])

    grouped = [(group_of(op.key), op) for op in profiler.profiler.key_averages()]
    by_group: dict[str, float] = {}
    for group, op in grouped:
        by_group[group] = by_group.get(group, 0.0) + op.self_cpu_time_total / 1e6
    by_group["outside any op (Python, the Trainer, the profiler)"] = profiler.seconds - sum(by_group.values())
    rows = [
        [group, f"{seconds / steps * 1e3:.1f}", f"{seconds / profiler.seconds:.1%}"]
        for group, seconds in sorted(by_group.items(), key=lambda item: -item[1])
    ]
    print(render_table(["where the step goes", "ms per step", "share"], rows, args.format))
    others = sorted((op for group, op in grouped if group == "other ops"), key=lambda op: -op.self_cpu_time_total)
    print(
        "\nthe largest other ops, ms per step: "
        + ", ".join(f"{op.key} {op.self_cpu_time_total / 1e3 / steps:.1f}" for op in others[:8])
    )

    matmul_seconds = by_group.get(MATMULS, 0.0)
    matmul_flops = sum(op.flops for group, op in grouped if group == MATMULS)
    peak = measured["peak_matmul_flops_per_second"]
    flops = sum(real_token_flops(profiler.config, mask) for mask in profiler.masks)
    model_work = sum(by_group.get(group, 0.0) for group in MODEL_WORK)
    print(
        f"\n{steps} profiled steps, {profiler.seconds / steps * 1e3:.1f} ms each, real-token MFU "
        f"{flops / profiler.seconds / peak:.1%} (below the benchmark's: the profiler slows the step). The matmul ops "
        f"ran at {matmul_flops / matmul_seconds / peak:.1%} of the {peak / 1e9:.1f} GFLOP/s peak "
        f"GEMM and took {matmul_seconds / profiler.seconds:.1%} of the step. A step of nothing but the model's "
        f"per-token work ({', '.join(g.split(' (')[0] for g in MODEL_WORK)}: "
        f"{model_work / steps * 1e3:.1f} ms) would be at {flops / model_work / peak:.1%} real-token MFU."
    )


if __name__ == "__main__":
    sys.exit(run_cli(main))
