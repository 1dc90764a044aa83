"""Clean, split and sample the reviews with seeded streams (the prepare stage's work).

Order matters and is fixed: strip and drop empty texts; drop every text seen under two
labels (a conflict cannot be scored); drop exact duplicates within a split; split sources
that have none; remove from validation and test every text also in an earlier split (real
ChnSentiCorp leaks ~28% of its test texts into train); sample with the pinned seed.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sentibench.core.atomic import atomic_dir
from sentibench.core.contract import SPLITS
from sentibench.core.errors import UserError
from sentibench.core.params import DataParams
from sentibench.corpus.sources import load_source


def check_label_set(frames: dict[str, pd.DataFrame], names: list[str] | None, expected: int | None) -> None:
    """Every label must be one the source declares or, without declared names, one of the `expected` many:
    a stray `2` in a 0/1 data set would otherwise train a 3-class model without a word."""
    counts: dict[Any, int] = {}
    first: dict[Any, tuple[str, int]] = {}
    for split, frame in frames.items():
        for row, value in enumerate(map(_label_value, frame["label"].tolist()), start=1):
            if isinstance(value, float) and not math.isnan(value):  # NaN is a missing label, named later
                raise UserError(f"split {split}, row {row}: label {value!r} is a number but not a whole one")
            counts[value] = counts.get(value, 0) + 1
            first.setdefault(value, (split, row))
    if names is not None:
        allowed = set(range(len(names))) | set(names)
        strays = [v for v in counts if v not in allowed]
        why = f"not one of the labels the source declares ({', '.join(names)})"
    elif expected is not None and len(counts) > expected:
        strays = sorted(counts, key=lambda v: (counts[v], str(v)))[: len(counts) - expected]
        why = (
            f"one label too many for data.num_labels: {expected} (labels found: "
            + ", ".join(f"{v!r} x{n}" for v, n in sorted(counts.items(), key=lambda kv: str(kv[0])))
            + ")"
        )
    else:
        return
    if strays:
        split, row = first[strays[0]]
        raise UserError(f"split {split}, row {row}: label {strays[0]!r} is {why}")


def normalise_labels(
    frames: dict[str, pd.DataFrame], names: list[str] | None
) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Map labels to 0..K-1. Integers keep their order, strings are sorted; a missing label names its row."""
    values: set[Any] = set()
    for split, frame in frames.items():
        missing = frame["label"].isna() | (frame["label"].astype(str).str.strip() == "")
        if missing.any():
            row = int(np.flatnonzero(missing.to_numpy())[0]) + 1
            raise UserError(f"split {split}, row {row}: label is missing")
        values.update(map(_label_value, frame["label"].tolist()))  # Series.map would upcast 1 to 1.0
    kinds = {type(v) for v in values}
    if len(kinds) > 1:
        raise UserError(f"labels mix numbers and names: {sorted(map(str, values))[:6]}")
    ordered = sorted(values)
    if names is not None and all(isinstance(v, int) for v in ordered) and set(ordered) <= set(range(len(names))):
        ordered, label_names = list(range(len(names))), list(names)
    else:
        label_names = [str(v) for v in ordered]
    index = {v: i for i, v in enumerate(ordered)}
    out = {
        split: frame.assign(label=frame["label"].map(lambda v: index[_label_value(v)]).astype("int64"))
        for split, frame in frames.items()
    }
    return out, label_names


def _label_value(value: Any) -> Any:
    """Labels read as text ('1') or written as floats (1.0, '1.0') count as the integers they spell, so
    TSV, CSV and Parquet agree; a fractional number stays a float, which `normalise_labels` refuses."""
    if isinstance(value, (bool, np.bool_, int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return int(value) if float(value).is_integer() else float(value)
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() else number


def clean(frames: dict[str, pd.DataFrame]) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Strip, drop empties, drop texts with conflicting labels, drop duplicates within each split."""
    stats: dict[str, Any] = {"empty": 0, "duplicates": 0}
    stripped = {}
    for split, frame in frames.items():
        text = frame["text"].fillna("").astype(str).str.strip()
        keep = text != ""
        stats["empty"] += int((~keep).sum())
        stripped[split] = pd.DataFrame({"text": text[keep], "label": frame["label"][keep]}).reset_index(drop=True)
    pooled = pd.concat(stripped.values(), ignore_index=True)
    labels_per_text = pooled.groupby("text")["label"].nunique()
    conflicting = set(labels_per_text[labels_per_text > 1].index)
    stats["conflicting_texts"] = len(conflicting)
    stats["conflicting_rows"] = int(pooled["text"].isin(conflicting).sum())
    cleaned = {}
    for split, frame in stripped.items():
        frame = frame[~frame["text"].isin(conflicting)]
        deduped = frame.drop_duplicates(subset="text", keep="first")
        stats["duplicates"] += len(frame) - len(deduped)
        cleaned[split] = deduped.reset_index(drop=True)
    return cleaned, stats


def split_missing(frames: dict[str, pd.DataFrame], params: DataParams) -> dict[str, pd.DataFrame]:
    """Carve the splits a source lacks out of its pool (or its train split), with the split seed."""
    pool = frames.get("all", frames.get("train"))
    if pool is None:
        raise UserError(f"the source has no train split (found {', '.join(frames)})")
    sizes = {"test": params.test_size, "validation": params.validation_size}
    wanted = {split: size for split, size in sizes.items() if split not in frames}
    if sum(wanted.values()) >= len(pool):
        raise UserError(
            f"data.validation_size + data.test_size = {sum(wanted.values())} leaves no training rows "
            f"(the source has {len(pool)} usable rows)"
        )
    if wanted and "all" not in frames:
        print(f"prepare: the source has no {' or '.join(wanted)} split; carving it out of train", flush=True)
    order = np.random.default_rng(params.split_seed).permutation(len(pool))
    out = {split: frame for split, frame in frames.items() if split != "all"}
    start = 0
    for split, size in wanted.items():
        out[split] = pool.iloc[order[start : start + size]].reset_index(drop=True)
        start += size
    out["train"] = pool.iloc[np.sort(order[start:])].reset_index(drop=True)
    return out


def remove_leaks(frames: dict[str, pd.DataFrame]) -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
    """Drop from each later split every text already present in an earlier one."""
    seen = set(frames["train"]["text"])
    out, removed = {"train": frames["train"]}, {}
    for split in ("validation", "test"):
        frame = frames[split]
        leaked = frame["text"].isin(seen)
        removed[split] = int(leaked.sum())
        out[split] = frame[~leaked].reset_index(drop=True)
        seen.update(out[split]["text"])
    return out, removed


def sample(frames: dict[str, pd.DataFrame], params: DataParams) -> dict[str, pd.DataFrame]:
    """Shuffle each split with its own stream of the sampling seed, then keep the first N rows.

    One stream per split means changing `train_rows` never changes which test rows are drawn.
    """
    out = {}
    for index, split in enumerate(SPLITS):
        frame = frames[split]
        rows = getattr(params, f"{split}_rows")
        order = np.random.default_rng([params.sample_seed, index]).permutation(len(frame))
        if rows is not None:
            if rows > len(frame):
                print(f"warning: data.{split}_rows={rows} but only {len(frame)} rows are available", file=sys.stderr)
            order = order[:rows]
        out[split] = frame.iloc[order].reset_index(drop=True)
    return out


def split_sha256(frame: pd.DataFrame) -> str:
    """Content hash of a split, independent of the Parquet writer's version."""
    digest = hashlib.sha256()
    for text, label in zip(frame["text"], frame["label"], strict=True):
        digest.update(json.dumps([text, int(label)], ensure_ascii=False).encode("utf-8") + b"\n")
    return digest.hexdigest()


def check_usable(frames: dict[str, pd.DataFrame], label_names: list[str]) -> None:
    for split in SPLITS:
        if frames[split].empty:
            raise UserError(f"split {split} has no rows after cleaning and sampling")
    train_labels = sorted(frames["train"]["label"].unique())
    if len(train_labels) < 2:
        only = label_names[train_labels[0]] if train_labels else "none"
        raise UserError(f"the train split has a single label ({only}); a classifier needs at least two")


def prepare(params: DataParams) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Everything `prepare` computes, without writing: the splits and the data report."""
    raw, declared_names = load_source(params)
    if sum(len(frame) for frame in raw.values()) == 0:
        raise UserError("the source has no rows")
    check_label_set(raw, declared_names, params.num_labels)
    labelled, label_names = normalise_labels(raw, declared_names)
    cleaned, removed = clean(labelled)
    split = split_missing(cleaned, params)
    unleaked, leaked = remove_leaks(split)
    sampled = sample(unleaked, params)
    check_usable(sampled, label_names)
    report = {
        "label_names": label_names,
        "rows": {s: _rows_by_label(sampled[s], label_names) for s in SPLITS},
        "available": {s: len(unleaked[s]) for s in SPLITS},
        "removed": {**removed, "leaked": leaked},
        "sha256": {s: split_sha256(sampled[s]) for s in SPLITS},
    }
    return sampled, report


def _rows_by_label(frame: pd.DataFrame, label_names: list[str]) -> dict[str, int]:
    counts = frame["label"].value_counts()
    return {"total": len(frame), **{name: int(counts.get(i, 0)) for i, name in enumerate(label_names)}}


def write_splits(frames: dict[str, pd.DataFrame], out_dir: Path, label_names: list[str]) -> None:
    schema = pa.schema(
        [("text", pa.string()), ("label", pa.int64())], metadata={"label_names": json.dumps(label_names)}
    )
    with atomic_dir(out_dir) as tmp:
        for split in SPLITS:
            table = pa.Table.from_pandas(frames[split][["text", "label"]], schema=schema, preserve_index=False)
            pq.write_table(table, tmp / f"{split}.parquet")


def check_tracked(params: DataParams, raw_data: Path) -> None:
    """A files or disk source must live under `raw_data`, the folder dvc.yaml makes `prepare` depend on;
    anywhere else DVC would see only the path string, and editing the data would rerun nothing."""
    if params.source not in ("files", "disk") or not params.path:
        return
    path, root = Path(params.path).resolve(), raw_data.resolve()
    if path == root or root in path.parents:
        return
    named = Path(os.path.abspath(params.path))
    if named == Path(os.path.abspath(raw_data)) or Path(os.path.abspath(raw_data)) in named.parents:
        raise UserError(
            f"data.path: {params.path} is a link to {path}, outside {raw_data}/; links are not accepted: DVC "
            "hashes the files it finds in the folder, not what a link points to, so an edit there would rerun "
            f"nothing. Copy the data into {raw_data}/"
        )
    raise UserError(
        f"data.path: {params.path} is outside {raw_data}/; copy or move it there so that DVC tracks its "
        f"content (a changed byte then reruns prepare; links are not accepted)"
    )
