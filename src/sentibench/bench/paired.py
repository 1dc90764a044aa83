"""The statistics of a paired speed comparison: one ratio, its interval, and a verdict in words.

Two sides run the same work in alternation, pair by pair: pair i gives both sides the same workload (the
same training batch, the same inference batch), so each pair's log speed ratio no longer depends on how
long that batch is, only on the code and on the machine's state at that moment. The order alternates
(A then B, then B then A), and each two consecutive pairs make one *block* whose value is the mean of
their two log-ratios: a drift of the machine's speed that is linear over the block's four steps cancels
exactly, since each side then ran once early and once late.

The estimate is the Hodges-Lehmann estimator over blocks (the median of all pairwise means of block
values), with its distribution-free confidence interval from the Wilcoxon signed-rank statistic. Why
that and not a bootstrap: it needs only that the blocks' noise is symmetric, which alternation gives;
a VM's hiccup makes one block an outlier, which moves a mean but barely this median; and it is
deterministic, so the same samples always give the same interval (a bootstrap's interval moves with its
resampling seed). It is the interval R's `wilcox.test(conf.int=TRUE)` reports, in its normal
approximation, which is close from about ten blocks on; fewer than MIN_BLOCKS give no verdict.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass

MIN_BLOCKS = 6  # below this the normal approximation of the signed-rank interval is too rough to say anything


def a_first(pair: int) -> bool:
    """Whether side A runs first in this pair: A B, B A, A B, … (a block is two consecutive pairs)."""
    return pair % 2 == 0


def block_values(a_speeds: Sequence[float], b_speeds: Sequence[float]) -> list[float]:
    """Each block's log speed ratio log(B/A): the mean over its two pairs (an unfinished last block is dropped)."""
    logs = [math.log(b / a) for a, b in zip(a_speeds, b_speeds, strict=True)]
    return [(logs[i] + logs[i + 1]) / 2 for i in range(0, len(logs) - 1, 2)]


def hodges_lehmann(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """The one-sample Hodges-Lehmann estimate of the centre of `values`, with its Wilcoxon interval."""
    import numpy as np

    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    i, j = np.triu_indices(n)
    walsh = np.sort((x[i] + x[j]) / 2)  # the n(n+1)/2 pairwise means, each value with itself included
    m = len(walsh)
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    k = min(max(math.floor(m / 2 - z * math.sqrt(n * (n + 1) * (2 * n + 1) / 24)), 1), (m + 1) // 2)  # 1-based
    return float(np.median(walsh)), float(walsh[k - 1]), float(walsh[m - k])


@dataclass(frozen=True)
class Comparison:
    """B's speed over A's (above 1: B is faster), with its interval, as the verdict states it."""

    ratio: float
    low: float
    high: float
    pairs: int
    blocks: int
    a_median: float  # each side's median speed, in `unit`
    b_median: float
    unit: str
    threshold: float  # the change that counts: "same" within ±threshold, faster/slower beyond it
    verdict: str  # faster | slower | same | inconclusive

    @property
    def noise(self) -> float:
        """Half the interval's width, relative: how far from the estimate the truth may still be."""
        return (self.high - self.low) / 2 / self.ratio

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "noise": self.noise}

    def words(self) -> str:
        """The verdict as a reader needs it: what was found and how sure it is."""
        if self.verdict == "same":
            return f"same (within ±{self.threshold:.0%})"
        if self.verdict == "inconclusive" and math.isinf(self.high):
            return f"inconclusive (too few pairs: {self.pairs})"
        if self.verdict == "inconclusive":
            return f"inconclusive (noise ±{self.noise:.1%}: give it more time)"
        return self.verdict

    def interval(self) -> str:
        return f"{self.ratio:.3f}x [{self.low:.3f}, {self.high:.3f}]"


def judge(log_low: float, log_high: float, threshold: float) -> str:
    """faster or slower only when the whole interval lies beyond the threshold; same when it lies within it."""
    bound = math.log1p(threshold)
    if log_low > bound:
        return "faster"
    if log_high < -bound:
        return "slower"
    if -bound <= log_low and log_high <= bound:
        return "same"
    return "inconclusive"


def compare_speeds(
    a_speeds: Sequence[float], b_speeds: Sequence[float], unit: str, threshold: float, confidence: float = 0.95
) -> Comparison:
    """Pairs of speeds (pair i: the same work on both sides, in the order `a_first` gives) into a verdict."""
    blocks = block_values(a_speeds, b_speeds)
    if len(blocks) < MIN_BLOCKS:
        centre, low, high, verdict = (statistics.median(blocks) if blocks else 0.0), -math.inf, math.inf, "inconclusive"
    else:
        centre, low, high = hodges_lehmann(blocks, confidence)
        verdict = judge(low, high, threshold)
    return Comparison(
        ratio=math.exp(centre),
        low=math.exp(low),
        high=math.exp(high),
        pairs=len(a_speeds),
        blocks=len(blocks),
        a_median=statistics.median(a_speeds) if a_speeds else math.nan,
        b_median=statistics.median(b_speeds) if b_speeds else math.nan,
        unit=unit,
        threshold=threshold,
        verdict=verdict,
    )
