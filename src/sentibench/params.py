"""Typed, validated view of `params.yaml`.

Every section is a dataclass in the style of run_glue.py's arguments: the field list *is*
the schema. Loading rejects unknown keys and values of the wrong type with a one-line error
naming the key, so a typo such as `train.lerning_rate` can never be silently ignored.
YAML is read as YAML 1.2 (ruamel, as DVC does), so `1e-4` is a number, not a string.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from sentibench.errors import UserError

DEFAULT_PARAMS = Path("params.yaml")


@dataclass(frozen=True)
class DataParams:
    """Where the rows come from and how they are cleaned, split and sampled (`prepare`)."""

    source: Literal["embedded", "disk", "files", "hub"] = "embedded"
    path: str | None = None  # disk: a save_to_disk directory; files: a file or a directory of split files
    name: str | None = None  # hub: dataset id
    revision: str | None = None  # hub: pinned commit
    text_column: str = "text"
    label_column: str = "label"
    split_seed: int = 42
    validation_size: int = 1200  # only for sources without splits
    test_size: int = 1200
    sample_seed: int = 42
    train_rows: int | None = 2000  # None keeps every row
    validation_rows: int | None = None
    test_rows: int | None = None


@dataclass(frozen=True)
class ModelParams:
    """Which model and tokenizer to use (`preprocess` reads the tokenizer keys, `train` all)."""

    source: Literal["config", "hub", "local"] = "config"
    name: str | None = None  # hub id or local directory; unused for `config`
    revision: str | None = None  # hub: pinned commit
    tokenizer: str | None = "assets/rbt3-tokenizer"  # directory or hub id; None: same as `name`
    architecture: str = "bert"  # `config` source: model type for AutoConfig.for_model
    config: dict[str, Any] = field(default_factory=dict)  # `config` source: architecture overrides


@dataclass(frozen=True)
class PreprocessParams:
    """Tokenisation and the policy for texts longer than the model accepts."""

    max_tokens: int = 512
    too_long: Literal["drop", "truncate_head", "truncate_tail"] = "drop"


@dataclass(frozen=True)
class TrainParams:
    """Mirrors the seed's TrainingArguments; names follow Transformers 5."""

    seed: int = 42
    epochs: float = 1.0
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    warmup_steps: int = 0
    lr_scheduler: str = "linear"
    batch_size: int = 16
    eval_batch_size: int = 16
    eval_steps: int = 30
    save_steps: int = 30
    save_total_limit: int | None = 2
    logging_steps: int = 10
    processes: int = 1  # >1: DDP under torchrun on this host (gloo on CPU, NCCL on GPUs)
    # Speed levers; each default is the seed's behaviour.
    group_by_length: bool = False  # batches of similar lengths: less padding, other batches
    bf16: bool = False  # bfloat16 autocast where the CPU or GPU supports it
    dataloader_workers: int = 0


@dataclass(frozen=True)
class EvaluateParams:
    """Scoring of the trained model and of the classical reference."""

    batch_size: int = 64
    reference_ngram_max: int = 3
    reference_max_features: int | None = 200000
    reference_c: float = 10.0


@dataclass(frozen=True)
class BenchmarkParams:
    """How long the benchmark stage measures: warm-up excluded, then at least N iterations and T seconds."""

    warmup_steps: int = 5
    measure_steps: int = 30
    batch_sizes: list[int] = field(default_factory=lambda: [1, 8, 16, 32, 64])
    inference_warmup: int = 3
    min_iterations: int = 10
    min_seconds: float = 1.0
    gemm_size: int = 2048


@dataclass(frozen=True)
class RuntimeParams:
    """Execution settings that change numbers: the thread count and the CPU kernels."""

    threads: int = 2
    deterministic: bool = True  # seeded everything, deterministic algorithms, no TF32
    portable: bool = False  # pin AVX2 kernels so that CPUs of other generations give the same bytes


@dataclass(frozen=True)
class Params:
    data: DataParams = field(default_factory=DataParams)
    model: ModelParams = field(default_factory=ModelParams)
    preprocess: PreprocessParams = field(default_factory=PreprocessParams)
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


def _check_ranges(params: Params) -> None:
    positive = {
        "preprocess.max_tokens": params.preprocess.max_tokens,
        "train.batch_size": params.train.batch_size,
        "train.eval_batch_size": params.train.eval_batch_size,
        "train.eval_steps": params.train.eval_steps,
        "train.save_steps": params.train.save_steps,
        "train.logging_steps": params.train.logging_steps,
        "train.processes": params.train.processes,
        "train.epochs": params.train.epochs,
        "train.learning_rate": params.train.learning_rate,
        "evaluate.batch_size": params.evaluate.batch_size,
        "evaluate.reference_ngram_max": params.evaluate.reference_ngram_max,
        "evaluate.reference_c": params.evaluate.reference_c,
        "runtime.threads": params.runtime.threads,
        "benchmark.measure_steps": params.benchmark.measure_steps,
        "benchmark.min_iterations": params.benchmark.min_iterations,
        "benchmark.gemm_size": params.benchmark.gemm_size,
    }
    for key, value in positive.items():
        if value <= 0:
            raise UserError(f"{key} must be positive; got {value!r}")
    for key, value in (
        ("train.dataloader_workers", params.train.dataloader_workers),
        ("benchmark.warmup_steps", params.benchmark.warmup_steps),
    ):
        if value < 0:
            raise UserError(f"{key} must not be negative; got {value!r}")
    if any(size <= 0 for size in params.benchmark.batch_sizes):
        raise UserError(f"benchmark.batch_sizes must be positive; got {params.benchmark.batch_sizes!r}")
    for key in ("train_rows", "validation_rows", "test_rows", "validation_size", "test_size"):
        value = getattr(params.data, key)
        if value is not None and value < 0:
            raise UserError(f"data.{key} must not be negative; got {value!r}")
    if params.preprocess.max_tokens < 3:
        raise UserError("preprocess.max_tokens must be at least 3 ([CLS], one token, [SEP])")
    needs = {"disk": "path", "files": "path", "hub": "name"}
    required = needs.get(params.data.source)
    if required and not getattr(params.data, required):
        raise UserError(f"data.{required} is required when data.source is {params.data.source}")
    if params.model.source in ("hub", "local") and not params.model.name:
        raise UserError(f"model.name is required when model.source is {params.model.source}")
    if params.model.tokenizer is None and not params.model.name:
        raise UserError("model.tokenizer is required when model.name is not set")


def parse_params(raw: Any) -> Params:
    """Validate a raw mapping (as read from YAML) into `Params`."""
    params = _build(Params, raw, "")
    _check_ranges(params)
    return params


def load_params(path: str | Path = DEFAULT_PARAMS) -> Params:
    """Read and validate a params file; every problem is a one-line `UserError`."""
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
