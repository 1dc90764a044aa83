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

from sentibench.benchmark import measure_training
from sentibench.compare import render_table
from sentibench.errors import run_cli
from sentibench.params import DEFAULT_PARAMS, Params, load_params
from sentibench.preprocess import DEFAULT_OUT as TOKENIZED_DIR
from sentibench.runtime import apply_runtime


def variants(params: Params) -> dict[str, Params]:
    """The default and one variant per lever, each changing that lever alone."""
    train, runtime = params.train, params.runtime
    return {
        "default (seed's behaviour)": params,
        "group_by_length: true": dataclasses.replace(params, train=dataclasses.replace(train, group_by_length=True)),
        "bf16: true": dataclasses.replace(params, train=dataclasses.replace(train, bf16=True)),
        f"threads: {max(1, runtime.threads // 2)}": dataclasses.replace(
            params, runtime=dataclasses.replace(runtime, threads=max(1, runtime.threads // 2))
        ),
        "dataloader_workers: 2": dataclasses.replace(params, train=dataclasses.replace(train, dataloader_workers=2)),
    }


def run_levers(params: Params, tokenized: Path) -> list[dict[str, Any]]:
    from sentibench.modeling import load_tokenizer
    from sentibench.train import load_tokenized

    dataset = load_tokenized(tokenized)
    tokenizer = load_tokenizer(params.model)
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
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS)
    parser.add_argument("--tokenized", type=Path, default=TOKENIZED_DIR)
    parser.add_argument("--format", choices=("text", "md"), default="text")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    params = dataclasses.replace(params, runtime=dataclasses.replace(params.runtime, deterministic=True))
    apply_runtime(params.runtime)
    print(table(run_levers(params, args.tokenized), args.format))


if __name__ == "__main__":
    sys.exit(run_cli(main))
