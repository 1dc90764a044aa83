"""Bucketed batches: every row once, little padding, batch order shuffled, the same order for the same seed."""

import numpy as np
import pytest

from sentibench.training.batching import BucketSampler, bucketed_order


def padding_efficiency(lengths, order, batch_size):
    """Real tokens over padded tokens when `order` is cut into batches of `batch_size` rows."""
    batches = [[lengths[i] for i in order[start : start + batch_size]] for start in range(0, len(order), batch_size)]
    return sum(map(sum, batches)) / sum(max(b) * len(b) for b in batches)


LENGTHS = [int(n) for n in np.random.default_rng(0).lognormal(3.8, 0.8, 1000).clip(5, 128)]


def test_each_row_once_and_only_the_last_batch_short():
    order = bucketed_order(LENGTHS, 32, 16, seed=1, epoch=0)
    assert sorted(order) == list(range(len(LENGTHS)))
    batches = [order[i : i + 32] for i in range(0, len(order), 32)]
    assert all(len(b) == 32 for b in batches[:-1]) and len(batches[-1]) == len(LENGTHS) % 32


def test_padding_falls_with_the_window_and_beats_random_batches():
    random_order = list(np.random.default_rng(1).permutation(len(LENGTHS)))
    efficiency = {w: padding_efficiency(LENGTHS, bucketed_order(LENGTHS, 32, w, 1, 0), 32) for w in (1, 4, 16)}
    assert padding_efficiency(LENGTHS, random_order, 32) == pytest.approx(efficiency[1], abs=0.05)
    assert efficiency[1] < efficiency[4] < efficiency[16]
    assert efficiency[16] > 0.85


def test_batch_order_is_shuffled_not_sorted_by_length():
    """Transformers' grouping serves batches longest-first; here consecutive batches are unrelated."""
    order = bucketed_order(LENGTHS, 32, 16, seed=1, epoch=0)
    longest = [max(LENGTHS[i] for i in order[s : s + 32]) for s in range(0, len(order) - 32, 32)]
    lag1 = np.corrcoef(longest[:-1], longest[1:])[0, 1]
    assert abs(lag1) < 0.3


def test_same_seed_and_epoch_same_order_other_epoch_other_order():
    sampler = BucketSampler(LENGTHS, 32, 16, seed=7)
    first = list(sampler)
    assert list(sampler) == first and len(sampler) == len(LENGTHS)
    sampler.set_epoch(1)
    assert list(sampler) != first
    assert list(BucketSampler(LENGTHS, 32, 16, seed=8)) != first
