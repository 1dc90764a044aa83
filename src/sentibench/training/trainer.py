"""The Trainer set-up that the train stage, the benchmark and the bare-Trainer baseline share.

Four things differ from a plain `Trainer`:
- the `bucketed` sampler (see `batching`), chosen by `train.sampler`;
- dropout's masks from PCG64 (see `dropout`), chosen by `train.dropout_masks`;
- evaluation runs on a fork of the RNG: a DataLoader draws its base seed from the global torch RNG,
  so every evaluation used to shift every later dropout mask, and the trained weights depended on
  how often the run looked at itself (`eval_steps`). Forked, evaluating and saving change nothing;
- under DDP, an evaluation before training no longer keeps `train()` from wrapping the model in DDP
  (see `forget_evaluation_prepare`).
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any

from sentibench.core.levers import trainer_arguments
from sentibench.core.params import Params
from sentibench.portable.runtime import slow_lever_notes
from sentibench.training.batching import BucketSampler
from sentibench.training.dropout import use_pcg64_dropout


def training_arguments(params: Params, output_dir: Path, **overrides: Any) -> Any:
    """The seed's TrainingArguments from params and the levers; the benchmark overrides evals and saves."""
    import torch
    from transformers import TrainingArguments

    t = params.train
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1  # set by torchrun
    arguments = dict(
        output_dir=str(output_dir),
        eval_strategy="steps",
        eval_steps=t.eval_steps,
        save_strategy="steps",
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        num_train_epochs=t.epochs,
        learning_rate=t.learning_rate,
        weight_decay=t.weight_decay,
        warmup_steps=t.warmup_steps,
        lr_scheduler_type=t.lr_scheduler,
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.eval_batch_size,
        logging_steps=t.logging_steps,
        seed=t.seed,
        data_seed=t.seed,
        use_cpu=not torch.cuda.is_available(),
        ddp_backend="gloo" if distributed and not torch.cuda.is_available() else None,
        # A sequence classifier's loss is already a per-batch mean; scaling it by the world size (the
        # default, meant for token-level losses) doubles the logged loss under 2 processes.
        average_tokens_across_devices=False,
        # apply_runtime already made the run deterministic (algorithms, cuDNN, a 4 MiB cuBLAS workspace).
        # The Trainer's own full_determinism would add CUDA_LAUNCH_BLOCKING=1, which serialises every kernel
        # launch, and shrink the cuBLAS workspace to 128 KiB; its seeding is the same as set_seed's.
        full_determinism=False,
        report_to="none",
        # Pinned, not left to the version's default: portable bytes rely on it. The for-loop AdamW computes
        # float32 sqrt with a kernel that is 1 ULP off on some CPUs; the fused one does not call it.
        optim="adamw_torch_fused",
        **trainer_arguments(params),
    )
    return TrainingArguments(**{**arguments, **overrides})


def forget_evaluation_prepare(accelerator: Any, model: Any) -> None:
    """Undo what an evaluation before training left on the model, so that `train()` wraps it in DDP.

    `Trainer.evaluate()` prepares a bare model with accelerate in evaluation mode (no DDP wrapper) and
    accelerate marks it prepared; `train()` then finds the mark and skips the DDP wrapper too, so every
    process trained its own replica on its own half of the data and rank 0's weights were saved. The
    baseline evaluation before training made that happen in every fresh DDP run (Transformers 5.24,
    accelerate 1.15; measured 2026-12-04: gradients differed between ranks from the first step, and
    only a resumed run, which skips the baseline, was wrapped)."""
    model.__dict__.pop("_is_accelerate_prepared", None)
    accelerator._models = [prepared for prepared in accelerator._models if prepared is not model]


def build_trainer(params: Params, **kwargs: Any) -> Any:
    """A `Trainer` with the sampler `train.sampler` names and evaluation that leaves the RNG alone."""
    import torch
    from transformers import Trainer, TrainerCallback

    if not torch.cuda.is_available():
        for note in slow_lever_notes(params.runtime.portable, params.train.bf16):
            print(f"note: {note}", file=sys.stderr, flush=True)
    if params.train.dropout_masks == "pcg64":
        use_pcg64_dropout(kwargs["model"])

    samplers: list[BucketSampler] = []

    class SentibenchTrainer(Trainer):
        def _get_train_sampler(self, train_dataset: Any = None) -> Any:
            if params.train.sampler != "bucketed":
                return super()._get_train_sampler(train_dataset)
            dataset = train_dataset if train_dataset is not None else self.train_dataset
            lengths = [len(ids) for ids in dataset["input_ids"]]
            samplers.append(
                BucketSampler(lengths, self._train_batch_size, params.train.bucket_window, params.train.seed)
            )
            return samplers[-1]

        def evaluate(self, *args: Any, **kw: Any) -> dict[str, float]:
            devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
            before_training = (
                self.args.world_size > 1  # one process has no wrapper to lose
                and self.model_wrapped is self.model
                and not hasattr(self.model, "_is_accelerate_prepared")
            )
            with torch.random.fork_rng(devices=devices):
                metrics = super().evaluate(*args, **kw)
            if before_training:
                forget_evaluation_prepare(self.accelerator, self.model)
            return metrics

    class EpochToSampler(TrainerCallback):
        """Each epoch's number to the bucketed sampler, from the Trainer's state. The Trainer's own `set_epoch`
        does not reach it under DDP in a resumed epoch (accelerate wraps the skipping data loader one level
        deeper), and the resumed epoch then replayed epoch 0's order: measured, 2026-12-03."""

        def on_epoch_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            for sampler in samplers:
                sampler.set_epoch(math.floor(state.epoch + 1e-9))

    trainer = SentibenchTrainer(**kwargs)
    trainer.add_callback(EpochToSampler())
    return trainer
