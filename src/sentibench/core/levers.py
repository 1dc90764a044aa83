"""The speed levers: one registry read by the train stage, the benchmark, `sentibench levers` and the
bare-Trainer baseline, so that adding a lever is one entry here plus its param in `params.py`.

Each lever names the param that sets it, the values `sentibench levers` tries against the current
configuration, and the `TrainingArguments` it implies (none when the stage applies it itself, as the
thread count is applied by `apply_runtime`, or when it is part of the model, as dropout is). A lever
that changes the model (dropout) changes the weights: it is a speed lever whose quality cost a seed
sweep has to measure (docs/results.md), not a free one.
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
    applies: Callable[[Params], bool] = lambda _: True  # whether the lever exists for these params
    unset: Any = None  # its value when params leave a mapping key out (the architecture's own default)


def _bert_from_config(params: Params) -> bool:
    """model.config keys shape only a model built from a config (source: config), not a pretrained one; these
    are BERT's names for them."""
    return params.model.source == "config" and params.model.architecture == "bert"


LEVERS = (
    Lever(  # `bucketed` is applied by training/trainer.py's sampler; the Trainer itself then samples at random
        "train.sampler",
        ("random", "bucketed", "group_by_length"),
        lambda sampler: {"train_sampling_strategy": "group_by_length" if sampler == "group_by_length" else "random"},
    ),
    Lever("train.bf16", (False, True), lambda on: {"bf16": on}),
    Lever("train.dataloader_workers", (0, 2), lambda workers: {"dataloader_num_workers": workers}),
    Lever("runtime.threads", (1, 2), lambda _: {}),
    Lever("runtime.portable", (False, True), lambda _: {}, own_process=True),
    # Dropout's masks are drawn one random number at a time on a CPU, in one thread; with attention dropout
    # at 0 the attention runs as one fused kernel (scaled_dot_product_attention's flash path) instead of
    # materialising the probabilities. BERT's own default for both is 0.1.
    Lever("model.config.attention_probs_dropout_prob", (0.1, 0.0), lambda _: {}, applies=_bert_from_config, unset=0.1),
    Lever("model.config.hidden_dropout_prob", (0.1, 0.0), lambda _: {}, applies=_bert_from_config, unset=0.1),
    # The same dropout with masks from numpy's PCG64 (training/dropout.py): other masks, the same distribution.
    Lever("train.dropout_masks", ("torch", "pcg64"), lambda _: {}),
)


def value(params: Params, lever: Lever) -> Any:
    """The lever's setting: "section.field", or "section.field.key" in a mapping field."""
    section, name, *inner = lever.key.split(".")
    found = getattr(getattr(params, section), name)
    return found.get(inner[0], lever.unset) if inner else found


def with_value(params: Params, key: str, new: Any) -> Params:
    section, name, *inner = key.split(".")
    old = getattr(getattr(params, section), name)
    field = {**old, inner[0]: new} if inner else new
    return dataclasses.replace(params, **{section: dataclasses.replace(getattr(params, section), **{name: field})})


def lever_values(params: Params) -> dict[str, Any]:
    """Every lever's setting in these params, as recorded beside benchmark results."""
    return {lever.key: value(params, lever) for lever in LEVERS if lever.applies(params)}


def trainer_arguments(params: Params) -> dict[str, Any]:
    """The TrainingArguments keywords that the levers' settings imply."""
    out: dict[str, Any] = {}
    for lever in LEVERS:
        out.update(lever.arguments(value(params, lever)))
    return out


def needs_own_process(params: Params, variant: Params) -> bool:
    """Whether `variant` must be measured in a process of its own: it sets a lever torch reads when it loads
    to another value than `params`, the configuration of the measuring process."""
    return any(value(params, lever) != value(variant, lever) for lever in LEVERS if lever.own_process)


def variants(params: Params) -> dict[str, Params]:
    """The configuration itself, then one variant per lever value it does not use, each changing one lever
    (bf16 also turns portable off: bf16 is a lever of native kernels only, see params.py)."""
    out = {"current params": params}
    for lever in (lever for lever in LEVERS if lever.applies(params)):
        for trial in lever.trials:
            if trial != value(params, lever):
                variant = with_value(params, lever.key, trial)
                name = f"{lever.key}: {trial}"
                if variant.train.bf16 and variant.runtime.portable:
                    variant, name = with_value(variant, "runtime.portable", False), f"{name} (portable off)"
                out[name] = variant
    return out
