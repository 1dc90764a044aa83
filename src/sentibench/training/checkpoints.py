"""Resumable training state: the run record, complete checkpoints, and the choice to resume or start afresh.

A checkpoint is usable only when the Trainer finished saving it (a marker written after the save,
holding the SHA-256 of every file), every file is present with those bytes, and its state names its own
step. A checkpoint damaged on disk since (a truncated weights file) is passed over for an older one.
A run resumes only the run it belongs to (same fingerprint of params, data and code) and only while
that run is unfinished; checkpoints of any other run are deleted with one line naming them and why.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from sentibench.core.atomic import atomic_path, write_json
from sentibench.core.contract import COMPLETE_MARKER
from sentibench.core.errors import UserError

RUN_FILE = "run.json"
CHECKPOINT_FILES = ("trainer_state.json", "model.safetensors", "optimizer.pt", "scheduler.pt")
PICKLES = ("optimizer.pt", "scheduler.pt", "scaler.pt", "rng_state*.pth")  # what the Trainer torch.loads on resume


def dataset_digest(path: Path) -> str:
    """Hash of the tokenised dataset's files: a checkpoint only resumes on the same data."""
    return files_digest(path, "*")


# The dvc.yaml of the checkout this code runs from (src/sentibench/training/ is three folders below it), not of the
# current directory: a run resumed from another directory is the same run.
PIPELINE = Path(__file__).resolve().parents[3] / "dvc.yaml"


def code_digest(stage: str, pipeline: Path = PIPELINE) -> str:
    """Hash of the source files the stage's deps in dvc.yaml list: a run resumes only on the code that started it,
    and an edit elsewhere in the package (a report, a docstring of another stage) costs it nothing. Those deps are
    the stage's whole import closure (tests/test_architecture.py). Outside a checkout (an installed package, no
    such stage in `pipeline`) the whole package is hashed instead: never resumed on other code, at the price of
    false alarms."""
    from ruamel.yaml import YAML

    try:
        deps = YAML(typ="safe", pure=True).load(pipeline.read_text())["stages"][stage]["deps"]
    except (OSError, KeyError, TypeError, ValueError):
        return files_digest(Path(__file__).resolve().parents[1], "*.py")
    digest = hashlib.sha256()
    for dep in sorted(d for d in deps if isinstance(d, str) and d.endswith(".py")):
        digest.update(dep.encode())
        digest.update((pipeline.parent / dep).read_bytes())
    return digest.hexdigest()


def files_digest(path: Path, pattern: str) -> str:
    """Hash of the names and bytes of the files under `path` that match `pattern`."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob(pattern) if p.is_file()):
        digest.update(file.relative_to(path).as_posix().encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def run_fingerprint(stage: str, relevant: dict[str, Any], data_digest: str) -> dict[str, str]:
    """What a checkpoint belongs to, part by part (so a discarded run can say which part differs): the params
    sections its stage reads, a digest of its inputs, and its code."""
    params = hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()
    return {"params": params, "data": data_digest, "code": code_digest(stage)}


def file_digests(folder: Path) -> dict[str, str]:
    """SHA-256 of each file of a checkpoint folder, the marker aside."""
    digests = {}
    for file in sorted(p for p in folder.iterdir() if p.is_file() and p.name != COMPLETE_MARKER):
        with file.open("rb") as handle:
            digests[file.name] = hashlib.file_digest(handle, "sha256").hexdigest()
    return digests


def checkpoint_problem(folder: Path) -> str | None:
    """Why a checkpoint cannot be resumed from (None: it can): unfinished save, missing file, other bytes."""
    if not (folder / COMPLETE_MARKER).is_file():
        return "its save never finished"
    missing = [name for name in CHECKPOINT_FILES if not (folder / name).is_file()]
    if missing:
        return f"{missing[0]} is missing"
    try:
        saved = json.loads((folder / COMPLETE_MARKER).read_text())["sha256"]
        state = json.loads((folder / "trainer_state.json").read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return "its marker or trainer_state.json is unreadable"
    current = file_digests(folder)
    changed = sorted(
        {name for name, digest in current.items() if saved.get(name) != digest} | set(saved) - set(current)
    )
    if changed:
        return f"{changed[0]} is damaged (its bytes differ from the ones saved)"
    if f"checkpoint-{state.get('global_step')}" != folder.name:
        return "its trainer_state.json names another step"
    return unsafe_pickle(folder)


def unsafe_pickle(folder: Path) -> str | None:
    """Why a pickle the Trainer would load from `folder` is refused (None: all load as data). They are loaded
    here as the Trainer loads them (`weights_only=True`): a file that would run code is refused by torch before
    anything runs, and named here, so that the run passes over the checkpoint instead of ending in a traceback
    at every resume."""
    import pickle

    import torch
    from transformers.trainer_pt_utils import safe_globals  # the numpy types the Trainer allows in rng_state

    for file in sorted(p for pattern in PICKLES for p in folder.glob(pattern)):
        try:
            with safe_globals():
                torch.load(file, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as err:
            kind = "would run code when loaded" if isinstance(err, pickle.UnpicklingError) else "does not load"
            return f"{file.name} {kind}: refused, not loaded ({type(err).__name__})"
    return None


def step_of(checkpoint: Path | None) -> int | None:
    """The global step a `checkpoint-N` folder was saved at; None for no checkpoint."""
    return int(checkpoint.name.removeprefix("checkpoint-")) if checkpoint else None


def newest_checkpoint(checkpoints: Path) -> Path | None:
    """The newest checkpoint that can be resumed from; a damaged one (saved, then changed) is named and passed over."""
    steps = (folder.name.removeprefix("checkpoint-") for folder in checkpoints.glob("checkpoint-*"))
    for step in sorted((int(s) for s in steps if s.isdigit()), reverse=True):
        folder = checkpoints / f"checkpoint-{step}"
        problem = checkpoint_problem(folder)
        if problem is None:
            return folder
        if (folder / COMPLETE_MARKER).is_file():
            print(f"{folder}: not resumable ({problem}); trying an older checkpoint", flush=True)
    return None


def write_record(checkpoints: Path, record: dict[str, Any]) -> None:
    """The run record beside the checkpoints (fingerprint, baseline evaluation, completion), written atomically."""
    write_json(checkpoints / RUN_FILE, record)


def why_not_resumed(record: dict[str, Any], fingerprint: dict[str, str]) -> str | None:
    """Why a run record's checkpoints cannot continue this run (None: they can)."""
    saved = record.get("fingerprint")
    if not isinstance(saved, dict):
        return "they were saved by an older sentibench, whose run record cannot be compared"
    differing = [part for part in fingerprint if saved.get(part) != fingerprint[part]]
    if differing:
        return f"they belong to a run with other {' and '.join(differing)}"
    if record.get("complete"):
        return "their run finished"
    return None


def find_resume(checkpoints: Path, fingerprint: dict[str, str]) -> tuple[Path | None, dict[str, Any]]:
    """The checkpoint to resume from and its run record; (None, {}) when training starts afresh."""
    try:
        record = json.loads((checkpoints / RUN_FILE).read_text())
    except (OSError, ValueError):
        return None, {}
    if why_not_resumed(record, fingerprint) is None:
        checkpoint = newest_checkpoint(checkpoints)
        if checkpoint is not None:
            return checkpoint, record
    return None, {}


def resume_point(checkpoints: Path, fingerprint: dict[str, str]) -> tuple[Path | None, dict[str, Any]]:
    """The checkpoint to resume from and the saved run record, or a clean slate (old checkpoints deleted, each
    named in one line with the reason).

    Called only after everything the run needs was validated, so a typo never costs saved progress. Only a
    folder a run made (its run record inside) or an empty one is cleared: never one the project does not own.
    """
    checkpoint, record = find_resume(checkpoints, fingerprint)
    if checkpoint is not None:
        return checkpoint, record
    if checkpoints.exists() and not (checkpoints / RUN_FILE).is_file() and any(checkpoints.iterdir()):
        raise UserError(
            f"{checkpoints}: holds files that no sentibench run wrote (no {RUN_FILE}); starting afresh would delete "
            "them: move them away or name another checkpoints folder"
        )
    saved = sorted((folder.name for folder in checkpoints.glob("checkpoint-*")), key=lambda name: (len(name), name))
    if saved:
        try:
            why = why_not_resumed(json.loads((checkpoints / RUN_FILE).read_text()), fingerprint)
        except (OSError, ValueError):
            why = f"its {RUN_FILE} is unreadable"
        why = why or "none of them is complete"
        print(f"{checkpoints}: deleting {', '.join(saved)} ({why}); training starts from step 0", flush=True)
    shutil.rmtree(checkpoints, ignore_errors=True)
    checkpoints.mkdir(parents=True)
    record = {"fingerprint": fingerprint}
    write_record(checkpoints, record)
    return None, record


def checkpoint_marker() -> Any:
    """A callback that marks a checkpoint complete once the Trainer's save returned, on every process.

    A process killed while saving leaves no marker, so its half-written checkpoint is never loaded. Under DDP
    each process writes its own RNG state into the folder: every process waits at a barrier before rank 0
    hashes the folder, so a file another rank is still writing is never sealed half-written.
    """
    from transformers import TrainerCallback

    class CheckpointMarker(TrainerCallback):
        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized():
                dist.barrier()
            if state.is_world_process_zero:
                folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
                record = {"step": state.global_step, "sha256": file_digests(folder)}
                with atomic_path(folder / COMPLETE_MARKER) as tmp:
                    tmp.write_text(json.dumps(record, indent=1))

    return CheckpointMarker()
