"""Dropout masks from numpy's PCG64 instead of torch's `bernoulli_` (the `train.dropout_masks` lever).

On a CPU, `bernoulli_` draws its masks from a generator that yields one number at a time: in the
default's profile it took 19% of a training step, more than any op but the matmuls. numpy's PCG64
fills a buffer of raw 64-bit words instead: a mask and its multiplication at the default's shape took
0.66 ms against 5.1 ms for torch's dropout (xeon2, docs/results.md). Each word gives four 16-bit
draws, and a draw below `round(p * 65536)` drops its element, so the drop rate is p to within
1/131072. The scaling is torch's own (kept elements times 1 / (1 - p), in the input's dtype), and so
is the backward pass (the same product).

What stays as it was:
- every mask's seed is drawn from torch's CPU generator, so a run resumed from a checkpoint (the
  Trainer restores that generator) draws the same masks as one that never stopped;
- the bytes are the same on every x86-64 CPU: PCG64 and the comparison are integer arithmetic, and
  scaling and applying the mask are single IEEE multiplications;
- on a GPU, and in evaluation, this is `nn.Dropout` itself: CUDA's dropout is already one fused kernel;
- dropout on the attention probabilities (0 in the default) stays torch's: BERT applies it inside the
  attention function, which reads only the module's p.
"""

from __future__ import annotations

from typing import Any

DRAW_BITS = 16


def drop_threshold(p: float) -> int:
    """16-bit draws below this drop their element."""
    return round(p * (1 << DRAW_BITS))


def keep_scale(shape: tuple[int, ...], p: float, seed: int) -> Any:
    """The float32 factor dropout multiplies by: 0 where dropped, 1 / (1 - p) where kept."""
    import numpy as np

    count = int(np.prod(shape, dtype=np.int64))
    words = np.random.PCG64(seed).random_raw((count + 3) // 4)
    draws = words.view("<u2")[:count].reshape(shape)  # little-endian 16-bit lanes, whatever the host's order
    return (draws >= drop_threshold(p)).astype(np.float32) / np.float32(1 - p)


def use_pcg64_dropout(model: Any) -> int:
    """Swap every `nn.Dropout` in `model` for one whose masks come from PCG64; returns how many were swapped.

    Only the modules change: the weights, the config and what `save_pretrained` writes stay the same, so a
    saved model loads as the stock architecture."""
    import torch

    class PCG64Dropout(torch.nn.Dropout):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if not self.training or self.p == 0 or x.device.type != "cpu":
                return super().forward(x)
            seed = int(torch.randint(0, 2**63 - 1, (), dtype=torch.int64))
            return x * torch.from_numpy(keep_scale(tuple(x.shape), self.p, seed)).to(x.dtype)

    swapped = 0
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if type(child) is torch.nn.Dropout:
                setattr(module, name, PCG64Dropout(child.p))
                swapped += 1
    return swapped
