"""`sentibench levers`: each speed lever against the current params, as a ratio with its interval and a verdict.

Every variant is measured against the current params in a pair of persistent worker processes stepped in
lockstep (bench/lockstep.py): the same seed and data, so both sides train on the same batches in the same
order, one step each in turn, and each pair's ratio is taken on one batch. Each candidate kernel pinning
(`KERNEL_CANDIDATES`: cheaper ways than portable's to pin the kernels) is a variant too. Beside the speed,
the table says whether the lever changed the weights after the same number of steps: if it did, it changes
quality numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sentibench.bench.lockstep import Plan, Side, measure, plan_arguments, plan_from
from sentibench.core.atomic import write_json
from sentibench.core.contract import PARAMS, TOKENIZED
from sentibench.core.errors import UserError, run_cli
from sentibench.core.levers import variants
from sentibench.core.params import Params, load_params
from sentibench.core.tables import render_table
from sentibench.portable.runtime import KERNEL_CANDIDATES

KERNELS = "kernels: "  # a variant name's prefix for a candidate kernel pinning
CURRENT = "current params"


def variant_params(params: Params, name: str) -> tuple[Params, dict[str, str] | None]:
    """A variant's params by its name, and the kernel pins of a candidate pinning (None: its params' own)."""
    if name.startswith(KERNELS):  # the candidate's variables instead of portable's
        pins = KERNEL_CANDIDATES[name.removeprefix(KERNELS)]
        return dataclasses.replace(params, runtime=dataclasses.replace(params.runtime, portable=False)), pins
    return variants(params)[name], None


def chosen_variants(params: Params, only: Sequence[str]) -> list[str]:
    """Every variant's name (those starting with one of `only`, when given), the current params left out."""
    names = [*variants(params), *(f"{KERNELS}{name}" for name in KERNEL_CANDIDATES)]
    chosen = [name for name in names if name != CURRENT and (not only or name.startswith(tuple(only)))]
    if not chosen:
        raise UserError(f"--only {' '.join(only)}: no lever starts with that (known: {', '.join(names[1:])})")
    return chosen


def run_levers(params_file: Path, tokenized: Path, names: Sequence[str], plan: Plan) -> list[dict[str, Any]]:
    """Each named variant against the current params, paired and interleaved; one row per variant."""
    if not (tokenized / "dataset_dict.json").is_file():
        raise UserError(f"{tokenized}: no tokenized data set here (run `dvc repro preprocess` first)")
    common = ["--params", str(params_file), "--tokenized", str(tokenized)]
    rows = []
    for name in names:
        print(f"levers: {name} against the current params", flush=True)
        current = Side(CURRENT, common)
        variant = Side(name, [*common, "--variant", name])
        [training], trained = measure(current, variant, plan, progress=lambda line: print(f"  {line}", flush=True))
        rows.append(
            {
                "lever": name,
                **training.as_dict(),
                "changes_weights": trained[CURRENT]["weights_sha256"] != trained[name]["weights_sha256"],
                "kernels": trained[name]["kernels"],
            }
        )
    return rows


def table(rows: list[dict[str, Any]], fmt: str) -> str:
    """One row per lever: both sides' median speeds, the ratio with its 95% interval, and the verdict."""
    from sentibench.bench.paired import Comparison

    body = []
    for row in rows:
        comparison = Comparison(**{f.name: row[f.name] for f in dataclasses.fields(Comparison)})
        body.append(
            [
                row["lever"],
                f"{comparison.a_median:.0f}",
                f"{comparison.b_median:.0f}",
                comparison.interval(),
                comparison.words(),
                str(comparison.pairs),
                "yes" if row["changes_weights"] else "no",
                row["kernels"] or "",
            ]
        )
    headers = [
        "lever",
        "tokens/s, current",
        "tokens/s, lever",
        "lever/current [95% CI]",
        "verdict",
        "pairs",
        "changes weights",
        "kernels",
    ]
    return render_table(headers, body, fmt)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=PARAMS)
    parser.add_argument("--tokenized", type=Path, default=TOKENIZED)
    parser.add_argument("--format", choices=("text", "md"), default="text")
    parser.add_argument("--json", type=Path, help="also write every pair's speeds and the intervals here")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="PREFIX",
        help="measure only the levers whose names start with this (repeatable; e.g. runtime.portable, kernels)",
    )
    plan_arguments(parser, budget=60.0)
    args = parser.parse_args(argv)
    params = load_params(args.params)
    plan = plan_from(args, params.benchmark.warmup_steps)
    rows = run_levers(args.params, args.tokenized, chosen_variants(params, args.only), plan)
    if args.json:
        write_json(args.json, {"plan": dataclasses.asdict(plan), "levers": rows})
    print(table(rows, args.format))


if __name__ == "__main__":
    sys.exit(run_cli(main))
