"""`sentibench predict`: classify texts with a trained model, the way the pipeline treated its own texts.

Texts come as arguments, one a line on standard input, or from a file (`.txt` one a line; `.csv`,
`.tsv` or `.jsonl` with `--column`). The model is `models/final` or any folder saved by the train
stage or by `save_pretrained`. Texts are tokenised and cut to length exactly as `preprocess` did for
that model (its `sentibench.json`, not today's `params.yaml`), batched and padded per batch, on the
GPU when there is one. Each row gets its label, a probability per class and the text.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sentibench.core.contract import ENCODED_FIELDS, MODEL_DIR, MODEL_INFO, load_saved
from sentibench.core.errors import UserError, run_cli
from sentibench.core.tables import render_table
from sentibench.core.textfiles import read_jsonl, read_utf8
from sentibench.stages.preprocess import apply_length_policy


def read_texts(texts: Sequence[str], file: Path | None, column: str, stdin: Any) -> tuple[list[str], str]:
    """The texts to classify and what names their position in errors ('argument', 'line' or 'row')."""
    if texts and file:
        raise UserError("give texts as arguments or --file, not both")
    if texts:
        return list(texts), "argument"
    if file is None:
        return [line.rstrip("\r\n") for line in stdin], "line"
    suffix = file.suffix.lower()
    if suffix == ".txt":
        return read_utf8(file).splitlines(), "line"
    if suffix in (".csv", ".tsv"):
        reader = csv.DictReader(io.StringIO(read_utf8(file)), delimiter="\t" if suffix == ".tsv" else ",")
        if reader.fieldnames is None:
            raise UserError(f"{file}: empty file")
        if column not in reader.fieldnames:
            raise UserError(f"{file}: no column '{column}' (columns are: {', '.join(reader.fieldnames)}); use --column")
        return [row[column] or "" for row in reader], "row"
    if suffix == ".jsonl":
        records = read_jsonl(file)
        missing = [number for number, record in records if column not in record]
        if missing:
            raise UserError(f"{file}, line {missing[0]}: no key '{column}'; use --column")
        return [str(record[column]) for _, record in records], "line"
    raise UserError(f"{file}: unknown file type (use .txt, .csv, .tsv or .jsonl)")


def check_texts(texts: list[str], unit: str) -> None:
    if not texts:
        raise UserError("no texts to classify")
    for number, text in enumerate(texts, start=1):
        if not text.strip():
            raise UserError(f"{unit} {number}: empty text")


def length_policy(model_dir: Path, model: Any) -> tuple[int, str]:
    """max_tokens and the too-long policy the model was trained with; a plain save_pretrained folder has
    no record of them, so it gets its position limit and keeps the start of long texts."""
    info = model_dir / MODEL_INFO
    if info.is_file():
        recorded = json.loads(info.read_text(encoding="utf-8"))
        return recorded["max_tokens"], recorded["too_long"]
    return int(getattr(model.config, "max_position_embeddings", 512)), "truncate_tail"


def predict(model_dir: Path, texts: list[str], batch_size: int = 64) -> tuple[list[str], np.ndarray, int]:
    """(label names, probabilities per text and class, how many texts were cut to length)."""
    import torch
    from transformers import DataCollatorWithPadding

    if not (model_dir / "config.json").is_file():
        raise UserError(f"{model_dir}: not a model folder (no config.json); give --model a trained model's folder")
    model, tokenizer = load_saved(model_dir)
    max_tokens, policy = length_policy(model_dir, model)
    encoded = {k: v for k, v in dict(tokenizer(texts)).items() if k in ENCODED_FIELDS}
    # The pipeline drops texts that are too long from its data; a text given to predict is cut instead.
    encoded, _, cut = apply_length_policy(encoded, max_tokens, "truncate_tail" if policy == "drop" else policy)
    collate = DataCollatorWithPadding(tokenizer)
    device = next(model.parameters()).device
    chunks = []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            rows = [{k: encoded[k][i] for k in encoded} for i in range(start, min(start + batch_size, len(texts)))]
            batch = {k: v.to(device) for k, v in collate(rows).items()}
            chunks.append(model(**batch).logits.float().cpu().numpy())
    logits = np.concatenate(chunks).astype(np.float64)
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    return names, probabilities, cut


def records(names: list[str], probabilities: np.ndarray, texts: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "label": names[int(row.argmax())],
            **{f"p_{name}": round(float(p), 6) for name, p in zip(names, row, strict=True)},
            "text": text,
        }
        for row, text in zip(probabilities, texts, strict=True)
    ]


def render(rows: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "jsonl":
        return "\n".join(json.dumps(row, ensure_ascii=False) for row in rows)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue().rstrip("\n")
    shown = [[*(f"{v:.4f}" if isinstance(v, float) else v for v in row.values())] for row in rows]
    return render_table(list(rows[0]), shown, "text")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("texts", nargs="*", help="texts to classify (default: one a line on standard input)")
    parser.add_argument("--file", type=Path, help="a .txt, .csv, .tsv or .jsonl file of texts")
    parser.add_argument("--column", default="text", help="the text column of a .csv/.tsv/.jsonl file (text)")
    parser.add_argument("--model", type=Path, default=MODEL_DIR, help="a trained model's folder (models/final)")
    parser.add_argument("--format", choices=("table", "csv", "jsonl"), default="table")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    texts, unit = read_texts(args.texts, args.file, args.column, sys.stdin)
    check_texts(texts, unit)
    names, probabilities, cut = predict(args.model, texts, args.batch_size)
    print(render(records(names, probabilities, texts), args.format))
    if cut:
        print(f"predict: {cut} texts were longer than the model's limit and were cut to it", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(run_cli(main))
