"""Stage `train`: fine-tune with the Hugging Face `Trainer`, as the seed does, resumably.

Checkpoints live in a persistent DVC output. A run that was interrupted resumes from its
newest complete checkpoint; checkpoints of another configuration, or of a run that finished,
are discarded so that a rerun never silently continues someone else's training.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sentibench.atomic import atomic_dir, write_json
from sentibench.environment import environment
from sentibench.errors import UserError, run_cli
from sentibench.params import DEFAULT_PARAMS, Params, as_dict, load_params
from sentibench.preprocess import DEFAULT_OUT as TOKENIZED_DIR
from sentibench.runtime import apply_runtime, runtime_info

DEFAULT_CHECKPOINTS = Path("checkpoints")
DEFAULT_MODEL_DIR = Path("models/final")
DEFAULT_METRICS = Path("metrics/train.json")
DEFAULT_TIMING = Path("metrics/train_timing.json")
DEFAULT_ENV = Path("metrics/env.json")
DEFAULT_DVCLIVE = Path("dvclive")
RUN_FILE = "run.json"
CHECKPOINT_FILES = ("trainer_state.json", "model.safetensors", "optimizer.pt", "scheduler.pt")
COMPLETE_MARKER = "sentibench-complete"  # written only after the Trainer has finished saving
TIMING_KEYS = ("runtime", "per_second", "preparation_time")  # kept out of the curves: they never repeat
# The Trainer's end-of-run train_loss only averages the steps since a resume; train.json uses mean_logged_loss.
UNRESUMABLE_KEYS = ("train_loss",)


def load_tokenized(path: Path) -> Any:
    from datasets import load_from_disk

    if not (path / "dataset_dict.json").is_file():
        raise UserError(f"{path}: no tokenised dataset; run the preprocess stage first")
    return load_from_disk(str(path))


def dataset_digest(path: Path) -> str:
    """Hash of the tokenised dataset's files: a checkpoint only resumes on the same data."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(file.relative_to(path).as_posix().encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def run_fingerprint(params: Params, data_digest: str) -> str:
    relevant = {"model": as_dict(params.model), "train": as_dict(params.train), "runtime": as_dict(params.runtime)}
    return hashlib.sha256(json.dumps([relevant, data_digest], sort_keys=True).encode()).hexdigest()


def is_complete_checkpoint(folder: Path) -> bool:
    """Usable only if the save finished (marker), every file is there and the state names its own step."""
    if not all((folder / name).is_file() for name in (*CHECKPOINT_FILES, COMPLETE_MARKER)):
        return False
    try:
        state = json.loads((folder / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return False
    return f"checkpoint-{state.get('global_step')}" == folder.name


def newest_checkpoint(checkpoints: Path) -> Path | None:
    found = []
    for folder in checkpoints.glob("checkpoint-*"):
        step = folder.name.removeprefix("checkpoint-")
        if step.isdigit() and is_complete_checkpoint(folder):
            found.append((int(step), folder))
    return max(found)[1] if found else None


def write_record(checkpoints: Path, record: dict[str, Any]) -> None:
    """The run record beside the checkpoints: fingerprint, baseline evaluation, completion."""
    (checkpoints / RUN_FILE).write_text(json.dumps(record, indent=2))


def find_resume(checkpoints: Path, fingerprint: str) -> tuple[Path | None, dict[str, Any]]:
    """The checkpoint to resume from and its run record; (None, {}) when training starts afresh."""
    try:
        record = json.loads((checkpoints / RUN_FILE).read_text())
    except (OSError, ValueError):
        return None, {}
    if record.get("fingerprint") == fingerprint and not record.get("complete"):
        checkpoint = newest_checkpoint(checkpoints)
        if checkpoint is not None:
            return checkpoint, record
    return None, {}


def resume_point(checkpoints: Path, fingerprint: str) -> tuple[Path | None, dict[str, Any]]:
    """The checkpoint to resume from and the saved run record, or a clean slate (old checkpoints deleted)."""
    checkpoint, record = find_resume(checkpoints, fingerprint)
    if checkpoint is not None:
        return checkpoint, record
    shutil.rmtree(checkpoints, ignore_errors=True)
    checkpoints.mkdir(parents=True)
    record = {"fingerprint": fingerprint}
    write_record(checkpoints, record)
    return None, record


def training_arguments(params: Params, output_dir: Path, **overrides: Any) -> Any:
    """The seed's TrainingArguments from params; the benchmark overrides scheduling of evals and saves."""
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
        dataloader_num_workers=t.dataloader_workers,
        train_sampling_strategy="group_by_length" if t.group_by_length else "random",
        bf16=t.bf16,
    )
    return TrainingArguments(**{**arguments, **overrides})


def checkpoint_marker() -> Any:
    """A callback that marks a checkpoint complete once the Trainer's save returned.

    A process killed while saving leaves no marker, so its half-written checkpoint is never loaded.
    """
    from transformers import TrainerCallback

    class CheckpointMarker(TrainerCallback):
        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.is_world_process_zero:
                folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
                (folder / COMPLETE_MARKER).write_text(str(state.global_step))

    return CheckpointMarker()


def truncate_curves(directory: Path, last_step: int) -> None:
    """Drop curve rows logged after the checkpoint a run resumes from; they are logged again."""
    for tsv in directory.glob("plots/metrics/**/*.tsv"):
        lines = tsv.read_text().splitlines(keepends=True)
        kept = [lines[0], *(line for line in lines[1:] if int(line.split("\t", 1)[0]) <= last_step)]
        tsv.write_text("".join(kept))


def sort_summary(summary: Path) -> None:
    """DVCLive's summary keeps insertion order, which a resumed run changes; sorted, both runs match."""
    if summary.is_file():
        data = json.loads(summary.read_text())
        summary.write_text(json.dumps(data, indent=4, sort_keys=True) + "\n")


def dvclive_callback(directory: Path, resume_step: int | None) -> Any:
    """DVCLive's own Trainer callback (what `report_to='dvclive'` builds), set up for a pipeline stage.

    The default Live would try to save a DVC experiment and rewrite dvc.yaml, and counts its
    steps per log call; here the curves are indexed by the Trainer's global step, so evaluation
    points line up with `eval_steps`, timings stay out (so the curves of two runs are identical),
    and a resumed run continues its curves from the checkpoint instead of restarting them.
    """
    from transformers.integrations import DVCLiveCallback

    from dvclive import Live

    class GlobalStepDVCLiveCallback(DVCLiveCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            self.live.step = state.global_step
            logs = {
                k: v
                for k, v in (logs or {}).items()
                if k not in UNRESUMABLE_KEYS and not any(t in k for t in TIMING_KEYS)
            }
            super().on_log(args, state, control, logs=logs, **kwargs)

    if resume_step is not None:
        truncate_curves(directory, resume_step)
    live = Live(dir=str(directory), resume=resume_step is not None, save_dvc_exp=False, dvcyaml=False, report=None)
    return GlobalStepDVCLiveCallback(live=live)


def mean_logged_loss(log_history: list[dict[str, Any]]) -> float | None:
    """Mean training loss over the logged steps, from the history a checkpoint restores.

    Each logged `loss` averages the steps since the previous log, so weighting by that span gives
    the mean over every step up to the last log, the same whether or not the run was resumed.
    """
    total, steps, last = 0.0, 0, 0
    for entry in log_history:
        if "loss" in entry and "step" in entry:
            span = entry["step"] - last
            total, steps, last = total + entry["loss"] * span, steps + span, entry["step"]
    return total / steps if steps else None


def drop_loading_flags(config_file: Path) -> None:
    """Transformers records how the tokenizer was loaded (local_files_only follows HF_HUB_OFFLINE), which
    is a property of the run's environment, not of the tokenizer; without it, a container that runs
    offline and a host that does not save the same bytes."""
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config.pop("local_files_only", None)
    config_file.write_text(json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def final_evaluation(trainer: Any) -> dict[str, Any]:
    """The evaluation at the last step: the Trainer's own when it made one there, else a new one."""
    evals = [entry for entry in trainer.state.log_history if "eval_accuracy" in entry]
    if evals and evals[-1].get("step") == trainer.state.global_step:
        return evals[-1]
    return trainer.evaluate()


def train(
    params: Params,
    tokenized_dir: Path,
    checkpoints: Path,
    model_dir: Path,
    dvclive_dir: Path,
    extra_callbacks: Sequence[Any] = (),
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train, save the final model and tokenizer; return the quality metrics and the timings."""
    from transformers import DataCollatorWithPadding, Trainer, set_seed

    from sentibench.modeling import count_parameters, load_model, load_tokenizer
    from sentibench.scoring import compute_accuracy

    apply_runtime(params.runtime)
    dataset = load_tokenized(tokenized_dir)
    label_names = dataset["train"].features["label"].names
    tokenizer = load_tokenizer(params.model)
    fingerprint = run_fingerprint(params, dataset_digest(tokenized_dir))
    args = training_arguments(params, checkpoints)  # joins the process group under torchrun
    is_main = args.process_index == 0
    with args.main_process_first(desc="checkpoint check"):  # the others then see the same folder
        checkpoint, record = (
            resume_point(checkpoints, fingerprint) if is_main else find_resume(checkpoints, fingerprint)
        )
    resume_step = int(checkpoint.name.removeprefix("checkpoint-")) if checkpoint else None

    set_seed(params.train.seed)
    model = load_model(params.model, len(tokenizer), label_names)
    curves = [dvclive_callback(dvclive_dir, resume_step)] if is_main else []
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=dataset["train"],
        eval_dataset=dataset["validation"],
        compute_metrics=compute_accuracy,
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        callbacks=[*curves, checkpoint_marker(), *extra_callbacks],
    )
    if checkpoint is None:
        if is_main:
            print("train: evaluating the untrained model (baseline)", flush=True)
        record["baseline"] = trainer.evaluate()
        if is_main:
            write_record(checkpoints, record)
    else:
        print(f"train: resuming from {checkpoint}", flush=True)
    started = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    wall = time.perf_counter() - started
    final = final_evaluation(trainer)
    shards = shard_report(trainer, len(dataset["train"])) if args.world_size > 1 else None
    if is_main:
        sort_summary(dvclive_dir / "metrics.json")
        with atomic_dir(model_dir) as tmp:
            trainer.save_model(str(tmp))
            (tmp / "training_args.bin").unlink(missing_ok=True)  # a pickle; the params say the same in text
            tokenizer.save_pretrained(str(tmp))
            drop_loading_flags(tmp / "tokenizer_config.json")
        record["complete"] = True
        write_record(checkpoints, record)

    epochs = params.train.epochs
    train_rows = len(dataset["train"])
    # A resumed run's wall time covers only the steps it ran, so its rates count only those steps.
    share = (output.global_step - (resume_step or 0)) / output.global_step
    real_tokens = sum(len(ids) for ids in dataset["train"]["input_ids"]) * epochs * share
    metrics = {
        "train_loss": mean_logged_loss(trainer.state.log_history),
        "baseline_eval_accuracy": record["baseline"]["eval_accuracy"],
        "baseline_eval_loss": record["baseline"]["eval_loss"],
        "eval_accuracy": final["eval_accuracy"],
        "eval_loss": final["eval_loss"],
        "global_step": output.global_step,
        "epochs": epochs,
        "train_rows": train_rows,
        "eval_rows": len(dataset["validation"]),
        "num_parameters": count_parameters(model),
        **({"distributed": shards} if shards else {}),
    }
    timing = {
        "train_runtime_s": round(output.metrics["train_runtime"], 3),
        "train_samples_per_second": round(train_rows * epochs * share / wall, 3),
        "train_tokens_per_second": round(real_tokens / wall, 1),
        "resumed_from_step": resume_step or 0,
        **runtime_info(),
    }
    return metrics, timing


def shard_report(trainer: Any, train_rows: int) -> dict[str, Any]:
    """Which training rows each process's data loader yields in one epoch, gathered on every rank.

    Rows are identified by their token ids, so the report shows that the processes split the
    data between them (DDP repeats a few rows to give every process equally many batches).
    """
    import torch.distributed as dist

    seen = set()
    for batch in trainer.get_train_dataloader():
        for ids, mask in zip(batch["input_ids"].tolist(), batch["attention_mask"].tolist(), strict=True):
            seen.add(hash(tuple(i for i, m in zip(ids, mask, strict=True) if m)))
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
    }


def launch_distributed(processes: int, argv: Sequence[str]) -> None:
    """Re-run this stage under torchrun with `processes` workers on this host (DDP; gloo on CPU)."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    try:
        torchrun(["--standalone", f"--nproc-per-node={processes}", "-m", "sentibench.train", *argv])
    except ChildFailedError as err:
        raise UserError(
            f"distributed training with {processes} processes failed: {err.get_first_failure()[1].message}"
        ) from None


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS)
    parser.add_argument("--tokenized", type=Path, default=TOKENIZED_DIR)
    parser.add_argument("--checkpoints", type=Path, default=DEFAULT_CHECKPOINTS)
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--dvclive", type=Path, default=DEFAULT_DVCLIVE)
    parser.add_argument("--metrics", type=Path, default=DEFAULT_METRICS)
    parser.add_argument("--timing", type=Path, default=DEFAULT_TIMING)
    parser.add_argument("--env", type=Path, default=DEFAULT_ENV)
    args = parser.parse_args(argv)
    params = load_params(args.params)
    apply_runtime(params.runtime)  # before anything imports torch
    if params.train.processes > 1 and "LOCAL_RANK" not in os.environ:
        launch_distributed(params.train.processes, sys.argv[1:] if argv is None else argv)
        return
    metrics, timing = train(params, args.tokenized, args.checkpoints, args.model_dir, args.dvclive)
    if int(os.environ.get("RANK", "0")) != 0:
        return
    write_json(args.metrics, metrics)
    write_json(args.timing, timing)
    write_json(args.env, environment(params.runtime))
    print(
        f"train: accuracy {metrics['baseline_eval_accuracy']:.4f} -> {metrics['eval_accuracy']:.4f} on validation, "
        f"{metrics['global_step']} steps in {timing['train_runtime_s']:.0f} s",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(run_cli(main))
