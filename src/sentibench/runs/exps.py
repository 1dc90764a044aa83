"""`sentibench exps`: DVC's experiments table, cut to what fits a terminal.

`dvc exp show` gives every param, metric and dependency hash a column, so at 120 columns every header
is `…`. This reads the same data (`dvc exp show --json`) and shows, for each experiment, the headline
metrics of `metrics/summary.json` and `metrics/speed.json` under short names, then the params whose
values differ between the rows shown (the only ones that explain a difference), as many as fit the
width; the rest are named in a line below. DVC's own view of the same columns:
`dvc exp show --drop '.*' --keep "$(sentibench exps --keep-regex)"`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sentibench.core.errors import UserError, run_cli
from sentibench.core.tables import flatten, format_value, render_table

# metrics file -> (key, short column name): the headline numbers `dvc metrics show` prints.
HEADLINE_COLUMNS = {
    "metrics/summary.json": (
        ("test_accuracy", "test_acc"),
        ("test_f1_macro", "test_f1"),
        ("reference_accuracy", "ref_acc"),
        ("steps_to_target", "to_target"),
    ),
    "metrics/speed.json": (
        ("train_samples_per_second", "train_sps"),
        ("mfu_real_tokens", "mfu"),
        ("batch_1_p50_ms", "b1_p50_ms"),
    ),
}
GAP = 2  # spaces between columns, as render_table puts them


def experiments(repo: Path, all_commits: bool) -> list[dict[str, Any]]:
    """DVC's experiment records (workspace, the baseline commits and their experiments), flattened."""
    command = [sys.executable, "-m", "dvc", "exp", "show", "--json", *(["--all-commits"] if all_commits else [])]
    done = subprocess.run(command, cwd=repo, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"dvc exp show failed in {repo}: {last}")
    rows = []
    for baseline in json.loads(done.stdout):
        rev = baseline["rev"]
        rows.append(_row(baseline["name"] or (rev[:7] if len(rev) == 40 else rev), baseline))
        for experiment in baseline.get("experiments") or []:
            for revision in experiment.get("revs") or []:
                rows.append(_row(f"  {revision['name'] or revision['rev'][:7]}", revision))
    return [row for row in rows if row is not None]


def _row(name: str, record: dict[str, Any]) -> dict[str, Any] | None:
    data = record.get("data")
    if not data:  # a failed or queued experiment has no data
        return None
    metrics = {file: (found or {}).get("data", {}) for file, found in (data.get("metrics") or {}).items()}
    params = {}
    for found in (data.get("params") or {}).values():
        params.update(flatten((found or {}).get("data", {})))
    created = (data.get("timestamp") or "")[:16].replace("T", " ")
    return {"name": name, "created": created, "metrics": metrics, "params": params}


def table(rows: list[dict[str, Any]], width: int) -> tuple[list[str], list[list[str]], list[str]]:
    """(headers, cells, columns left out): the headline metrics, then the differing params, each column kept
    while the table still fits `width`."""
    headers, cells = ["experiment", "created"], [[r["name"], r["created"]] for r in rows]
    candidates = [
        (short, [format_value(r["metrics"].get(file, {}).get(key)) for r in rows])
        for file, columns in HEADLINE_COLUMNS.items()
        for key, short in columns
        if any(key in r["metrics"].get(file, {}) for r in rows)
    ]
    keys = sorted({k for r in rows for k in r["params"]})
    differing = [k for k in keys if len({json.dumps(r["params"].get(k)) for r in rows}) > 1]
    candidates += [(key, [format_value(r["params"].get(key)) for r in rows]) for key in differing]
    left_out = []
    for header, column in candidates:
        used = sum(max(len(h), *(len(c[i]) for c in cells)) + GAP for i, h in enumerate(headers))
        if used + max(len(header), *map(len, column)) > width:
            left_out.append(header)
            continue
        headers.append(header)
        for out, value in zip(cells, column, strict=True):
            out.append(value)
    return headers, cells, left_out


# DVC's own table cannot rename its columns: these are the headline metrics whose full names fit 120 columns.
DVC_KEEP = ("test_accuracy", "test_f1_macro", "reference_accuracy", "steps_to_target", "mfu_real_tokens")


def keep_regex() -> str:
    """Headline columns as a regex for `dvc exp show --drop '.*' --keep REGEX` (fits 120 columns)."""
    return "^(Experiment|Created|" + "|".join(DVC_KEEP) + ")$"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path())
    parser.add_argument("-A", "--all-commits", action="store_true", help="every commit's experiments, as DVC's -A")
    parser.add_argument("--width", type=int, help="characters (default: the terminal's, or COLUMNS)")
    parser.add_argument("--format", choices=("text", "md"), default="text")
    parser.add_argument("--keep-regex", action="store_true", help="print the regex for dvc exp show --keep, and exit")
    args = parser.parse_args(argv)
    if args.keep_regex:
        print(keep_regex())
        return
    width = args.width or int(os.environ.get("COLUMNS") or shutil.get_terminal_size().columns)
    if args.format == "text" and width < 40:  # a Markdown table has no width: --width is not read for it
        raise UserError(f"--width must be at least 40 characters; got {width}")
    rows = experiments(args.repo, args.all_commits)
    if not rows:
        raise UserError(f"no experiment in {args.repo} has metrics yet: run dvc repro or dvc exp run first")
    headers, cells, left_out = table(rows, width if args.format == "text" else 10**6)
    print(render_table(headers, cells, args.format))
    if left_out:
        print(f"{len(left_out)} more columns (wider terminal, or --format md): {', '.join(left_out)}")


if __name__ == "__main__":
    sys.exit(run_cli(main))
