"""`sentibench compare [A] [B]`: metrics of two revisions with tolerances and a verdict for each.

`dvc metrics diff` prints raw numbers; this says same / better / worse / not comparable, using
the directions and tolerances in `tolerances.yaml`. Either side may be an aggregate of a seed sweep
(`sentibench aggregate --out FILE`), whose spread then sets the tolerance of each metric it covers.

Timings committed by two runs are *unpaired*: measured at different moments of a machine whose speed moves
by up to 1.5x within minutes, so their difference is mostly the machine's. They are compared only between
runs whose environment fingerprints (metrics/env.json) match, and even then called better or worse only
beyond the noise floor their tolerance names (±50% in tolerances.yaml); within it the verdict is
"unpaired". `--measure` answers the question instead: both revisions' code, stepped side by side now on the
same batches (runs/speed.py), a ratio with its interval, and faster / slower / same / inconclusive.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sentibench.bench.lockstep import Plan, plan_arguments, plan_from
from sentibench.core.errors import UserError, run_cli
from sentibench.core.tables import format_value, is_number, render_table
from sentibench.portable.comparability import env_mismatch
from sentibench.runs.aggregate import load_aggregate
from sentibench.runs.revisions import WORKSPACE, Snapshot, snapshot
from sentibench.runs.speed import measure_revisions, speed_rows, speed_table
from sentibench.runs.tolerances import DEFAULT_TOLERANCES, Tolerance, load_tolerances, unknown_metrics

# Fingerprint fields that change timings; a difference in any makes timings not comparable.
# Files whose every number is a timing, and the environment file that says where each was measured.
TIMING_FILES = {
    "train_timing": "env",
    "pretrain_timing": "env",
    "throughput": "benchmark_env",
    "speed": "benchmark_env",
}
# The noise floor of a timing that tolerances.yaml does not name: these VMs' speed moved by up to 1.5x between
# runs minutes apart (docs/results.md), so a smaller difference between two unpaired runs says nothing.
UNPAIRED_FLOOR = Tolerance(direction=None, rel=0.5, timing=True)
UNPAIRED = "unpaired"
HOW_TO_MEASURE = "timings from different runs are unpaired: `sentibench compare A B --measure` pairs them"


def timing_source(name: str, tolerance: Tolerance | None) -> str | None:
    """The environment file that says where metric `name` was measured, when it is a timing (its file is one
    of TIMING_FILES, or its tolerance says so); None for a quality metric."""
    return TIMING_FILES.get(name.split(".", 1)[0], "env" if tolerance and tolerance.timing else None)


def verdict(
    a: Any, b: Any, tolerance: Tolerance | None, not_comparable: str | None, timing: bool = False
) -> tuple[str, str]:
    """The verdict for one metric and the tolerance it was judged with (as text); `not_comparable` is why
    a timing cannot be judged (other environments), or None. A `timing` within its noise floor is "unpaired"."""
    if a is None and b is None:
        return "same", ""  # null on both sides (a GPU field on two CPU runs)
    if a is None or b is None:
        return "not comparable", f"missing in {'A' if a is None else 'B'}"
    if not_comparable:
        return "not comparable", not_comparable
    numbers = is_number(a) and is_number(b)
    if timing and numbers:
        tolerance = tolerance or UNPAIRED_FLOOR
    if tolerance is None or not numbers:
        return ("same" if a == b else "changed"), ""
    allowed, shown = tolerance.allowed(a), tolerance.shown()
    if timing:
        shown = f"unpaired, noise {shown}"
    if abs(b - a) <= allowed:
        return (UNPAIRED if timing and a != b else "same"), shown
    if tolerance.direction is None:
        return "changed", shown
    better = (b > a) == (tolerance.direction == "higher")
    return ("better" if better else "worse"), shown


def compare(a: Snapshot, b: Snapshot, tolerances: dict[str, Tolerance]) -> list[dict[str, Any]]:
    """One row per metric of either side: values, change, tolerance and verdict."""
    rows = []
    for name in sorted(set(a.metrics) | set(b.metrics)):
        x, y = a.metrics.get(name), b.metrics.get(name)
        tolerance = tolerances.get(name)
        source = timing_source(name, tolerance)
        reason = env_mismatch(getattr(a, source), getattr(b, source)) if source else None
        judged, tolerance_text = verdict(x, y, tolerance, reason, timing=source is not None)
        numeric = is_number(x) and is_number(y)
        rows.append(
            {
                "metric": name,
                "a": x,
                "b": y,
                "change": y - x if numeric else None,
                "relative": (y - x) / abs(x) if numeric and x else None,
                "tolerance": tolerance_text,
                "verdict": judged,
            }
        )
    return rows


def changed_params(a: Snapshot, b: Snapshot) -> list[tuple[str, Any, Any]]:
    return [
        (k, a.params.get(k), b.params.get(k))
        for k in sorted(set(a.params) | set(b.params))
        if a.params.get(k) != b.params.get(k)
    ]


def report(a: Snapshot, b: Snapshot, rows: list[dict[str, Any]], fmt: str, judged: set[str]) -> str:
    """The params that changed, then the metrics that have a tolerance or changed; the rest is counted."""
    params = changed_params(a, b)
    parts = [f"{'## ' if fmt == 'md' else ''}sentibench compare: A = {a.label}, B = {b.label}", ""]
    if params:
        parts += ["Changed params:", ""]
        parts += [render_table(["param", "A", "B"], [[k, x, y] for k, x, y in params], fmt), ""]
    else:
        parts += ["No params changed.", ""]
    relative = lambda r: f"{r['relative']:+.2%}" if r["relative"] is not None else "–"  # noqa: E731
    change = lambda r: f"{r['change']:+.4g}" if r["change"] is not None else "–"  # noqa: E731
    shown = [r for r in rows if r["metric"] in judged or r["verdict"] != "same"]
    table = [
        [r["metric"], format_value(r["a"]), format_value(r["b"]), change(r), relative(r), r["tolerance"], r["verdict"]]
        for r in shown
    ]
    parts.append(render_table(["metric", "A", "B", "change", "relative", "tolerance", "verdict"], table, fmt))
    if len(shown) < len(rows):
        parts += ["", f"{len(rows) - len(shown)} more metrics without a tolerance are unchanged (--all shows them)."]
    verdicts = ("better", "worse", "changed", "same", UNPAIRED, "not comparable")
    counts = {v: sum(r["verdict"] == v for r in rows) for v in verdicts}
    parts += ["", ", ".join(f"{n} {v}" for v, n in counts.items())]
    if counts[UNPAIRED]:
        parts += [f"({HOW_TO_MEASURE})"]
    return "\n".join(parts)


def load_side(repo: Path, side: str) -> tuple[Snapshot, dict[str, Tolerance]]:
    """A revision, or an aggregate file whose spread becomes tolerances."""
    if side.endswith(".json") and Path(side).is_file():
        return load_aggregate(Path(side))
    return snapshot(repo, side), {}


def judge(
    repo: Path, side_a: str, side_b: str, tolerance_file: Path
) -> tuple[Snapshot, Snapshot, dict[str, Tolerance], list[dict[str, Any]]]:
    """Both sides, the tolerances they are judged with (a sweep's spread replacing the file's amount) and the rows."""
    a, spread_a = load_side(repo, side_a)
    b, spread_b = load_side(repo, side_b)
    tolerances = load_tolerances(tolerance_file)
    unknown = unknown_metrics(tolerances, set(a.metrics) | set(b.metrics))
    if unknown:
        print(
            f"warning: {tolerance_file}: no metric {', '.join(repr(u) for u in unknown)} in {a.label} or {b.label} "
            "(a typo, or newer than both runs)",
            file=sys.stderr,
        )
    for name, spread in {**spread_b, **spread_a}.items():
        known = tolerances.get(name, spread)  # a sweep knows how far a metric moves, not which way is better
        tolerances[name] = Tolerance(direction=known.direction, abs=spread.abs, timing=known.timing)
    return a, b, tolerances, compare(a, b, tolerances)


def sides_parser(description: str) -> argparse.ArgumentParser:
    """The arguments compare and report share: the two sides, the repository and the tolerance file."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("a", nargs="?", default="HEAD", help="revision, experiment or aggregate file (default HEAD)")
    parser.add_argument("b", nargs="?", default=WORKSPACE, help="revision, experiment or aggregate (default workspace)")
    parser.add_argument("--repo", type=Path, default=Path())
    parser.add_argument("--tolerances", type=Path, help="default: REPO/tolerances.yaml")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = sides_parser(__doc__.splitlines()[0])
    parser.add_argument("--format", choices=("text", "md"), default="text")
    parser.add_argument(
        "--fail-on",
        choices=("worse", "slower"),
        help="exit 1 when a metric is worse beyond its tolerance, or (with --measure) when B measured slower",
    )
    parser.add_argument("--all", action="store_true", help="also list unchanged metrics that have no tolerance")
    measure_arguments(parser)
    args = parser.parse_args(argv)
    plan = measure_plan(args)
    a, b, tolerances, rows = judge(args.repo, args.a, args.b, args.tolerances or args.repo / DEFAULT_TOLERANCES)
    judged = {r["metric"] for r in rows} if args.all else set(tolerances)
    speed = speed_rows(measure_revisions(args.repo, args.a, args.b, plan, args.tokenized)[0]) if plan else []
    print(report(a, b, rows, args.format, judged))
    if speed:
        print("\n" + speed_table(speed, args.format))
    if args.fail_on == "worse" and any(r["verdict"] == "worse" for r in rows):
        raise SystemExit(1)
    if args.fail_on == "slower" and any(r["verdict"] == "slower" for r in speed):
        raise SystemExit(1)


def measure_arguments(parser: argparse.ArgumentParser) -> None:
    """`--measure` and its plan, as compare and report take them."""
    parser.add_argument("--measure", action="store_true", help="also measure both revisions' speed, paired, now")
    parser.add_argument("--tokenized", type=Path, help="the data both sides train on (default: REPO/data/tokenized)")
    plan_arguments(parser, budget=60.0)


def measure_plan(args: argparse.Namespace) -> Plan | None:
    """The plan of `--measure` (None without it); `--fail-on slower` without it is an error, not a silent pass."""
    if args.fail_on == "slower" and not args.measure:
        raise UserError("--fail-on slower: needs --measure (only a paired measurement says slower)")
    return plan_from(args) if args.measure else None


if __name__ == "__main__":
    sys.exit(run_cli(main))
