"""`sentibench predict`: classify texts with a trained model, the way the pipeline treated its own texts.

Texts come as arguments, one a line on standard input, or from a file (`.txt` one a line; `.csv`,
`.tsv` or `.jsonl` with `--column`). Blank lines of standard input or a `.txt` file (every editor leaves
some) are skipped and counted in one note; an empty text given any other way is an error naming it.
The model is `models/final` or any folder saved by the train stage or by `save_pretrained`. Texts are
tokenised and cut to length exactly as `preprocess` did for that model (its `sentibench.json`, not
today's `params.yaml`), batched by length and padded per batch (results come back in input order), on
the GPU when there is one. Each row gets its label, a probability per class and the text.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_type_hints

import numpy as np

from sentibench.core.contract import ENCODED_FIELDS, MODEL_DIR, MODEL_INFO, load_saved
from sentibench.core.errors import UserError, run_cli
from sentibench.core.padding import pad_columns
from sentibench.core.params import PreprocessParams
from sentibench.core.tables import render_table
from sentibench.core.textfiles import decode_utf8, read_jsonl, read_utf8
from sentibench.corpus.lengths import apply_length_policy

TOO_LONG_POLICIES = get_args(get_type_hints(PreprocessParams)["too_long"])


def read_texts(texts: Sequence[str], file: Path | None, column: str, stdin: Any) -> tuple[list[str], str]:
    """The texts to classify and what names their position in errors ('argument', 'line' or 'row')."""
    if texts and file:
        raise UserError("give texts as arguments or --file, not both")
    if texts:
        return list(texts), "argument"
    if file is None:
        return read_stdin(stdin).splitlines(), "line"
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


def read_stdin(stdin: Any) -> str:
    """Standard input as text, decoded here (not by the locale) so that other encodings get one line."""
    buffer = getattr(stdin, "buffer", None)
    return decode_utf8(buffer.read(), "standard input") if buffer is not None else stdin.read()


def drop_blank_lines(texts: list[str]) -> tuple[list[str], list[int]]:
    """The lines that hold text, and the numbers of those that were blank."""
    blank = [number for number, text in enumerate(texts, start=1) if not text.strip()]
    return [text for text in texts if text.strip()], blank


def check_texts(texts: list[str], unit: str) -> None:
    if not texts:
        raise UserError("no texts to classify")
    for number, text in enumerate(texts, start=1):
        if not text.strip():
            raise UserError(f"{unit} {number}: empty text")


def recorded_length_policy(model_dir: Path) -> tuple[int, str] | None:
    """max_tokens and the too-long policy the model was trained with, checked before the model loads; None
    for a plain save_pretrained folder, which has no record of them."""
    info = model_dir / MODEL_INFO
    if not info.is_file():
        return None
    try:
        recorded = json.loads(read_utf8(info))
    except ValueError:
        raise UserError(f"{info}: not valid JSON; repackage the model (dvc repro package)") from None
    max_tokens, policy = (
        recorded.get(key) if isinstance(recorded, dict) else None for key in ("max_tokens", "too_long")
    )
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 3:
        raise UserError(f"{info}: max_tokens must be an integer of at least 3, got {max_tokens!r}")
    if policy not in TOO_LONG_POLICIES:
        raise UserError(f"{info}: too_long must be one of {', '.join(TOO_LONG_POLICIES)}, got {policy!r}")
    return max_tokens, policy


def length_sorted(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Batches of row indices over the rows sorted by length, as serving systems batch.

    Each batch is padded only to its own longest row, so similar lengths waste little compute on
    padding (texts here run from 4 to 688 tokens); callers put the results back in input order.
    """
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


@dataclass(frozen=True)
class Classifier:
    """A loaded model with what classifying needs of it: its tokenizer and how its texts were cut to length."""

    model: Any
    tokenizer: Any
    max_tokens: int
    policy: str


def load_classifier(model_dir: Path) -> Classifier:
    """The model of `model_dir`, its tokenizer and its length policy (checked before the model loads)."""
    if not (model_dir / "config.json").is_file():
        raise UserError(f"{model_dir}: not a model folder (no config.json); give --model a trained model's folder")
    recorded = recorded_length_policy(model_dir)
    model, tokenizer = load_saved(model_dir)
    # Without a record: the model's position limit, keeping the start of long texts.
    max_tokens, policy = recorded or (int(getattr(model.config, "max_position_embeddings", 512)), "truncate_tail")
    return Classifier(model, tokenizer, max_tokens, policy)


def classify(classifier: Classifier, texts: list[str], batch_size: int = 64) -> tuple[list[str], np.ndarray, int]:
    """(label names, probabilities per text and class in input order, how many texts were cut to length)."""
    import torch

    model, tokenizer = classifier.model, classifier.tokenizer
    encoded = {k: v for k, v in dict(tokenizer(texts)).items() if k in ENCODED_FIELDS}
    # The pipeline drops texts that are too long from its data; a text given to predict is cut instead.
    policy = "truncate_tail" if classifier.policy == "drop" else classifier.policy
    encoded, _, cut = apply_length_policy(encoded, classifier.max_tokens, policy)
    device = next(model.parameters()).device
    logits = np.empty((len(texts), model.config.num_labels), dtype=np.float64)
    with torch.inference_mode():
        for rows in length_sorted([len(ids) for ids in encoded["input_ids"]], batch_size):
            batch = pad_columns({k: [encoded[k][i] for i in rows] for k in encoded}, tokenizer)
            logits[rows] = model(**{k: v.to(device) for k, v in batch.items()}).logits.float().cpu().numpy()
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    return names, probabilities, cut


def predict(model_dir: Path, texts: list[str], batch_size: int = 64) -> tuple[list[str], np.ndarray, int]:
    """Load `model_dir` and classify `texts` (as `classify`)."""
    return classify(load_classifier(model_dir), texts, batch_size)


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
    blank: list[int] = []
    if not args.texts and (args.file is None or args.file.suffix.lower() == ".txt"):
        texts, blank = drop_blank_lines(texts)
    check_texts(texts, unit)
    names, probabilities, cut = predict(args.model, texts, args.batch_size)
    print(render(records(names, probabilities, texts), args.format))
    if blank:
        shown = ", ".join(map(str, blank[:10])) + (f" and {len(blank) - 10} more" if len(blank) > 10 else "")
        print(f"predict: skipped {len(blank)} blank lines (line {shown})", file=sys.stderr)
    if cut:
        print(f"predict: {cut} texts were longer than the model's limit and were cut to it", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(run_cli(main))
