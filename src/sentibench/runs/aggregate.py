"""`sentibench aggregate`: mean, std, min and max of each metric over runs (a seed sweep).

Published ChnSentiCorp tables give the max and mean of several seeds; a single run says little
about noise. An aggregate file written with `--out` can stand on either side of `compare`, whose
tolerance for each metric is then SPREAD_SIGMAS standard deviations of the sweep.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sentibench.core.atomic import write_json
from sentibench.core.errors import UserError, run_cli
from sentibench.core.git import git
from sentibench.core.tables import is_number, render_table
from sentibench.runs.revisions import Snapshot, snapshot
from sentibench.runs.tolerances import Tolerance

SPREAD_SIGMAS = 2.0


def aggregate(snapshots: Sequence[Snapshot]) -> dict[str, Any]:
    """Statistics of every numeric metric that all runs report (sample std, n - 1)."""
    if len(snapshots) < 2:
        raise UserError("aggregate needs at least two runs")
    names = set.intersection(*(set(s.metrics) for s in snapshots))
    stats = {}
    for name in sorted(names):
        values = [s.metrics[name] for s in snapshots]
        if all(is_number(v) for v in values):
            stats[name] = {
                "mean": statistics.fmean(values),
                "std": statistics.stdev(values),
                "min": min(values),
                "max": max(values),
                "n": len(values),
            }
    return {"runs": [s.label for s in snapshots], "metrics": stats}


def load_aggregate(path: Path) -> tuple[Snapshot, dict[str, Tolerance]]:
    """An aggregate as a comparison side (its means) and the tolerances its spread implies."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        stats = data["metrics"]
        means = {name: s["mean"] for name, s in stats.items()}
        spread = {name: Tolerance(direction=None, abs=SPREAD_SIGMAS * s["std"]) for name, s in stats.items()}
    except ValueError:
        raise UserError(f"{path}: not valid JSON") from None
    except (KeyError, TypeError):
        raise UserError(f"{path}: not an aggregate file (from sentibench aggregate --out)") from None
    return Snapshot(label=f"{path} (mean of {len(data.get('runs', []))})", metrics=means, params={}, env=None), spread


def experiment_names(repo: Path) -> list[str]:
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/exps/").stdout.split()
    return sorted({ref.rsplit("/", 1)[-1] for ref in refs if ref.count("/") >= 4})


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revisions", nargs="*", help="revisions or DVC experiment names (the runs of a sweep)")
    parser.add_argument("--exps", action="store_true", help="every DVC experiment in the repository")
    parser.add_argument("--repo", type=Path, default=Path())
    parser.add_argument("--out", type=Path, help="write the aggregate as JSON (usable by compare)")
    parser.add_argument("--format", choices=("text", "md"), default="text")
    args = parser.parse_args(argv)
    revisions = [*args.revisions, *(experiment_names(args.repo) if args.exps else [])]
    result = aggregate([snapshot(args.repo, rev) for rev in revisions])
    rows = [[name, s["mean"], s["std"], s["min"], s["max"], s["n"]] for name, s in result["metrics"].items()]
    print(render_table(["metric", "mean", "std", "min", "max", "n"], rows, args.format))
    if args.out:
        write_json(args.out, result)
        print(f"aggregate: wrote {args.out}")


if __name__ == "__main__":
    sys.exit(run_cli(main))
