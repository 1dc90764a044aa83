"""The pipeline contract: every artifact path, the names stages share, and the readers of shared artifacts.

Stages never import each other; what one stage writes and the next reads is named here once.
`dvc.yaml` declares the same paths (tests/test_contract.py holds the two in agreement), so a path
changes in two places that a test ties together, not in six that drift.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sentibench.core.errors import UserError

PARAMS = Path("params.yaml")
GOLDEN = Path("golden")  # golden/PROFILE.json: a profile's output hashes as recorded on some machine (`verify`)
RAW_DATA = Path("data/raw")  # where a files or disk source lives, so that prepare depends on its content

# Artifacts, by the stage that writes them.
PREPARED = Path("data/prepared")
DATA_METRICS = Path("metrics/data.json")
TOKENIZED = Path("data/tokenized")
TOKENIZER = "tokenizer"  # inside TOKENIZED: the tokenizer the data was encoded with, which later stages load
VOCAB_MAP = "vocab_map.json"  # inside TOKENIZED: the vocabulary, and for a compact one each id's source id
PREPROCESS_METRICS = Path("metrics/preprocess.json")
PRETRAIN_CHECKPOINTS = Path("checkpoints-pretrain")  # scratch, like CHECKPOINTS
PRETRAINED = Path("models/pretrained")
DVCLIVE_PRETRAIN = Path("dvclive-pretrain")
PRETRAIN_METRICS = Path("metrics/pretrain.json")
PRETRAIN_TIMING = Path("metrics/pretrain_timing.json")
CHECKPOINTS = Path("checkpoints")  # scratch state for resuming, outside DVC (a pulled clone is complete without it)
TRAINED = Path("models/trained")
DVCLIVE = Path("dvclive")
TRAIN_METRICS = Path("metrics/train.json")
TRAIN_TIMING = Path("metrics/train_timing.json")
ENV = Path("metrics/env.json")
EVAL_METRICS = Path("metrics/eval.json")
PREDICTIONS = Path("results/predictions.csv")
SUMMARY = Path("metrics/summary.json")  # the headline quality numbers (`dvc metrics show`)
MODEL_DIR = Path("models/final")  # the trained model with its card and preprocessing: what users load
MODEL_INFO = "sentibench.json"  # inside MODEL_DIR: how texts were preprocessed for this model
THROUGHPUT = Path("metrics/throughput.json")
INFERENCE_CURVE = Path("results/inference.csv")
BENCHMARK_ENV = Path("results/benchmark_env.json")
SPEED = Path("metrics/speed.json")  # the headline speed numbers (`dvc metrics show`)

SPLITS = ("train", "validation", "test")
ENCODED_FIELDS = ("input_ids", "token_type_ids", "attention_mask")
COMPLETE_MARKER = "sentibench-complete"  # written into a checkpoint only after the Trainer finished saving it
SKIPPED_NOTE = "SKIPPED.txt"  # the only file of models/pretrained when pretraining did not run

# Outputs that must be byte-identical between two runs of the same commit, params and environment.
QUALITY_OUTPUTS = (
    DATA_METRICS,
    PREPROCESS_METRICS,
    PRETRAIN_METRICS,
    PRETRAINED,
    DVCLIVE_PRETRAIN,
    TRAIN_METRICS,
    EVAL_METRICS,
    SUMMARY,
    PREDICTIONS,
    TRAINED,
    DVCLIVE,
)
# Outputs that legitimately differ between such runs (timings, the machine, the commit in the model card).
NONDETERMINISTIC_OUTPUTS = (PRETRAIN_TIMING, TRAIN_TIMING, ENV, MODEL_DIR)
# Scratch folders the stages keep outside DVC.
SCRATCH = (PRETRAIN_CHECKPOINTS, CHECKPOINTS)
# Everything `dvc repro` writes: a fresh copy of the repository has none of it, and none of it makes git "dirty".
RUN_OUTPUTS = (
    "data/prepared",
    "data/tokenized",
    "models",
    "checkpoints",
    "checkpoints-pretrain",
    "dvclive",
    "dvclive-pretrain",
    "results",
    "metrics",
    "dvc.lock",
)


def read_label_names(prepared_dir: Path = PREPARED) -> list[str]:
    """The label names `prepare` stored in the Parquet schema of its train split."""
    import pyarrow.parquet as pq

    path = prepared_dir / "train.parquet"
    if not path.is_file():
        raise UserError(f"{path}: missing; run the prepare stage first")
    metadata = pq.read_schema(path).metadata or {}
    return json.loads(metadata[b"label_names"])


def load_tokenized(path: Path = TOKENIZED) -> Any:
    """The DatasetDict `preprocess` saved (label as a ClassLabel, the encoded fields as int sequences)."""
    from datasets import load_from_disk

    if not (path / "dataset_dict.json").is_file():
        raise UserError(f"{path}: no tokenised dataset; run the preprocess stage first")
    return load_from_disk(str(path))


def load_data_tokenizer(tokenized_dir: Path = TOKENIZED) -> Any:
    """The tokenizer `preprocess` encoded the data with (the compact one, when preprocess.vocabulary is compact)."""
    from transformers import AutoTokenizer

    folder = tokenized_dir / TOKENIZER
    if not folder.is_dir():
        raise UserError(f"{folder}: no tokenizer beside the tokenised data; run the preprocess stage again")
    return AutoTokenizer.from_pretrained(str(folder))


def load_saved(model_dir: Path = MODEL_DIR) -> tuple[Any, Any]:
    """The trained model in eval mode, on the GPU where there is one (as training ran), and its tokenizer."""
    import torch
    from safetensors import SafetensorError
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    weights = model_dir / "model.safetensors"
    if not weights.is_file():
        raise UserError(f"{model_dir}: no model.safetensors; run the train stage first")
    try:
        model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), use_safetensors=True)
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    except SafetensorError as err:
        raise UserError(
            f"{weights}: unreadable weights (truncated or corrupted: {err}); retrain or restore it"
        ) from None
    except (OSError, ValueError) as err:  # a malformed config.json or tokenizer file
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"{model_dir}: not a loadable model folder ({first})") from None
    model.to("cuda" if torch.cuda.is_available() else "cpu")
    return model.eval(), tokenizer
