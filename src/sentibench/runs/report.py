"""`sentibench report [A] [B] --out DIR`: a Markdown report of two runs that a PR comment shows as it is.

One `report.md` with its PNG images beside it (rendered with matplotlib: no browser, no network):
the two revisions and their environments, the params that changed, the verdict table of `compare`
(worse rows first), training curves, test confusion matrices and inference throughput by batch size.
CI posts it on each pull request (`cml comment create --publish report.md`, which uploads the images,
or a GitLab note / job summary); `--fail-on worse` exits 1 after writing it.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sentibench.core.atomic import remove_leftovers, write_text
from sentibench.core.contract import DVCLIVE, INFERENCE_CURVE, PREDICTIONS
from sentibench.core.errors import UserError, run_cli
from sentibench.core.tables import flatten, format_value, render_table
from sentibench.runs.compare import changed_params, judge, sides_parser
from sentibench.runs.revisions import Snapshot, read_text, resolve
from sentibench.runs.tolerances import DEFAULT_TOLERANCES

VERDICT_ORDER = ("worse", "not comparable", "better", "changed", "same")
ENV_FIELDS = ("cpu.model", "cpu.threads", "cpu.aten_capability", "gpu.name", "torch_build.version", "git.commit")
CURVES = {"validation accuracy": "eval/accuracy", "validation loss": "eval/loss", "training loss": "loss"}


def side_files(repo: Path, label: str) -> Callable[[str], str | None]:
    """Reads a file as it is at one side's revision (nothing for an aggregate file)."""
    if label.endswith(".json") and Path(label).is_file():
        return lambda path: None
    commit = resolve(repo, label)
    return lambda path: read_text(repo, commit, path)


def rows_of(text: str | None, delimiter: str = ",") -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text), delimiter=delimiter)) if text else []


def plot_curves(sides: dict[str, Callable[[str], str | None]], target: Path) -> bool:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(CURVES), figsize=(4.2 * len(CURVES), 3.2))
    drawn = False
    for axis, (title, metric) in zip(axes, CURVES.items(), strict=True):
        for label, read in sides.items():
            rows = rows_of(read(f"{DVCLIVE.as_posix()}/plots/metrics/{metric}.tsv"), "\t")
            value = metric.rsplit("/", 1)[-1]
            if rows:
                axis.plot([int(r["step"]) for r in rows], [float(r[value]) for r in rows], label=label)
                drawn = True
        axis.set_title(title)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return _save(fig, target, drawn)


def plot_confusion(sides: dict[str, Callable[[str], str | None]], target: Path) -> bool:
    import matplotlib.pyplot as plt

    found = {label: rows_of(read(PREDICTIONS.as_posix())) for label, read in sides.items()}
    found = {label: rows for label, rows in found.items() if rows}
    if not found:
        return False
    fig, axes = plt.subplots(1, len(found), figsize=(3.6 * len(found), 3.4), squeeze=False)
    for axis, (label, rows) in zip(axes[0], found.items(), strict=True):
        names = sorted({r["actual"] for r in rows} | {r["predicted"] for r in rows})
        counts = [[sum(r["actual"] == a and r["predicted"] == p for r in rows) for p in names] for a in names]
        axis.imshow(counts, cmap="Blues")
        darkest = max(max(row) for row in counts)
        for i, row in enumerate(counts):
            for j, count in enumerate(row):
                colour = "white" if count > darkest / 2 else "black"
                axis.text(j, i, str(count), ha="center", va="center", color=colour)
        axis.set_xticks(range(len(names)), names)
        axis.set_yticks(range(len(names)), names)
        axis.set_xlabel("predicted")
        axis.set_ylabel("actual")
        axis.set_title(f"test: {label}", fontsize=9)
    return _save(fig, target, True)


def plot_throughput(sides: dict[str, Callable[[str], str | None]], target: Path) -> bool:
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(5, 3.2))
    drawn = False
    for label, read in sides.items():
        rows = rows_of(read(INFERENCE_CURVE.as_posix()))
        if rows:
            sizes, speeds = [int(r["batch_size"]) for r in rows], [float(r["rows_per_second"]) for r in rows]
            axis.plot(sizes, speeds, "o-", label=label)
            drawn = True
    axis.set_xscale("log", base=2)
    axis.set_xlabel("batch size")
    axis.set_ylabel("rows/s")
    axis.set_title("inference throughput")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    return _save(fig, target, drawn)


def _save(fig: Any, target: Path, drawn: bool) -> bool:
    import matplotlib.pyplot as plt

    if drawn:
        fig.tight_layout()
        fig.savefig(target, format="png", dpi=110)
    plt.close(fig)
    return drawn


def environments(a: Snapshot, b: Snapshot) -> str:
    left, right = flatten(a.env or {}), flatten(b.env or {})
    rows = [[name, format_value(left.get(name)), format_value(right.get(name))] for name in ENV_FIELDS]
    return render_table(["environment", "A", "B"], rows, "md")


def markdown(a: Snapshot, b: Snapshot, rows: list[dict[str, Any]], judged: set[str], images: dict[str, str]) -> str:
    """The report: counts, environments, params, then the metrics with a tolerance and any other metric whose
    value changed, worse first; metrics that only one side has are counted, not listed."""
    one_sided = [r for r in rows if (r["a"] is None) != (r["b"] is None)]
    listed = [r for r in rows if r not in one_sided and (r["metric"] in judged or r["verdict"] != "same")]
    listed.sort(key=lambda r: (r["metric"] not in judged, VERDICT_ORDER.index(r["verdict"]), r["metric"]))
    counts = {v: sum(r["verdict"] == v for r in rows if r not in one_sided) for v in VERDICT_ORDER}
    change = lambda r: f"{r['change']:+.4g}" if r["change"] is not None else "–"  # noqa: E731
    table = [
        [r["metric"], format_value(r["a"]), format_value(r["b"]), change(r), r["tolerance"], r["verdict"]]
        for r in listed
    ]
    only_a = sum(r["b"] is None for r in one_sided)
    params = changed_params(a, b)
    parts = [
        f"## sentibench report: A = `{a.label}`, B = `{b.label}`",
        "",
        "**"
        + ", ".join(f"{n} {v}" for v, n in counts.items() if n)
        + "**"
        + (f" ({only_a} metrics only in A, {len(one_sided) - only_a} only in B)" if one_sided else ""),
        "",
        environments(a, b),
        "",
        render_table(["param", "A", "B"], [[k, x, y] for k, x, y in params], "md") if params else "No params changed.",
        "",
        render_table(["metric", "A", "B", "change", "tolerance", "verdict"], table, "md"),
        "",
    ]
    parts += [f"![{title}]({name})" for title, name in images.items()]
    return "\n".join(parts).rstrip() + "\n"


def build_report(repo: Path, side_a: str, side_b: str, tolerance_file: Path, out: Path) -> list[dict[str, Any]]:
    """Write `out/report.md` and its images; return the compared rows."""
    import matplotlib

    matplotlib.use("Agg")
    a, b, tolerances, rows = judge(repo, side_a, side_b, tolerance_file)
    sides = {f"A {side_a}": side_files(repo, side_a), f"B {side_b}": side_files(repo, side_b)}
    plots = {
        "training curves": ("curves.png", plot_curves),
        "test confusion matrices": ("confusion.png", plot_confusion),
        "inference throughput": ("throughput.png", plot_throughput),
    }
    # Only the report's own files are replaced, each atomically, and report.md last: `--out docs` must never
    # touch the other files of docs/. Images are drawn in a scratch folder that the next run removes if killed.
    out.mkdir(parents=True, exist_ok=True)
    remove_leftovers(out / "report.md")
    scratch = Path(tempfile.mkdtemp(prefix=".report.md.", suffix=".tmp", dir=out))
    try:
        images = {title: name for title, (name, draw) in plots.items() if draw(sides, scratch / name)}
        for name in images.values():
            os.replace(scratch / name, out / name)
        write_text(out / "report.md", markdown(a, b, rows, set(tolerances), images))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = sides_parser(__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("report"), help="folder for report.md and its images")
    parser.add_argument("--fail-on", choices=("worse",), help="exit 1 (after writing) when a metric is worse")
    args = parser.parse_args(argv)
    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"{args.out}: --out must be a folder")
    rows = build_report(args.repo, args.a, args.b, args.tolerances or args.repo / DEFAULT_TOLERANCES, args.out)
    worse = [r["metric"] for r in rows if r["verdict"] == "worse"]
    print(f"report: wrote {args.out / 'report.md'}; {len(worse)} worse" + (f": {', '.join(worse)}" if worse else ""))
    if args.fail_on == "worse" and worse:
        raise SystemExit(1)


if __name__ == "__main__":
    sys.exit(run_cli(main))
