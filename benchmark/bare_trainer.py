"""The same Trainer on the same data with nothing of sentibench around it: the overhead baseline.

Reads params.yaml with plain YAML, builds the model from its config, and runs the seed's protocol
(an evaluation before training, then Trainer.train() with the same TrainingArguments) on the
tokenised data of the pipeline. No DVCLive, no checkpoint bookkeeping, no fingerprints, no metrics
files. The speed levers come from sentibench's one registry and the Trainer from its shared set-up
(the sampler `train.sampler` names, evaluation on a forked RNG), so a lever that is on in params.yaml
is on here too and the overhead comparison stays like for like. Prints the Trainer's train_runtime,
which `overhead.py` compares with the train stage's.
"""

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import yaml
from datasets import load_from_disk
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    TrainingArguments,
    set_seed,
)

from sentibench.core.levers import trainer_arguments
from sentibench.core.params import load_params
from sentibench.training.trainer import build_trainer

params_file = Path(sys.argv[1] if len(sys.argv) > 1 else "params.yaml")
params = yaml.safe_load(params_file.read_text(encoding="utf-8"))
typed = load_params(params_file)
levers = trainer_arguments(typed)
model_p, train_p = params["model"], params["train"]
torch.set_num_threads(params["runtime"]["threads"])
torch.use_deterministic_algorithms(params["runtime"]["deterministic"])  # as the train stage; full_determinism stays off
data = load_from_disk("data/tokenized")
tokenizer = AutoTokenizer.from_pretrained("data/tokenized/tokenizer")  # the one the data was encoded with
names = data["train"].features["label"].names
config = AutoConfig.for_model(
    model_p["architecture"], vocab_size=len(tokenizer), num_labels=len(names), **model_p["config"]
)
set_seed(train_p["seed"])
model = AutoModelForSequenceClassification.from_config(config)


def accuracy(eval_pred):
    logits, labels = eval_pred
    return {"accuracy": float((np.asarray(logits).argmax(axis=1) == labels).mean())}


with tempfile.TemporaryDirectory() as out:
    args = TrainingArguments(
        output_dir=out,
        eval_strategy="steps",
        eval_steps=train_p["eval_steps"],
        save_strategy="steps",
        save_steps=train_p["save_steps"],
        save_total_limit=train_p["save_total_limit"],
        num_train_epochs=train_p["epochs"],
        learning_rate=train_p["learning_rate"],
        weight_decay=train_p["weight_decay"],
        warmup_steps=train_p["warmup_steps"],
        lr_scheduler_type=train_p["lr_scheduler"],
        per_device_train_batch_size=train_p["batch_size"],
        per_device_eval_batch_size=train_p["eval_batch_size"],
        logging_steps=train_p["logging_steps"],
        seed=train_p["seed"],
        data_seed=train_p["seed"],
        use_cpu=not torch.cuda.is_available(),
        full_determinism=False,
        report_to="none",
        average_tokens_across_devices=False,
        **levers,
    )
    trainer = build_trainer(
        typed,
        model=model,
        args=args,
        train_dataset=data["train"],
        eval_dataset=data["validation"],
        compute_metrics=accuracy,
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
    )
    trainer.evaluate()
    output = trainer.train()
print(json.dumps({"train_runtime_s": output.metrics["train_runtime"], "global_step": output.global_step}))
