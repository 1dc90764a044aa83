"""`sentibench levers`: each speed lever against the default, measured side by side in one run.

Every variant trains the same number of steps from the same seed on the same data, in this one
process, one after the other, so the ratios share the machine's state. Beside the speed, the table
says whether the lever changed the weights after those steps: if it did, it changes quality numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sentibench.bench.benchmark import measure_training
from sentibench.core.contract import PARAMS, TOKENIZED, load_data_tokenizer, load_tokenized
from sentibench.core.errors import run_cli
from sentibench.core.levers import variants
from sentibench.core.params import Params, load_params
from sentibench.core.runtime import apply_runtime
from sentibench.core.tables import render_table


def run_levers(params: Params, tokenized: Path) -> list[dict[str, Any]]:
    dataset = load_tokenized(tokenized)
    tokenizer = load_data_tokenizer(tokenized)
    results = []
    for name, variant in variants(params).items():
        apply_runtime(variant.runtime)
        print(f"levers: {name}", flush=True)
        results.append({"lever": name, **measure_training(variant, dataset, tokenizer)})
    apply_runtime(params.runtime)
    return results


def table(results: list[dict[str, Any]], fmt: str) -> str:
    base = results[0]
    rows = [
        [
            r["lever"],
            f"{r['samples_per_second']['median']:.1f}",
            f"{r['tokens_per_second']['median']:.0f}",
            f"{r['tokens_per_second']['median'] / base['tokens_per_second']['median']:.2f}x",
            f"{r['padding_efficiency']:.1%}",
            "no" if r["weights_sha256"] == base["weights_sha256"] else "yes",
        ]
        for r in results
    ]
    headers = ["lever", "samples/s", "tokens/s", "vs default", "padding efficiency", "changes weights"]
    return render_table(headers, rows, fmt)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=PARAMS)
    parser.add_argument("--tokenized", type=Path, default=TOKENIZED)
    parser.add_argument("--format", choices=("text", "md"), default="text")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    params = dataclasses.replace(params, runtime=dataclasses.replace(params.runtime, deterministic=True))
    apply_runtime(params.runtime)
    print(table(run_levers(params, args.tokenized), args.format))


if __name__ == "__main__":
    sys.exit(run_cli(main))
