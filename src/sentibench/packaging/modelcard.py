"""The final model folder, its model card and the headline summary (the package stage's work).

`models/final` is `models/trained` (weights, config with the data's label names, tokenizer) plus
`sentibench.json` (how texts were preprocessed, so `sentibench predict` treats new texts as the
training texts were treated, whatever `params.yaml` says today) and `README.md`, a model card: what
it was trained on, with which params, at which commit, and its test accuracy beside the reference's.
It runs after `evaluate` because the card reports the test scores. The commit makes this folder
differ between two checkouts of the same code, so it is not among the byte-compared outputs;
`models/trained` is. The stage also writes `metrics/summary.json`, the headline numbers.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from sentibench.core.atomic import atomic_dir
from sentibench.core.contract import (
    MODEL_INFO,
)
from sentibench.core.errors import UserError
from sentibench.core.git import git
from sentibench.core.params import Params, as_dict

CARD_SECTIONS = ("data", "model", "preprocess", "pretrain", "train")
# What the card and the summary read from each metrics file (dotted paths into its JSON).
REQUIRED_KEYS = {
    "eval": ("accuracy", "f1_macro", "reference.accuracy", "reference.f1_macro"),
    "train": ("eval_accuracy", "eval_rows", "num_parameters"),
    "data": ("label_names", "rows.train.total", "rows.test.total"),
    "pretrain": ("skipped",),
}


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: missing; run the pipeline's earlier stages first") from None
    except (UnicodeDecodeError, ValueError):
        raise UserError(f"{path}: not valid JSON") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: not a JSON object")
    return data


def check_keys(metrics: dict[str, dict[str, Any]], files: dict[str, Path]) -> None:
    """Every key the card and summary read is there: a file from another version names its missing key."""
    for name, paths in REQUIRED_KEYS.items():
        ran = name == "pretrain" and "skipped" in metrics[name] and metrics[name]["skipped"] is None
        for dotted in (*paths, "steps", "tokens") if ran else paths:
            value: Any = metrics[name]
            for key in dotted.split("."):
                if not isinstance(value, dict) or key not in value:
                    raise UserError(f"{files[name]}: no key '{dotted}'; rerun the stage that writes it (dvc repro)")
                value = value[key]


def commit_of(repo: Path) -> str:
    done = git(repo, "rev-parse", "HEAD")
    if done.returncode != 0:
        return "unknown (not a git checkout)"
    dirty = git(repo, "status", "--porcelain", "--untracked-files=no", "--", "src", "params.yaml", "dvc.yaml")
    return done.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def model_info(params: Params, label_names: list[str]) -> dict[str, Any]:
    """What predicting with this model needs to know beyond its weights and tokenizer."""
    return {
        "max_tokens": params.preprocess.max_tokens,
        "too_long": params.preprocess.too_long,
        "label_names": label_names,
    }


def card(params: Params, metrics: dict[str, dict[str, Any]], commit: str) -> str:
    """The model card: a README that the Hugging Face Hub and a human both read."""
    evaluation, training, data = metrics["eval"], metrics["train"], metrics["data"]
    reference = evaluation["reference"]
    pretrain = metrics["pretrain"]
    pretrained = "no" if pretrain.get("skipped") else f"{pretrain['steps']} MLM steps, {pretrain['tokens']:,} tokens"
    ngrams = f"char 1-{params.evaluate.reference_ngram_max}-grams"
    yaml = YAML()
    yaml.default_flow_style = False
    buffer = io.StringIO()
    yaml.dump({name: as_dict(getattr(params, name)) for name in CARD_SECTIONS}, buffer)
    labels = ", ".join(f"`{name}`" for name in data["label_names"])
    return f"""---
library_name: transformers
pipeline_tag: text-classification
tags: [sentibench, text-classification]
---

# sentibench model: {params.model.architecture} sentiment classifier

Trained by sentibench's pipeline (`dvc repro`), packaged at commit `{commit}`.

- **Data**: source `{params.data.source}`{f" `{params.data.name}`" if params.data.name else ""}; labels {labels};
  {data["rows"]["train"]["total"]:,} training rows, {data["rows"]["test"]["total"]:,} test rows.
- **Model**: `{params.model.source}` {params.model.architecture}, {training["num_parameters"]:,} parameters;
  self-pretrained: {pretrained}.
- **Preprocessing**: texts longer than {params.preprocess.max_tokens} tokens: `{params.preprocess.too_long}`
  (recorded in `{MODEL_INFO}`; `sentibench predict` applies it); vocabulary `{params.preprocess.vocabulary}`
  (the folder's tokenizer is the one the model was trained with).

| on the test split | this model | TF-IDF reference ({ngrams} + logistic regression) |
| --- | --- | --- |
| accuracy | {evaluation["accuracy"]:.4f} | {reference["accuracy"]:.4f} |
| macro F1 | {evaluation["f1_macro"]:.4f} | {reference["f1_macro"]:.4f} |

Validation accuracy at the end of training: {training["eval_accuracy"]:.4f} ({training["eval_rows"]:,} rows).

## Use

```python
from transformers import pipeline
classify = pipeline("text-classification", model="models/final")
classify("这家酒店的服务很好")
```

or `sentibench predict --model models/final "这家酒店的服务很好"`.

## Params

```yaml
{buffer.getvalue().rstrip()}
```
"""


def summary(metrics: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The few numbers a reader looks at first: what `dvc metrics show` prints (the rest is in metrics/)."""
    evaluation, training = metrics["eval"], metrics["train"]
    return {
        "test_accuracy": evaluation["accuracy"],
        "test_f1_macro": evaluation["f1_macro"],
        "reference_accuracy": evaluation["reference"]["accuracy"],
        "validation_accuracy": training["eval_accuracy"],
        "steps_to_target": training.get("steps_to_target"),
        "padding_efficiency": training.get("padding_efficiency"),
    }


def package(params: Params, trained: Path, out: Path, metrics: dict[str, dict[str, Any]], commit: str) -> None:
    if not (trained / "model.safetensors").is_file():
        raise UserError(f"{trained}: no model.safetensors; run the train stage first")
    with atomic_dir(out) as tmp:
        shutil.copytree(trained, tmp, dirs_exist_ok=True)
        info = model_info(params, metrics["data"]["label_names"])
        (tmp / MODEL_INFO).write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (tmp / "README.md").write_text(card(params, metrics, commit), encoding="utf-8")
