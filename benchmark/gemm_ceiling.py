"""The MFU a training step of this model shape could reach if everything but its matmuls took no time.

Runs the matmuls of one BERT training step (each linear layer forward, its input gradient and its weight
gradient; the attention scores and weighted sums, forward and backward) at the shape params.yaml names,
alternated with the peak GEMM the benchmark divides by, in one process. Their FLOP/s over the peak's is
the ceiling of the benchmark's MFU at that shape on this machine: how far the step is from it is what the
rest of the step (dropout, norms, activations, the optimizer, the Trainer) costs.

    PYTHONPATH=src python benchmark/gemm_ceiling.py [--batch 32] [--tokens 58] [--repeats 15]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig

from sentibench.bench.flops import peak_matmul_flops, training_flops_per_token
from sentibench.core.params import load_params
from sentibench.portable.runtime import apply_runtime


def step_matmuls(config: Any, batch: int, tokens: int) -> Callable[[], None]:
    """A function running one training step's matmuls for a BERT `config` on random operands: those
    `training_flops_per_token` counts, so that the benchmark's FLOPs model measures them."""
    hidden, intermediate, heads = config.hidden_size, config.intermediate_size, config.num_attention_heads
    rows = batch * tokens
    linears = [(hidden, hidden)] * 4 + [(hidden, intermediate), (intermediate, hidden)]  # Q, K, V, out; FFN
    operands = [(torch.randn(rows, k), torch.randn(n, k), torch.randn(rows, n)) for k, n in linears]
    head = hidden // heads
    q, k = torch.randn(batch * heads, tokens, head), torch.randn(batch * heads, head, tokens)
    probs = torch.randn(batch * heads, tokens, tokens)

    def run() -> None:
        for _ in range(config.num_hidden_layers):
            for x, w, grad in operands:
                x @ w.t()  # forward
                grad @ w  # input gradient
                grad.t() @ x  # weight gradient
            scores = torch.bmm(q, k)  # forward: scores, then the weighted sum of values
            torch.bmm(probs, q)
            torch.bmm(scores, k.transpose(1, 2))  # backward: two gradients of each
            torch.bmm(q.transpose(1, 2), scores)
            torch.bmm(probs.transpose(1, 2), q)
            torch.bmm(q, q.transpose(1, 2))

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--batch", type=int, default=None, help="rows per step (default: train.batch_size)")
    parser.add_argument("--tokens", type=int, default=58, help="padded tokens per row (the default's mean: 57.6)")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    params = load_params(args.params)
    apply_runtime(dataclasses.replace(params.runtime, deterministic=False, portable=False))  # as the benchmark
    config = AutoConfig.for_model(params.model.architecture, **params.model.config)
    batch = args.batch or params.train.batch_size
    run = step_matmuls(config, batch, args.tokens)
    flops = training_flops_per_token(config, args.tokens) * batch * args.tokens
    for _ in range(3):
        run()
    ratios = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        run()
        seconds = time.perf_counter() - start
        ratios.append(flops / seconds / peak_matmul_flops(params.benchmark.gemm_size, bf16=False, reps=1))
    print(
        f"matmuls of one step ({flops / 1e9:.2f} GFLOP) against the {params.benchmark.gemm_size}^3 peak GEMM, "
        f"alternated {args.repeats} times: MFU ceiling median {statistics.median(ratios):.1%} "
        f"(min {min(ratios):.1%}, max {max(ratios):.1%})"
    )


if __name__ == "__main__":
    main()
