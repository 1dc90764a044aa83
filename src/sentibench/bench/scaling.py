"""`sentibench scaling`: how the cost of training grows with the work, one axis at a time.

From the current params, each variant changes one thing: the training rows (2k, 4k, 8k, all), the
token limit `preprocess.max_tokens` (64, 128, 256, 512) or the model's shape (4 layers, 256 wide,
rbt3's 3 x 768). Each is measured by the benchmark stage's own training measurement, in a process of
its own (so its peak RSS is its own), on the prepared texts encoded at its token limit with the
pipeline's tokenizer and length policy. The table gives samples/s, seconds per epoch, real tokens per
row, microseconds per real token (flat when cost grows linearly with tokens), real-token MFU and peak
RSS. Natively (portable off), like the benchmark stage: it measures what this machine can do.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sentibench.bench.benchmark import measure_training
from sentibench.bench.child import measure_in_child
from sentibench.core.contract import ENCODED_FIELDS, PARAMS, PREPARED, TOKENIZED, load_data_tokenizer, load_tokenized
from sentibench.core.errors import UserError, run_cli
from sentibench.core.params import Params, load_params
from sentibench.core.tables import render_table
from sentibench.corpus.lengths import apply_length_policy
from sentibench.portable.runtime import apply_runtime

ROWS = (2000, 4000, 8000, None)  # None: every training row
MAX_TOKENS = (64, 128, 256, 512)
SHAPES = {
    "4 layers": {"num_hidden_layers": 4},
    "256 wide": {"hidden_size": 256, "num_attention_heads": 4, "intermediate_size": 1024},
    "rbt3 shape": {"num_hidden_layers": 3, "hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 3072},
}


def variants(params: Params) -> dict[str, tuple[Params, int | None]]:
    """Name -> (params, training rows; None for all): the current configuration, then one axis at a time."""
    found: dict[str, tuple[Params, int | None]] = {"current params": (params, None)}
    for rows in ROWS[:-1]:
        found[f"rows {rows}"] = (params, rows)
    for tokens in MAX_TOKENS:
        if tokens != params.preprocess.max_tokens:
            found[f"max_tokens {tokens}"] = (
                dataclasses.replace(params, preprocess=dataclasses.replace(params.preprocess, max_tokens=tokens)),
                None,
            )
    for name, shape in SHAPES.items():
        model = dataclasses.replace(params.model, config={**params.model.config, **shape})
        found[f"shape: {name}"] = (dataclasses.replace(params, model=model), None)
    return found


def training_set(params: Params, prepared: Path, tokenized: Path, rows: int | None) -> tuple[Any, Any]:
    """The training split encoded at `params.preprocess.max_tokens` with the pipeline's tokenizer and length
    policy, cut to its first `rows` rows: (a DatasetDict with only `train`, as measure_training reads it,
    and the tokenizer)."""
    import pyarrow.parquet as pq
    from datasets import Dataset, DatasetDict, Features

    table = pq.read_table(prepared / "train.parquet")
    texts, labels = table["text"].to_pylist(), table["label"].to_pylist()
    tokenizer = load_data_tokenizer(tokenized)
    encoded = {k: v for k, v in dict(tokenizer(texts)).items() if k in ENCODED_FIELDS}
    encoded, keep, _ = apply_length_policy(encoded, params.preprocess.max_tokens, params.preprocess.too_long)
    labels = [label for label, kept in zip(labels, keep, strict=True) if kept]
    known = load_tokenized(tokenized)["train"].features  # the pipeline's types: int32 ids, int8 masks
    features = Features({name: known[name] for name in [*encoded, "label"]})
    data = Dataset.from_dict({**encoded, "label": labels}, features=features)
    return DatasetDict({"train": data.select(range(min(rows, len(data)))) if rows else data}), tokenizer


def measure(name: str, params: Params, prepared: Path, tokenized: Path) -> dict[str, Any]:
    """One variant, in this process: the benchmark's training measurement, rows, seconds per epoch, peak RSS."""
    variant, rows = variants(params)[name]
    dataset, tokenizer = training_set(variant, prepared, tokenized, rows)
    measured = measure_training(variant, dataset, tokenizer)
    samples = measured["samples_per_second"]["median"]
    return {
        "variant": name,
        "rows": len(dataset["train"]),
        "samples_per_second": samples,
        "seconds_per_epoch": len(dataset["train"]) / samples,
        "real_tokens_per_row": measured["mean_real_tokens_per_row"],
        "microseconds_per_real_token": 1e6 / measured["tokens_per_second"]["median"],
        "mfu_real_tokens": measured["model_flops_utilisation_real_tokens"],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def in_own_process(name: str, params_file: Path, prepared: Path, tokenized: Path) -> dict[str, Any]:
    """Measure one variant in a child process with native kernels, as the benchmark measures."""
    arguments = ["--params", str(params_file), "--variant", name, "--prepared", str(prepared)]
    return measure_in_child(
        "sentibench.bench.scaling", [*arguments, "--tokenized", str(tokenized)], f"scaling: measuring {name!r}"
    )


def table(results: list[dict[str, Any]], fmt: str) -> str:
    headers = ["variant", "rows", "samples/s", "s/epoch", "tokens/row", "µs/token", "MFU (real tokens)", "peak RSS MiB"]
    rows = [
        [
            r["variant"],
            f"{r['rows']:,}",
            f"{r['samples_per_second']:.1f}",
            f"{r['seconds_per_epoch']:.1f}",
            f"{r['real_tokens_per_row']:.1f}",
            f"{r['microseconds_per_real_token']:.1f}",
            f"{r['mfu_real_tokens']:.1%}",
            f"{r['peak_rss_mib']:.0f}",
        ]
        for r in results
    ]
    return render_table(headers, rows, fmt)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=PARAMS)
    parser.add_argument("--prepared", type=Path, default=PREPARED)
    parser.add_argument("--tokenized", type=Path, default=TOKENIZED)
    parser.add_argument("--format", choices=("text", "md"), default="text")
    parser.add_argument("--only", action="append", default=[], metavar="PREFIX", help="variants starting with this")
    parser.add_argument("--variant", help=argparse.SUPPRESS)  # one variant: the child process
    args = parser.parse_args(argv)
    params = load_params(args.params)
    params = dataclasses.replace(params, runtime=dataclasses.replace(params.runtime, portable=False))
    if not (args.prepared / "train.parquet").is_file():
        raise UserError(f"{args.prepared}: no prepared training split; run the prepare stage first")
    if args.variant:
        apply_runtime(params.runtime)
        print(json.dumps(measure(args.variant, params, args.prepared, args.tokenized)))
        return
    names = [n for n in variants(params) if n == "current params" or not args.only or n.startswith(tuple(args.only))]
    results = []
    for name in names:
        print(f"scaling: {name}", file=sys.stderr, flush=True)
        results.append(in_own_process(name, args.params, args.prepared, args.tokenized))
    print(table(results, args.format))


if __name__ == "__main__":
    sys.exit(run_cli(main))
