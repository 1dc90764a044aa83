"""`sentibench levers`: each speed lever against the default, measured side by side in one run.

Every variant trains the same number of steps from the same seed on the same data, one after the
other, so the ratios share the machine's state; in this one process, except a lever that torch reads
when it loads (runtime.portable), which gets a process of its own, as does each candidate kernel
pinning (`KERNEL_CANDIDATES`: cheaper ways than portable's to pin the kernels). Beside the speed, the
table says whether the lever changed the weights after those steps: if it did, it changes quality numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sentibench.bench.benchmark import measure_training
from sentibench.bench.child import measure_in_child
from sentibench.core.contract import PARAMS, TOKENIZED, load_data_tokenizer, load_tokenized
from sentibench.core.errors import run_cli
from sentibench.core.levers import needs_own_process, variants
from sentibench.core.params import Params, load_params
from sentibench.core.runtime import KERNEL_CANDIDATES, apply_runtime, kernels_in_use
from sentibench.core.tables import render_table

KERNELS = "kernels: "  # a variant name's prefix for a candidate kernel pinning


def in_own_process(name: str, params_file: Path, tokenized: Path) -> dict[str, Any]:
    """Measure one variant in a child process (a lever read when torch loads, such as runtime.portable)."""
    arguments = ["--params", str(params_file), "--tokenized", str(tokenized), "--variant", name]
    return measure_in_child("sentibench.bench.levers", arguments, f"levers: measuring {name!r} in its own process")


def run_levers(params: Params, params_file: Path, tokenized: Path, only: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Every variant (or those whose names start with one of `only`, beside the current params), measured in turn."""
    dataset = load_tokenized(tokenized)
    tokenizer = load_data_tokenizer(tokenized)
    results = []
    candidates = {f"{KERNELS}{name}": params for name in KERNEL_CANDIDATES}
    chosen = {
        name: variant
        for name, variant in {**variants(params), **candidates}.items()
        if name == "current params" or not only or name.startswith(tuple(only))
    }
    for name, variant in chosen.items():
        print(f"levers: {name}", flush=True)
        if name.startswith(KERNELS) or needs_own_process(params, variant):
            results.append({"lever": name, **in_own_process(name, params_file, tokenized)})
            continue
        apply_runtime(variant.runtime)
        results.append({"lever": name, **measure_training(variant, dataset, tokenizer), "kernels": kernels_in_use()})
    apply_runtime(params.runtime)
    return results


def table(results: list[dict[str, Any]], fmt: str) -> str:
    """One row per variant. MFU is taken against one peak for every row (the highest GEMM peak any variant's
    kernels reached in this run), so rows compare; each row's own peak is shown beside it."""
    base = results[0]
    peak = max(r["peak_matmul_flops_per_second"] for r in results)
    rows = [
        [
            r["lever"],
            f"{r['samples_per_second']['median']:.1f}",
            f"{r['tokens_per_second']['median']:.0f}",
            f"{r['tokens_per_second']['median'] / base['tokens_per_second']['median']:.2f}x",
            f"{r['model_flops_utilisation_real_tokens'] * r['peak_matmul_flops_per_second'] / peak:.1%}",
            f"{r['peak_matmul_flops_per_second'] / 1e9:.0f}",
            f"{r['padding_efficiency']:.1%}",
            "no" if r["weights_sha256"] == base["weights_sha256"] else "yes",
            r.get("kernels", ""),
        ]
        for r in results
    ]
    headers = [
        "lever",
        "samples/s",
        "tokens/s",
        "vs default",
        f"real-token MFU (of {peak / 1e9:.0f} GFLOP/s)",
        "own peak GFLOP/s",
        "padding efficiency",
        "changes weights",
        "kernels",
    ]
    return render_table(headers, rows, fmt)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=PARAMS)
    parser.add_argument("--tokenized", type=Path, default=TOKENIZED)
    parser.add_argument("--format", choices=("text", "md"), default="text")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="PREFIX",
        help="measure only the levers whose names start with this (repeatable; e.g. runtime.portable, kernels)",
    )
    parser.add_argument("--variant", help=argparse.SUPPRESS)  # one variant, as JSON: run_levers' child process
    args = parser.parse_args(argv)
    params = load_params(args.params)
    params = dataclasses.replace(params, runtime=dataclasses.replace(params.runtime, deterministic=True))
    if args.variant:
        variant, pins = variants(params).get(args.variant, params), None
        if args.variant.startswith(KERNELS):  # the candidate's variables instead of portable's
            pins = KERNEL_CANDIDATES[args.variant.removeprefix(KERNELS)]
            variant = dataclasses.replace(params, runtime=dataclasses.replace(params.runtime, portable=False))
        apply_runtime(variant.runtime, native_pins=pins)
        measured = measure_training(variant, load_tokenized(args.tokenized), load_data_tokenizer(args.tokenized))
        print(json.dumps({**measured, "kernels": kernels_in_use()}))
        return
    apply_runtime(params.runtime)
    print(table(run_levers(params, args.params, args.tokenized, args.only), args.format))


if __name__ == "__main__":
    sys.exit(run_cli(main))
