"""A fine-tuning run with the Hugging Face `Trainer`, as the seed does, resumably: the one call the train stage makes.

Four steps, each its own function: `prepare_run` validates everything and finds the checkpoint to
resume (only then may old checkpoints go), `fit` trains, `save` writes the final model atomically,
and `report` turns the run into quality metrics and timings. Checkpoints live in a persistent DVC
output; a run of other params or data never continues them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentibench.core.atomic import UNFINISHED_CHECKPOINT, atomic_dir, disk_checked
from sentibench.core.contract import load_data_tokenizer, load_tokenized
from sentibench.core.faults import kill_point_callback
from sentibench.core.modeling import save_tokenizer
from sentibench.core.padding import padding_collator
from sentibench.core.params import Params, as_dict
from sentibench.portable.runtime import apply_runtime, runtime_info
from sentibench.training.checkpoints import (
    checkpoint_marker,
    dataset_digest,
    find_resume,
    resume_point,
    run_fingerprint,
    step_of,
    write_record,
)
from sentibench.training.curves import dvclive_callback, mean_logged_loss, sort_summary
from sentibench.training.measures import padding_counter, steps_to_target, target_timer
from sentibench.training.trainer import build_trainer, training_arguments


@dataclass
class Run:
    """One training run between its steps: what was loaded, and where it resumes from."""

    params: Params
    dataset: Any
    tokenizer: Any
    trainer: Any
    padding: Any
    timer: Any
    checkpoint: Path | None
    record: dict[str, Any]
    is_main: bool
    pretrained: Path | None

    @property
    def resume_step(self) -> int | None:
        return step_of(self.checkpoint)


def prepare_run(
    params: Params,
    tokenized_dir: Path,
    checkpoints: Path,
    dvclive_dir: Path,
    extra_callbacks: Sequence[Any] = (),
    pretrained_dir: Path | None = None,
) -> Run:
    """Load and validate data, tokenizer and model, then choose between resuming and a clean start.

    The model is built before `checkpoints/` is touched: a wrong `model.config` value fails here and the
    progress of an interrupted run stays resumable.
    """
    from transformers import set_seed

    from sentibench.core.modeling import load_model
    from sentibench.scoring.metrics import compute_accuracy

    dataset = load_tokenized(tokenized_dir)
    label_names = dataset["train"].features["label"].names
    tokenizer = load_data_tokenizer(tokenized_dir)
    # The pretrain stage leaves only a note when it was skipped; its encoder, when it ran, is the start.
    found = pretrained_dir is not None and (pretrained_dir / "config.json").is_file()
    pretrained = pretrained_dir if found and params.model.source == "config" else None
    inputs = dataset_digest(tokenized_dir) + (dataset_digest(pretrained) if pretrained else "")
    sections = {"model": as_dict(params.model), "train": as_dict(params.train), "runtime": as_dict(params.runtime)}
    fingerprint = run_fingerprint("train", sections, inputs)
    args = training_arguments(params, checkpoints)  # joins the process group under torchrun
    set_seed(params.train.seed)
    model = load_model(params.model, len(tokenizer), label_names, pretrained)
    is_main = args.process_index == 0
    with args.main_process_first(desc="checkpoint check"):  # the others then see the same folder
        checkpoint, record = (
            resume_point(checkpoints, fingerprint) if is_main else find_resume(checkpoints, fingerprint)
        )
    curves = [dvclive_callback(dvclive_dir, step_of(checkpoint))] if is_main else []
    padding, timer = padding_counter(model, checkpoint), target_timer(params.train.target_accuracy)
    trainer = build_trainer(
        params,
        model=model,
        args=args,
        train_dataset=dataset["train"],
        eval_dataset=dataset["validation"],
        compute_metrics=compute_accuracy,
        data_collator=padding_collator(tokenizer),
        processing_class=tokenizer,
        callbacks=[*curves, padding, timer, checkpoint_marker(), kill_point_callback(), *extra_callbacks],
    )
    return Run(params, dataset, tokenizer, trainer, padding, timer, checkpoint, record, is_main, pretrained)


def final_evaluation(trainer: Any) -> dict[str, Any]:
    """The evaluation at the last step: the Trainer's own when it made one there, else a new one."""
    evals = [entry for entry in trainer.state.log_history if "eval_accuracy" in entry]
    if evals and evals[-1].get("step") == trainer.state.global_step:
        return evals[-1]
    return trainer.evaluate()


def fit(run: Run, checkpoints: Path) -> tuple[Any, float, dict[str, Any]]:
    """Evaluate the untrained model (a fresh run only), train, evaluate at the end: (output, seconds, final eval)."""
    if run.checkpoint is None:
        if run.is_main:
            print("train: evaluating the untrained model (baseline)", flush=True)
        run.record["baseline"] = run.trainer.evaluate()
        if run.is_main:
            write_record(checkpoints, run.record)
    else:
        print(f"train: resuming from {run.checkpoint}", flush=True)
    started = time.perf_counter()
    with disk_checked(checkpoints, UNFINISHED_CHECKPOINT):
        output = run.trainer.train(resume_from_checkpoint=str(run.checkpoint) if run.checkpoint else None)
    wall = time.perf_counter() - started
    return output, wall, final_evaluation(run.trainer)


def save(run: Run, model_dir: Path, checkpoints: Path, dvclive_dir: Path) -> None:
    """Write the final model and tokenizer as one atomic folder, then mark the run complete."""
    if not run.is_main:
        return
    sort_summary(dvclive_dir / "metrics.json")
    with atomic_dir(model_dir) as tmp:
        run.trainer.save_model(str(tmp))
        (tmp / "training_args.bin").unlink(missing_ok=True)  # a pickle; the params say the same in text
        save_tokenizer(run.tokenizer, tmp)
    run.record["complete"] = True
    write_record(checkpoints, run.record)


def report(run: Run, output: Any, wall: float, final: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Quality metrics (deterministic) and timings (not): kept apart so quality files compare byte for byte."""
    from sentibench.core.modeling import count_parameters

    trainer, train = run.trainer, run.dataset["train"]
    epochs = run.params.train.epochs
    # A resumed run's wall time covers only the steps it ran, so its rates count only those steps.
    share = (output.global_step - (run.resume_step or 0)) / output.global_step
    real_tokens = summed_over_processes(run.padding.real_tokens_this_process(), trainer.args.world_size)
    shards = shard_report(trainer, len(train)) if trainer.args.world_size > 1 else None
    metrics = {
        "train_loss": mean_logged_loss(trainer.state.log_history),
        "baseline_eval_accuracy": run.record["baseline"]["eval_accuracy"],
        "baseline_eval_loss": run.record["baseline"]["eval_loss"],
        "eval_accuracy": final["eval_accuracy"],
        "eval_loss": final["eval_loss"],
        "global_step": output.global_step,
        "epochs": epochs,
        "train_rows": len(train),
        "eval_rows": len(run.dataset["validation"]),
        "num_parameters": count_parameters(trainer.model),
        "initialised_from": "pretrain" if run.pretrained else run.params.model.source,
        "padding_efficiency": run.padding.efficiency(),
        "target_accuracy": run.params.train.target_accuracy,
        "steps_to_target": steps_to_target(trainer.state.log_history, run.params.train.target_accuracy),
        **({"distributed": shards} if shards else {}),
    }
    timing = {
        "train_runtime_s": round(output.metrics["train_runtime"], 3),
        "train_samples_per_second": round(len(train) * epochs * share / wall, 3),
        "train_tokens_per_second": round(real_tokens / wall, 1),
        "resumed_from_step": run.resume_step or 0,
        "seconds_to_target": None if run.timer.seconds is None else round(run.timer.seconds, 3),
        **evaluation_share(trainer.state.log_history, wall, run.resume_step or 0),
        **runtime_info(),
    }
    return metrics, timing


def evaluation_share(log_history: list[dict[str, Any]], wall: float, resume_step: int) -> dict[str, float]:
    """Seconds spent evaluating during this process's training (the Trainer logs each evaluation's runtime)
    and their share of its wall time; a resumed run's restored history holds evaluations it did not run."""
    seconds = sum(e["eval_runtime"] for e in log_history if "eval_runtime" in e and e.get("step", 0) > resume_step)
    return {"evaluation_seconds": round(seconds, 3), "evaluation_share": round(seconds / wall, 4) if wall else 0.0}


def finetune(
    params: Params,
    tokenized_dir: Path,
    checkpoints: Path,
    model_dir: Path,
    dvclive_dir: Path,
    extra_callbacks: Sequence[Any] = (),
    pretrained_dir: Path | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train (from the pretrain stage's encoder when `pretrained_dir` holds one), save the final model and
    tokenizer; return the quality metrics and the timings."""
    apply_runtime(params.runtime)
    run = prepare_run(params, tokenized_dir, checkpoints, dvclive_dir, extra_callbacks, pretrained_dir)
    output, wall, final = fit(run, checkpoints)
    metrics, timing = report(run, output, wall, final)
    save(run, model_dir, checkpoints, dvclive_dir)
    return metrics, timing


def summed_over_processes(value: int, world_size: int) -> int:
    """A count summed over the DDP processes (each trains on its own rows); the count itself in one process."""
    if world_size == 1:
        return value
    import torch
    import torch.distributed as dist

    total = torch.tensor([value], dtype=torch.long)
    dist.all_reduce(total)
    return int(total.item())


def shard_report(trainer: Any, train_rows: int) -> dict[str, Any]:
    """Which training rows each process's data loader yields in one epoch, gathered on every rank, and whether
    the processes end with the same weights.

    Rows are identified by their token ids, so the report shows that the processes split the
    data between them (DDP repeats a few rows to give every process equally many batches).
    """
    import torch.distributed as dist

    seen = set()
    for batch in trainer.get_train_dataloader():
        for ids, mask in zip(batch["input_ids"].tolist(), batch["attention_mask"].tolist(), strict=True):
            seen.add(hash(tuple(i for i, m in zip(ids, mask, strict=True) if m)))
    replicas: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(replicas, weights_digest(trainer.model))
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, seen)
    union = set().union(*gathered)
    overlap = sum(len(a & b) for i, a in enumerate(gathered) for b in gathered[i + 1 :])
    return {
        "processes": len(gathered),
        "rows_per_process": [len(rows) for rows in gathered],
        "rows_seen": len(union),
        "rows_in_two_processes": overlap,
        "train_rows": train_rows,
        "replicas_identical": len(set(replicas)) == 1,  # DDP averaged every step's gradients
    }


def weights_digest(model: Any) -> str:
    """SHA-256 of every parameter's bytes, in the model's order."""
    import hashlib

    digest = hashlib.sha256()
    for parameter in model.parameters():
        digest.update(parameter.detach().cpu().numpy().tobytes())
    return digest.hexdigest()
