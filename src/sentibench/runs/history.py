"""`sentibench history`: metrics over the last N commits that changed them, as a table and a plot.

By default the headline metrics (the report's); `--metrics` picks others. The plot is one grid that
fits a screen, one panel per metric (accuracy and samples/s share no scale), commits in order on the
shared x axis, the TF-IDF reference beside the model's test accuracy and F1. The file type follows
the name: .png, .svg, or .html (the SVG inside a page).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sentibench.core.atomic import atomic_path
from sentibench.core.errors import UserError, run_cli
from sentibench.core.git import git
from sentibench.core.tables import is_number, render_table
from sentibench.runs.headline import HEADLINE, REFERENCE
from sentibench.runs.revisions import Snapshot, commits_touching, snapshot

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
    """One grid that fits a 1280x800 screen, a panel per metric, commits on the shared x axis; the model's
    test accuracy and F1 with the TF-IDF reference's beside them (dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [sha for sha, _ in points]
    columns = min(3, len(data))
    rows = -(-len(data) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(12.8, 7.6), sharex=True, squeeze=False)
    for axis, (name, values) in zip(axes.flat, data.items(), strict=False):
        _line(axis, values, "o-", "this model")
        if name in REFERENCE:
            _line(axis, [snap.metrics.get(REFERENCE[name]) for _, snap in points], "s--", "TF-IDF reference")
            axis.legend(fontsize=7)
        axis.set_title(f"{HEADLINE.get(name, name)}", fontsize=9)
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(data) :]:
        axis.set_visible(False)
    for axis in axes[-1]:
        axis.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=7)
        axis.tick_params(labelbottom=True)
    fig.suptitle(f"sentibench headline metrics over the last {len(labels)} commits that changed metrics/")
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
            fig.savefig(tmp, format=suffix[1:], dpi=100)
    plt.close(fig)


def html_page(points: list[tuple[str, Snapshot]], names: Sequence[str], template: Path) -> str:
    """Every metric by commit as an interactive chart, in the offline Vega page `dvc plots show` uses
    (`assets/plots/offline.html`: vega, vega-lite and vega-embed inlined, so nothing is fetched)."""
    if not template.is_file():
        raise UserError(f"{template}: the offline plot template is missing (assets/plots/make-offline-template.sh)")
    divs = []
    for number, name in enumerate(names):
        values = [
            {"commit": sha, "order": i, "value": snap.metrics[name]}
            for i, (sha, snap) in enumerate(points)
            if is_number(snap.metrics.get(name))
        ]
        spec = {
            "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
            "title": HEADLINE.get(name, name),
            "width": 360,
            "height": 180,
            "data": {"values": values},
            "mark": {"type": "line", "point": True, "tooltip": True},
            "encoding": {
                "x": {"field": "commit", "type": "ordinal", "sort": {"field": "order"}, "title": None},
                "y": {"field": "value", "type": "quantitative", "scale": {"zero": False}, "title": name},
            },
        }
        divs.append(f'<div id="plot{number}"></div><script>vegaEmbed("#plot{number}", {json.dumps(spec)});</script>')
    page = template.read_text(encoding="utf-8").replace("{refresh_tag}", "")
    return page.replace("{plot_divs}", "\n".join(divs)).replace(
        "<title>DVC Plot</title>", "<title>sentibench history</title>"
    )


def _line(axis: Any, values: Sequence[float | None], style: str, label: str) -> None:
    """A series with gaps where a commit has no value."""
    xs = [i for i, v in enumerate(values) if v is not None]
    axis.plot(xs, [values[i] for i in xs], style, label=label, markersize=4)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10, help="how many commits (default 10)")
    parser.add_argument("--repo", type=Path, default=Path())
    parser.add_argument("--metrics", help="comma-separated metric names (default: the headline metrics)")
    parser.add_argument("--plot", type=Path, default=Path("history.png"))
    parser.add_argument("--format", choices=("text", "md"), default="text")
    parser.add_argument(
        "--html", type=Path, help="also an offline page with every numeric metric (or --metrics) by commit"
    )
    args = parser.parse_args(argv)
    if args.n < 1:
        raise UserError("-n must be at least 1")
    points = collect(args.repo, args.n)
    names = [n.strip() for n in args.metrics.split(",") if n.strip()] if args.metrics else list(HEADLINE)
    present = [n for n in names if any(n in snap.metrics for _, snap in points)]
    missing = sorted(set(names) - set(present))
    if args.metrics and missing:
        raise UserError(f"unknown metric '{missing[0]}' (in none of the last {len(points)} commits)")
    if not present:
        raise UserError(
            f"none of the headline metrics ({', '.join(names)}) is in the last {len(points)} commits that changed "
            f"{METRICS_DIR}/: name the ones to show with --metrics"
        )
    data = series(points, present)
    subjects = {sha: git(args.repo, "log", "-1", "--format=%s", sha).stdout.strip()[:40] for sha, _ in points}
    rows: list[list[Any]] = [[sha, subjects[sha], *(data[n][i] for n in present)] for i, (sha, _) in enumerate(points)]
    print(render_table(["commit", "subject", *present], rows, args.format))
    plot(points, data, args.plot)
    print(f"history: {len(points)} commits, {len(present)} metrics; plot written to {args.plot}")
    if args.html:
        every = sorted({n for _, snap in points for n, v in snap.metrics.items() if is_number(v)})
        moved = {n for n in every if len({snap.metrics.get(n) for _, snap in points}) > 1}
        first = [n for n in HEADLINE if n in every]  # the headline, then what moved, then what never did
        rest = sorted((n for n in every if n not in first), key=lambda n: (n not in moved, n))
        charted = present if args.metrics else [*first, *rest]
        page = html_page(points, charted, args.repo / "assets" / "plots" / "offline.html")
        with atomic_path(args.html) as tmp:
            tmp.write_text(page, encoding="utf-8")
        print(f"history: {len(charted)} metrics by commit in {args.html} (offline, open it in a browser)")


if __name__ == "__main__":
    sys.exit(run_cli(main))
