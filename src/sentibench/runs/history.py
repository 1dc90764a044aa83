"""`sentibench history`: metrics over the last N commits that changed them, as a table and a plot.

The plot has one panel per metric (accuracy and samples/s share no scale), commits in order on
the x axis. The file type follows the name: .png, .svg, or .html (the SVG inside a page).
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sentibench.core.atomic import atomic_path
from sentibench.core.errors import UserError, run_cli
from sentibench.core.git import git
from sentibench.core.tables import render_table
from sentibench.runs.revisions import Snapshot, commits_touching, snapshot
from sentibench.runs.tolerances import DEFAULT_TOLERANCES, load_tolerances

METRICS_DIR = "metrics"


def collect(repo: Path, count: int) -> list[tuple[str, Snapshot]]:
    """(short commit, snapshot) for the newest `count` commits that changed metrics/, oldest first."""
    commits = commits_touching(repo, METRICS_DIR, count)
    if not commits:
        raise UserError(f"no commit in {repo} changed {METRICS_DIR}/")
    return [(sha[:8], snapshot(repo, sha)) for sha in commits]


def series(points: list[tuple[str, Snapshot]], names: Sequence[str]) -> dict[str, list[float | None]]:
    return {name: [snap.metrics.get(name) for _, snap in points] for name in names}


def plot(points: list[tuple[str, Snapshot]], data: dict[str, list[float | None]], target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [sha for sha, _ in points]
    fig, axes = plt.subplots(
        len(data), 1, figsize=(max(6, len(labels) * 0.9), 2.2 * len(data)), sharex=True, squeeze=False
    )
    for axis, (name, values) in zip(axes[:, 0], data.items(), strict=True):
        xs = [i for i, v in enumerate(values) if v is not None]
        axis.plot(xs, [values[i] for i in xs], marker="o", label=name)
        axis.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
        axis.grid(alpha=0.3)
    axes[-1, 0].set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
    fig.suptitle("sentibench metrics by commit")
    fig.tight_layout()
    suffix = target.suffix.lower()
    if suffix not in (".png", ".svg", ".html"):
        raise UserError(f"{target}: plot file must end in .png, .svg or .html")
    with atomic_path(target) as tmp:
        if suffix == ".html":
            buffer = io.StringIO()
            fig.savefig(buffer, format="svg")
            tmp.write_text(
                f"<!doctype html><meta charset='utf-8'><title>sentibench history</title>\n{buffer.getvalue()}",
                encoding="utf-8",
            )
        else:
            fig.savefig(tmp, format=suffix[1:], dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10, help="how many commits (default 10)")
    parser.add_argument("--repo", type=Path, default=Path())
    parser.add_argument("--metrics", help="comma-separated metric names (default: those in tolerances.yaml)")
    parser.add_argument("--plot", type=Path, default=Path("history.png"))
    parser.add_argument("--format", choices=("text", "md"), default="text")
    args = parser.parse_args(argv)
    if args.n < 1:
        raise UserError("-n must be at least 1")
    points = collect(args.repo, args.n)
    if args.metrics:
        names = [n.strip() for n in args.metrics.split(",") if n.strip()]
    else:
        names = list(load_tolerances(args.repo / DEFAULT_TOLERANCES))
    present = [n for n in names if any(n in snap.metrics for _, snap in points)]
    missing = sorted(set(names) - set(present))
    if args.metrics and missing:
        raise UserError(f"unknown metric '{missing[0]}' (in none of the last {len(points)} commits)")
    data = series(points, present)
    subjects = {sha: git(args.repo, "log", "-1", "--format=%s", sha).stdout.strip()[:40] for sha, _ in points}
    rows: list[list[Any]] = [[sha, subjects[sha], *(data[n][i] for n in present)] for i, (sha, _) in enumerate(points)]
    print(render_table(["commit", "subject", *present], rows, args.format))
    plot(points, data, args.plot)
    print(f"history: {len(points)} commits, {len(present)} metrics; plot written to {args.plot}")


if __name__ == "__main__":
    sys.exit(run_cli(main))
