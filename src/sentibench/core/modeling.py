"""Loading tokenizers and models from a local folder, the Hub, or an architecture config.

The same code path serves all three, so the real `hfl/rbt3` path is exercised by tests through
`save_pretrained` fixtures. Nothing here passes `trust_remote_code`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sentibench.core.errors import UserError
from sentibench.core.hub import hub_failure
from sentibench.core.params import ModelParams


def _is_local(location: str) -> bool:
    return Path(location).exists() or location.startswith((".", "/", "~"))


def _hub_error(what: str, location: str, revision: str | None, err: Exception) -> UserError:
    at = f"@{revision}" if revision else ""
    return UserError(
        f"{what} {location}{at}: not a local folder, and from the Hub: {hub_failure(err)}; or download it where "
        f"the Hub is reachable, save_pretrained it to a folder and point model.name / model.tokenizer at that "
        f"folder (model.source: local)"
    )


def load_tokenizer(params: ModelParams) -> Any:
    """The tokenizer named by `model.tokenizer`, or the model's own when that is unset."""
    from transformers import AutoTokenizer

    location = params.tokenizer or params.name or ""
    revision = None if params.tokenizer else params.revision
    if _is_local(location):
        folder = Path(location)
        if not folder.is_dir():
            raise UserError(f"{folder}: tokenizer folder not found (model.tokenizer)")
        try:
            return AutoTokenizer.from_pretrained(str(folder))
        except (OSError, ValueError) as err:
            raise UserError(f"{folder}: not a tokenizer folder ({type(err).__name__})") from None
    try:
        return AutoTokenizer.from_pretrained(location, revision=revision)
    except (OSError, ValueError) as err:
        raise _hub_error("tokenizer", location, revision, err) from None


def save_tokenizer(tokenizer: Any, folder: Path) -> None:
    """Save without the record of how it was loaded: Transformers writes local_files_only, which follows
    HF_HUB_OFFLINE, a property of the run's environment, not of the tokenizer; with it, a container that
    runs offline and a host that does not save different bytes."""
    tokenizer.save_pretrained(str(folder))
    config_file = folder / "tokenizer_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config.pop("local_files_only", None)
    config_file.write_text(json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def architecture_config(params: ModelParams, vocab_size: int, label_names: list[str]) -> Any:
    """A config for a randomly initialised model; unknown override keys are an error, not ignored."""
    from huggingface_hub.errors import StrictDataclassError
    from transformers import AutoConfig

    try:
        default = AutoConfig.for_model(params.architecture)
    except ValueError:
        raise UserError(f"model.architecture: unknown model type {params.architecture!r}") from None
    for key in params.config:
        if not hasattr(default, key):
            raise UserError(f"model.config.{key}: not a field of the {params.architecture} config")
    try:
        config = AutoConfig.for_model(
            params.architecture, vocab_size=vocab_size, **_label_kwargs(label_names), **params.config
        )
    except (ValueError, TypeError, StrictDataclassError) as err:  # Transformers 5 configs check each field's type
        reason = " ".join(str(err).split())
        raise UserError(f"model.config: not a valid {params.architecture} config ({reason})") from None
    heads = getattr(config, "num_attention_heads", None)
    if heads and getattr(config, "hidden_size", 0) % heads:
        raise UserError(
            f"model.config.hidden_size ({config.hidden_size}) must be a multiple of "
            f"model.config.num_attention_heads ({heads})"
        )
    return config


def _label_kwargs(label_names: list[str]) -> dict[str, Any]:
    """Labels as the data names them; the problem type set up front, not at the first forward with labels,
    so that a run resumed with no steps left saves the same config.json as one that trained."""
    return {
        "problem_type": "single_label_classification",
        "num_labels": len(label_names),
        "id2label": dict(enumerate(label_names)),
        "label2id": {name: i for i, name in enumerate(label_names)},
    }


def load_model(params: ModelParams, vocab_size: int, label_names: list[str], pretrained: Path | None = None) -> Any:
    """A sequence classifier: random weights from a config (or the pretrain stage's encoder for that config),
    or pretrained weights with a new head."""
    from transformers import AutoModelForSequenceClassification

    if params.source == "config":
        config = architecture_config(params, vocab_size, label_names)
        if pretrained is None:
            return AutoModelForSequenceClassification.from_config(config)
        return AutoModelForSequenceClassification.from_pretrained(str(pretrained), config=config, use_safetensors=True)
    location = params.name or ""
    if params.source == "local" and not Path(location).is_dir():
        raise UserError(f"{location}: model folder not found (model.name)")
    revision = params.revision if params.source == "hub" else None
    try:
        return AutoModelForSequenceClassification.from_pretrained(
            location, revision=revision, use_safetensors=True, **_label_kwargs(label_names)
        )
    except (OSError, ValueError) as err:
        if params.source == "local":
            raise UserError(f"{location}: not a model folder with safetensors weights ({type(err).__name__})") from None
        raise _hub_error("model", location, revision, err) from None


def count_parameters(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


def position_limit(params: ModelParams) -> int | None:
    """How many positions the model can embed, when it can be known without loading weights."""
    from transformers import AutoConfig

    if params.source == "config":
        if "max_position_embeddings" in params.config:
            return int(params.config["max_position_embeddings"])
        try:
            return getattr(AutoConfig.for_model(params.architecture), "max_position_embeddings", None)
        except ValueError:
            return None
    try:
        revision = params.revision if params.source == "hub" else None
        config = AutoConfig.from_pretrained(params.name or "", revision=revision)
    except (OSError, ValueError):
        return None  # not at hand here; loading the model will say why
    return getattr(config, "max_position_embeddings", None)
