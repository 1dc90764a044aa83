"""The paired estimator on synthetic samples (deterministic: no timing): it cancels what the machine does between
steps, which a sequential comparison cannot, and its interval and verdicts mean what they say."""

import math
import random
import statistics

import pytest

from sentibench.bench.paired import MIN_BLOCKS, a_first, compare_speeds, hodges_lehmann, judge

PAIRS = 200


def interleaved(ratio: float, machine, noise: float = 0.0, seed: int = 0) -> tuple[list[float], list[float]]:
    """Speeds of A and B over PAIRS pairs run in the engine's order: pair i on slots 2i and 2i+1, each side
    at its own batch speed times the machine's speed at its slot (B at `ratio` times A's)."""
    rng = random.Random(seed)
    a, b = [], []
    for pair in range(PAIRS):
        batch = rng.lognormvariate(0, 0.5)  # short and long batches: speeds that differ by batch
        first, second = 2 * pair, 2 * pair + 1
        slot_a, slot_b = (first, second) if a_first(pair) else (second, first)
        a.append(batch * machine(slot_a) * math.exp(rng.gauss(0, noise)))
        b.append(ratio * batch * machine(slot_b) * math.exp(rng.gauss(0, noise)))
    return a, b


def sequential(ratio: float, machine, seed: int = 0) -> float:
    """The old way: all of A, then all of B, each side's median speed."""
    rng = random.Random(seed)
    batches = [rng.lognormvariate(0, 0.5) for _ in range(PAIRS)]
    a = [batch * machine(slot) for slot, batch in enumerate(batches)]
    b = [ratio * batch * machine(PAIRS + slot) for slot, batch in enumerate(batches)]
    return statistics.median(b) / statistics.median(a)


def drift(slot: int) -> float:
    return math.exp(-0.4 * slot / (2 * PAIRS))  # the machine slows by a third over the run


def step_change(slot: int) -> float:
    return 1.0 if slot < PAIRS else 0.7  # another tenant arrives halfway


@pytest.mark.parametrize("machine", [drift, step_change], ids=["linear drift", "step change"])
@pytest.mark.parametrize("ratio", [1.0, 0.9])
def test_interleaved_pairs_cancel_what_the_machine_does(machine, ratio):
    a, b = interleaved(ratio, machine)
    found = compare_speeds(a, b, "tokens/s", threshold=0.03)
    assert found.ratio == pytest.approx(ratio, rel=1e-9)  # exactly: every block (but one at the step) is log(ratio)
    assert found.verdict == ("same" if ratio == 1.0 else "slower")
    naive = sequential(ratio, machine)
    assert abs(naive / ratio - 1) > 0.15  # the sequential estimate is off by more than any threshold
    with_noise = compare_speeds(*interleaved(ratio, machine, noise=0.1, seed=3), "tokens/s", threshold=0.05)
    assert with_noise.low <= ratio <= with_noise.high


def test_the_interval_covers_the_truth_about_as_often_as_it_says():
    rng = random.Random(1)
    trials = 400
    covered = 0
    for _ in range(trials):
        values = [rng.gauss(0.0, 1.0) for _ in range(40)]
        _, low, high = hodges_lehmann(values)
        covered += low <= 0.0 <= high
    assert 0.92 <= covered / trials <= 0.98


def test_hodges_lehmann_is_the_median_of_pairwise_means_and_shrugs_off_an_outlier():
    centre, low, high = hodges_lehmann([1.0, 2.0, 3.0])  # pairwise means 1, 1.5, 2, 2, 2.5, 3
    assert centre == 2.0 and low == 1.0 and high == 3.0  # too few values for a narrower 95% interval
    calm = [0.01 * i for i in range(-10, 11)]
    assert hodges_lehmann([*calm, 50.0])[0] < 0.02  # one hiccup of the VM barely moves it; a mean would go to 2.3


def test_verdicts_need_the_whole_interval_beyond_or_within_the_threshold():
    t = 0.05
    assert judge(math.log(1.06), math.log(1.2), t) == "faster"
    assert judge(math.log(0.8), math.log(0.94), t) == "slower"
    assert judge(math.log(0.97), math.log(1.03), t) == "same"
    assert judge(math.log(0.9), math.log(1.02), t) == "inconclusive"  # could be 10% slower: not "same"
    assert judge(math.log(0.96), math.log(0.99), t) == "same"  # excludes 1, but by less than anyone cares about


def test_too_few_pairs_say_nothing_and_words_say_why():
    few = compare_speeds([1.0] * (2 * MIN_BLOCKS - 2), [2.0] * (2 * MIN_BLOCKS - 2), "tokens/s", 0.05)
    assert few.verdict == "inconclusive" and few.low == 0.0 and math.isinf(few.high)
    assert "too few pairs" in few.words()
    a, b = interleaved(1.0, drift, noise=0.05)
    same = compare_speeds(a, b, "tokens/s", 0.05)
    assert same.words() == "same (within ±5%)" and same.pairs == PAIRS and same.blocks == PAIRS // 2
    noisy = compare_speeds(*interleaved(1.0, drift, noise=0.8), "tokens/s", 0.05)
    assert noisy.verdict == "inconclusive" and noisy.words().startswith("inconclusive (noise ±")
