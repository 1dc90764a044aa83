"""Training batches: random, or bucketed by length without the collapse of Transformers' grouping.

Random batches of 32 reviews are padded to their longest row: about half the compute is padding.
Transformers' `group_by_length` sorts each megabatch longest-first and never shuffles the order of
batches, so consecutive batches drift in length and, in this corpus, in label mix (long reviews are
mostly positive); a model trained from scratch on it collapsed to one class. The bucketed sampler
here keeps the padding gain and the randomness (as AllenNLP's bucket sampler did after its PR 3985):
each epoch, with a stream of its own seed, shuffle every index, cut the order into windows of
`window` batches, sort each window by length and cut it into batches, then shuffle the order of all
full batches; the one short batch, if any, comes last. The order is a pure function of (seed, epoch),
so a resumed run replays it exactly, and under DDP the data loader hands whole batches to each process.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np


def bucketed_order(lengths: Sequence[int], batch_size: int, window: int, seed: int, epoch: int) -> list[int]:
    """Row indices in training order: consecutive runs of `batch_size` rows are the batches."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    sizes = np.asarray(lengths)
    span = batch_size * window
    batches: list[np.ndarray] = []
    for start in range(0, len(order), span):
        chunk = order[start : start + span]
        chunk = chunk[np.argsort(sizes[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    full = [b for b in batches if len(b) == batch_size]
    short = [b for b in batches if len(b) < batch_size]
    shuffled = [full[i] for i in rng.permutation(len(full))]
    return [int(i) for batch in (*shuffled, *short) for i in batch]


class BucketSampler:
    """A torch-compatible sampler over `bucketed_order`; `set_epoch` is called by the Trainer each epoch."""

    def __init__(self, lengths: Sequence[int], batch_size: int, window: int, seed: int) -> None:
        self.lengths, self.batch_size, self.window, self.seed = list(lengths), batch_size, window, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        return iter(bucketed_order(self.lengths, self.batch_size, self.window, self.seed, self.epoch))

    def __len__(self) -> int:
        return len(self.lengths)
