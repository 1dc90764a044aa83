"""One statistics type for every timing the benchmark reports: a unit, the spread, and the warm-up.

Training steps and inference iterations were once summarised by two builders with different key
names; now both are `Stats`, whose dict form always has the same keys, its unit, and the untimed
warm-up values kept beside the measured ones (a slow first step is a fact worth seeing).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (no interpolation between measurements)."""
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass(frozen=True)
class Stats:
    unit: str  # "s", "ms", "samples/s", "tokens/s", "FLOP/s"
    median: float
    p10: float
    p90: float
    p99: float
    min: float
    max: float
    mean: float
    stdev: float
    n: int
    warmup: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def summarise(values: Sequence[float], unit: str, warmup: Sequence[float] = ()) -> Stats:
    """Median and spread of measured values; `warmup` values are kept, not counted."""
    ordered = sorted(values)
    return Stats(
        unit=unit,
        median=statistics.median(ordered),
        p10=percentile(ordered, 0.1),
        p90=percentile(ordered, 0.9),
        p99=percentile(ordered, 0.99),
        min=ordered[0],
        max=ordered[-1],
        mean=statistics.fmean(ordered),
        stdev=statistics.stdev(ordered) if len(ordered) > 1 else 0.0,
        n=len(ordered),
        warmup=list(warmup),
    )
