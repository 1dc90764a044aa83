"""Tokenise the prepared splits under the too-long policy (the preprocess stage's work).

`drop` removes texts over `max_tokens` as the seed does (it keeps `len(input_ids) <= 512`);
`truncate_tail` keeps the start of the text and `truncate_head` its end. Truncation keeps
[CLS] and [SEP] and cuts input_ids, token_type_ids and attention_mask at the same positions.

The tokenizer used is saved beside the data (`data/tokenized/tokenizer`): later stages load that one,
so that with `vocabulary: compact` (corpus/vocabulary.py) the model and its packaged tokenizer agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sentibench.core.contract import (
    ENCODED_FIELDS,
    SPLITS,
    read_label_names,
)
from sentibench.core.errors import UserError
from sentibench.core.params import Params
from sentibench.corpus.lengths import apply_length_policy


def length_stats(lengths: Sequence[int]) -> dict[str, float]:
    values = np.asarray(lengths)
    return {
        "min": int(values.min()),
        "median": float(np.median(values)),
        "p95": round(float(np.percentile(values, 95)), 4),
        "max": int(values.max()),
        "mean": round(float(values.mean()), 4),
    }


def tokenize_split(
    frame: pd.DataFrame, tokenizer: Any, max_tokens: int, policy: str
) -> tuple[dict[str, list], dict[str, Any]]:
    """Columns of the tokenised split and its statistics (lengths are before the policy)."""
    encoded = dict(tokenizer(list(frame["text"])))
    missing = [f for f in ENCODED_FIELDS if f not in encoded]
    if missing:
        raise UserError(f"the tokenizer does not produce {', '.join(missing)}")
    encoded = {key: encoded[key] for key in ENCODED_FIELDS}
    lengths = [len(ids) for ids in encoded["input_ids"]]
    encoded, keep, truncated = apply_length_policy(encoded, max_tokens, policy)
    kept = frame[keep]
    columns = {"text": list(kept["text"]), "label": [int(v) for v in kept["label"]], **encoded}
    stats = {
        "rows_in": len(frame),
        "rows_out": len(kept),
        "dropped": len(frame) - len(kept),
        "truncated": truncated,
        "tokens": length_stats(lengths),
        "real_tokens_out": sum(len(ids) for ids in encoded["input_ids"]),
        "unknown_tokens_out": sum(ids.count(tokenizer.unk_token_id) for ids in encoded["input_ids"]),
    }
    return columns, stats


def preprocess(prepared_dir: Path, tokenizer: Any, max_tokens: int, policy: str) -> tuple[Any, dict[str, Any]]:
    """Build the tokenised DatasetDict (label as a ClassLabel) and the length report."""
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value

    label_names = read_label_names(prepared_dir)
    features = Features(
        {
            "text": Value("string"),
            "label": ClassLabel(names=label_names),
            **{field: Sequence(Value("int32" if field == "input_ids" else "int8")) for field in ENCODED_FIELDS},
        }
    )
    splits, report = {}, {"max_tokens": max_tokens, "too_long": policy}
    for split in SPLITS:
        path = prepared_dir / f"{split}.parquet"
        if not path.is_file():
            raise UserError(f"{path}: missing; run the prepare stage first")
        columns, stats = tokenize_split(pd.read_parquet(path), tokenizer, max_tokens, policy)
        if stats["rows_out"] == 0:
            raise UserError(f"split {split}: every row is longer than preprocess.max_tokens={max_tokens}")
        splits[split] = Dataset.from_dict(columns, features=features)
        report[split] = stats
    return DatasetDict(splits), report


def choose_tokenizer(params: Params, prepared_dir: Path) -> tuple[Any, list[int] | None]:
    """The tokenizer to encode with: the configured one, or its compact form and the source id of each id."""
    from sentibench.core.modeling import load_tokenizer
    from sentibench.corpus.vocabulary import compact_tokenizer

    compact = params.preprocess.vocabulary == "compact"
    if compact and params.model.source != "config":
        raise UserError(
            f"preprocess.vocabulary: compact applies to models trained from random weights (model.source config); "
            f"a {params.model.source} model's embeddings are indexed by its own vocabulary"
        )
    tokenizer = load_tokenizer(params.model)
    if not compact:
        return tokenizer, None
    path = prepared_dir / "train.parquet"
    if not path.is_file():
        raise UserError(f"{path}: missing; run the prepare stage first")
    texts = list(pd.read_parquet(path, columns=["text"])["text"])
    return compact_tokenizer(tokenizer, tokenizer(texts)["input_ids"], texts)
