"""`sentibench report [A] [B] --out DIR`: a Markdown report of two runs that a PR comment shows as it is.

One `report.md` with its PNG images beside it (rendered with matplotlib: no browser, no network),
answer first: the headline metrics (test accuracy and macro F1 with a sweep's spread where one is
given, accuracy over the reference, time to the target, training speed, MFU, batch-1 latency, peak
memory), one line of counts, the metrics judged worse or better with their tolerance; then training
curves, test confusion matrices and inference throughput; then, collapsed and grouped by file, what
is not comparable, unpaired or changed without a direction, the params and the environments.
Timings committed by two runs are unpaired (compare's docstring): within their noise floor they get no
verdict. With `--measure`, the speed rows come from both revisions measured side by side on this machine
now (runs/speed.py), with an interval and a verdict, right under the headline.
CI posts it on each pull request (`cml comment create --publish report.md`, which uploads the images,
or a GitLab note / job summary); `--fail-on worse` (or `slower`, with `--measure`) exits 1 after writing it.
"""

from __future__ import annotations

import csv
import io
import json
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
from sentibench.runs.compare import (
    HOW_TO_MEASURE,
    UNPAIRED,
    changed_params,
    judge,
    measure_arguments,
    measure_plan,
    sides_parser,
)
from sentibench.runs.headline import HEADLINE
from sentibench.runs.revisions import Snapshot, read_text, resolve
from sentibench.runs.speed import lock_difference, measure_revisions, speed_rows, speed_table
from sentibench.runs.tolerances import DEFAULT_TOLERANCES

VERDICT_ORDER = ("worse", "not comparable", "better", "changed", UNPAIRED, "same")
FOLDED = {  # the verdicts collapsed by file, and what the summary line says of them
    "not comparable": " (other environments)",
    UNPAIRED: f" ({HOW_TO_MEASURE})",
    "changed": " (no direction to judge)",
}
OPEN_JUDGED = 14  # with the headline, about 25 metric rows in the open; the rest collapsed
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
    for axis, (title, metric) in zip(axes, CURVES.items(), strict=True):
        for label, read in sides.items():
            rows = rows_of(read(f"{DVCLIVE.as_posix()}/plots/metrics/{metric}.tsv"), "\t")
            value = metric.rsplit("/", 1)[-1]
            if rows:
                axis.plot([int(r["step"]) for r in rows], [float(r[value]) for r in rows], label=label)
        axis.set_title(title)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    labelled = [axis for axis in axes if axis.lines]  # no side may have the first curve: the legend goes where one is
    if labelled:
        labelled[0].legend(fontsize=8)
    return _save(fig, target, bool(labelled))


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
    if drawn:
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


def _change(row: dict[str, Any]) -> str:
    return f"{row['change']:+.4g}" if row["change"] is not None else "–"


def _table(rows: list[dict[str, Any]], names: dict[str, str] | None = None) -> str:
    """Metric rows as a Markdown table; `names` gives headline rows their words (the metric key in code)."""
    header = ["metric", "A", "B", "change", "tolerance", "verdict"]
    body = [
        [
            f"{names[r['metric']]} (`{r['metric']}`)" if names else r["metric"],
            format_value(r["a"]),
            format_value(r["b"]),
            _change(r),
            "other environment (see below)"
            if r["verdict"] == "not comparable" and " vs " in r["tolerance"]
            else r["tolerance"] or "–",
            f"**{r['verdict']}**" if r["verdict"] in ("worse", "better") else r["verdict"],
        ]
        for r in rows
    ]
    return render_table(header, body, "md")


def _details(summary: str, body: str) -> list[str]:
    """A collapsed section (GitHub renders <details>; the blank lines let the Markdown inside render)."""
    return ["<details>", f"<summary>{summary}</summary>", "", body, "", "</details>", ""]


def markdown(
    a: Snapshot,
    b: Snapshot,
    rows: list[dict[str, Any]],
    images: dict[str, str],
    notes: Sequence[str] = (),
    speed: Sequence[dict[str, Any]] = (),
) -> str:
    """The report, answer first: the headline metrics, one line of counts, the metrics judged worse or better
    with why; then the charts; everything else (not comparable, changed without a direction, params,
    environments) collapsed and grouped by file. At most about 25 metric rows are in the open."""
    one_sided = [r for r in rows if (r["a"] is None) != (r["b"] is None)]
    both = [r for r in rows if r not in one_sided]
    by_name = {r["metric"]: r for r in rows}
    headline = [by_name[name] for name in HEADLINE if name in by_name]
    judged_rows = [r for r in both if r["verdict"] in ("worse", "better") and r["metric"] not in HEADLINE]
    judged_rows.sort(key=lambda r: (VERDICT_ORDER.index(r["verdict"]), r["metric"]))
    open_rows, more = judged_rows[:OPEN_JUDGED], judged_rows[OPEN_JUDGED:]
    counts = {v: sum(r["verdict"] == v for r in both) for v in VERDICT_ORDER}
    only_a = sum(r["b"] is None for r in one_sided)
    parts = [
        f"## sentibench report: A = `{a.label}`, B = `{b.label}`",
        "",
        _table(headline, HEADLINE) if headline else "No headline metric on either side.",
        "",
        "**"
        + ", ".join(f"{n} {v}" for v, n in counts.items() if n)
        + "**"
        + (f" ({only_a} metrics only in A, {len(one_sided) - only_a} only in B)" if one_sided else ""),
        "",
    ]
    if speed:
        parts += ["**Speed, measured side by side on this machine now** (paired, interleaved; B over A):", ""]
        parts += [speed_table([{**r, "words": f"**{r['words']}**"} for r in speed], "md"), ""]
    for note in notes:
        parts += [note, ""]
    reasons = sorted({r["tolerance"] for r in both if r["verdict"] == "not comparable" and " vs " in r["tolerance"]})
    parts += [f"Timings measured in other environments are not compared: {reason}." for reason in reasons]
    parts += [""] if reasons else []
    if open_rows:
        parts += ["Judged worse or better beyond their tolerance (the tolerance column says why):", ""]
        parts += [_table(open_rows), ""]
    if more:
        parts += _details(f"{len(more)} more judged worse or better", _table(more))
    parts += [f"![{title}]({name})" for title, name in images.items()]
    parts.append("")
    rest = [r for r in both if r["verdict"] in FOLDED and r["metric"] not in HEADLINE]
    for verdict, why in FOLDED.items():
        grouped: dict[str, list[dict[str, Any]]] = {}
        for r in (r for r in rest if r["verdict"] == verdict):
            grouped.setdefault(r["metric"].split(".", 1)[0], []).append(r)
        for file, file_rows in sorted(grouped.items()):
            parts += _details(f"{file}: {len(file_rows)} {verdict}{why}", _table(file_rows))
    params = changed_params(a, b)
    if params:
        table = render_table(["param", "A", "B"], [[k, x, y] for k, x, y in params], "md")
        parts += _details(f"params: {len(params)} changed", table)
    else:
        parts += ["No params changed.", ""]
    parts += _details("environments", environments(a, b))
    return "\n".join(parts).rstrip() + "\n"


def verdict_line(certificate: Path) -> str:
    """The one line a report gives a `sentibench verify --report` certificate: the machine that ran it and its
    verdict (a runner is another real machine: the PR sees whether it reproduced the committed bytes)."""
    try:
        found = json.loads(certificate.read_text(encoding="utf-8"))
        cpu = found["this_run"]["env"]["cpu"]
        where = f"{cpu.get('model')} ({cpu.get('vendor')} {cpu.get('family_model')})"
        return f"**Committed bytes on this machine** ({where}, `sentibench verify`): {found['verdict']}"
    except OSError as err:
        raise UserError(f"{certificate}: cannot be read ({err.strerror})") from None
    except (ValueError, KeyError, TypeError) as err:
        raise UserError(f"{certificate}: not a sentibench verify certificate ({type(err).__name__}: {err})") from None


def build_report(
    repo: Path,
    side_a: str,
    side_b: str,
    tolerance_file: Path,
    out: Path,
    notes: Sequence[str] = (),
    speed: Sequence[dict[str, Any]] = (),
) -> list[dict[str, Any]]:
    """Write `out/report.md` and its images; return the compared rows."""
    import matplotlib

    matplotlib.use("Agg")
    a, b, _, rows = judge(repo, side_a, side_b, tolerance_file)
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
        write_text(out / "report.md", markdown(a, b, rows, images, notes, speed))
        for name, _ in plots.values():  # an earlier report's image this one did not draw would pass for this one's
            if name not in images.values():
                (out / name).unlink(missing_ok=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = sides_parser(__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("report"), help="folder for report.md and its images")
    parser.add_argument(
        "--fail-on",
        choices=("worse", "slower"),
        help="exit 1 (after writing) when a metric is worse, or (with --measure) when B measured slower",
    )
    parser.add_argument(
        "--certificate", type=Path, help="a `sentibench verify --report` certificate.json: its verdict line goes in"
    )
    measure_arguments(parser)
    args = parser.parse_args(argv)
    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"{args.out}: --out must be a folder")
    tolerances = args.tolerances or args.repo / DEFAULT_TOLERANCES
    plan = measure_plan(args)
    notes = [verdict_line(args.certificate)] if args.certificate else []
    differs = lock_difference(args.repo, args.a, args.b) if plan else None
    if differs:  # a pull request that changes a lock still gets its report, and says why speed is missing
        notes.append(
            f"Speed not measured side by side: `{differs}` differs, and both would run on one set of libraries."
        )
    measured = plan and not differs
    speed = speed_rows(measure_revisions(args.repo, args.a, args.b, plan, args.tokenized)[0]) if measured else []
    rows = build_report(args.repo, args.a, args.b, tolerances, args.out, notes, speed)
    worse = [r["metric"] for r in rows if r["verdict"] == "worse"]
    slower = [r["phase"] for r in speed if r["verdict"] == "slower"]
    print(
        f"report: wrote {args.out / 'report.md'}; {len(worse)} worse"
        + (f": {', '.join(worse)}" if worse else "")
        + (f"; {len(slower)} slower: {', '.join(slower)}" if slower else "")
    )
    if (args.fail_on == "worse" and worse) or (args.fail_on == "slower" and slower):
        raise SystemExit(1)


if __name__ == "__main__":
    sys.exit(run_cli(main))
