"""The FLOPs model and the machine's peak, for model FLOPs utilisation (MFU).

MFU is reported twice: at padded tokens (what the hardware computed) and at real tokens (what the
task needed); the gap between the two is the cost of padding.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

Clock = Callable[[], float]


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


def synchronize() -> None:
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
        synchronize()
        start = clock()
        a @ b
        synchronize()
        best = min(best, clock() - start)
    return 2.0 * size**3 / best
