"""Whether the paired engine's verdicts are honest, on this machine: A/A runs (the same code on both sides) must
say "same", and runs with a known slowdown (B does a fixed extra matrix product per step) must say "slower",
with an interval that covers the slowdown's true cost (the share of B's step its extra work took, timed
inside B in the same run).

    python benchmark/speed_verdicts.py --runs 20 --slowdowns 0.10 0.05 --out results/speed_verdicts.json

Each run is one `sentibench levers`-sized comparison with the engine's default plan (bench/lockstep.py), on
the current params and tokenized data. The extra work is sized once, by a short calibration run, to cost
about the asked share of a step; its true cost is then measured in every run, not assumed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from sentibench.bench.lockstep import Plan, Side, measure
from sentibench.core.atomic import write_json
from sentibench.portable.runtime import cpu_identity, cpu_model

SIZE = 256  # the extra product's matrices: 2 x 256^3 FLOPs a repeat


def one_run(common: list[str], repeats: int, plan: Plan) -> dict[str, object]:
    b = [*common, "--extra-matmul", str(SIZE), str(repeats)] if repeats else common
    [result], _ = measure(Side("A", common), Side("B", b), plan, progress=lambda _: None)
    shares = [extra / seconds for extra, seconds in zip(result.b_extra_seconds, result.b_seconds, strict=True)]
    truth = 1 - statistics.median(shares)
    c = result.comparison
    return {**c.as_dict(), "words": c.words(), "true_ratio": truth, "covered": c.low <= truth <= c.high}


def calibrate(common: list[str], share: float, plan: Plan) -> int:
    """Repeats of the extra product that cost about `share` of a step (from a short run with a guess)."""
    probe = one_run(common, 10, dataclasses.replace(plan, budget=10, target=1e-9))
    measured = 1 - float(probe["true_ratio"])
    return max(1, round(10 * share / (1 - share) * (1 - measured) / measured))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--tokenized", default="data/tokenized")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--slowdowns", type=float, nargs="*", default=[0.10, 0.05])
    parser.add_argument("--slowdown-runs", type=int, nargs="*", help="runs per slowdown (default: --runs each)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    plan = Plan()
    common = ["--params", args.params, "--tokenized", args.tokenized]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "commit": commit,
        "cpu": {"model": cpu_model(), **cpu_identity(), "machine": platform.machine()},
        "plan": dataclasses.asdict(plan),
        "cases": [],
    }
    counts = args.slowdown_runs or [args.runs] * len(args.slowdowns)
    cases = [("A/A", 0.0, args.runs), *((f"{s:.0%} slower", s, n) for s, n in zip(args.slowdowns, counts, strict=True))]
    for name, share, runs in cases:
        repeats = calibrate(common, share, plan) if share else 0
        rows = []
        for run in range(runs):
            row = one_run(common, repeats, plan)
            rows.append(row)
            print(
                f"{name} run {run + 1}/{runs}: {row['words']}, ratio {row['ratio']:.3f} "
                f"[{row['low']:.3f}, {row['high']:.3f}], truth {row['true_ratio']:.3f}, {row['pairs']} pairs",
                flush=True,
            )
            report["cases"] = [c for c in report["cases"] if c["name"] != name] + [
                {"name": name, "extra_repeats": repeats, "runs": rows}
            ]
            write_json(args.out, report)
    for case in report["cases"]:
        words = [r["words"].split(" (")[0] for r in case["runs"]]
        tally = {w: words.count(w) for w in sorted(set(words))}
        covered = sum(r["covered"] for r in case["runs"])
        print(f"{case['name']}: {json.dumps(tally)}; interval covers the truth in {covered}/{len(words)}")


if __name__ == "__main__":
    sys.exit(main())
