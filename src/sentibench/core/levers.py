"""The speed levers: one registry read by the train stage, the benchmark, `sentibench levers` and the
bare-Trainer baseline, so that adding a lever is one entry here plus its param in `params.py`.

Each lever names the param that sets it, the values `sentibench levers` tries against the current
configuration, and the `TrainingArguments` it implies (none when the stage applies it itself, as the
thread count is applied by `apply_runtime`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sentibench.core.params import Params


@dataclass(frozen=True)
class Lever:
    key: str  # "section.field" in params.yaml
    trials: tuple[Any, ...]  # values tried by `sentibench levers` (the current one is the baseline)
    arguments: Callable[[Any], dict[str, Any]]  # TrainingArguments keywords for a value
    own_process: bool = False  # read once, when torch loads: `sentibench levers` measures it in a new process


LEVERS = (
    Lever(  # `bucketed` is applied by stages/trainer.py's sampler; the Trainer itself then samples at random
        "train.sampler",
        ("random", "bucketed", "group_by_length"),
        lambda sampler: {"train_sampling_strategy": "group_by_length" if sampler == "group_by_length" else "random"},
    ),
    Lever("train.bf16", (False, True), lambda on: {"bf16": on}),
    Lever("train.dataloader_workers", (0, 2), lambda workers: {"dataloader_num_workers": workers}),
    Lever("runtime.threads", (1, 2), lambda _: {}),
    Lever("runtime.portable", (False, True), lambda _: {}, own_process=True),
)


def value(params: Params, key: str) -> Any:
    section, name = key.split(".")
    return getattr(getattr(params, section), name)


def with_value(params: Params, key: str, new: Any) -> Params:
    section, name = key.split(".")
    return dataclasses.replace(params, **{section: dataclasses.replace(getattr(params, section), **{name: new})})


def lever_values(params: Params) -> dict[str, Any]:
    """Every lever's setting in these params, as recorded beside benchmark results."""
    return {lever.key: value(params, lever.key) for lever in LEVERS}


def trainer_arguments(params: Params) -> dict[str, Any]:
    """The TrainingArguments keywords that the levers' settings imply."""
    out: dict[str, Any] = {}
    for lever in LEVERS:
        out.update(lever.arguments(value(params, lever.key)))
    return out


def needs_own_process(params: Params, variant: Params) -> bool:
    """Whether `variant` must be measured in a process of its own: it sets a lever torch reads when it loads
    to another value than `params`, the configuration of the measuring process."""
    return any(value(params, lever.key) != value(variant, lever.key) for lever in LEVERS if lever.own_process)


def variants(params: Params) -> dict[str, Params]:
    """The configuration itself, then one variant per lever value it does not use, each changing one lever
    (bf16 also turns portable off: bf16 is a lever of native kernels only, see params.py)."""
    out = {"current params": params}
    for lever in LEVERS:
        for trial in lever.trials:
            if trial != value(params, lever.key):
                variant = with_value(params, lever.key, trial)
                name = f"{lever.key}: {trial}"
                if variant.train.bf16 and variant.runtime.portable:
                    variant, name = with_value(variant, "runtime.portable", False), f"{name} (portable off)"
                out[name] = variant
    return out
