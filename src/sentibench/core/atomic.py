"""Atomic writes: an output is either the old one or the complete new one, never half-written.

Each helper writes into a temporary sibling (same filesystem, so `os.replace` is atomic)
and renames it over the target only after the content is complete.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sentibench.core.errors import UserError, disk_full, is_disk_full
from sentibench.core.faults import maybe_kill


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _default_mode(path: Path, directory: bool) -> None:
    """mkstemp/mkdtemp create private (0600/0700) entries; give outputs the usual permissions."""
    path.chmod((0o777 if directory else 0o666) & ~_umask())


def scratch_for(target: Path) -> tuple[Path, str]:
    """Where `target`'s temporaries live, and their name prefix.

    Inside a DVC repository they go to DVC's own scratch folder (`.dvc/tmp/sentibench`), named after the
    target's full path: a writer killed there, whose stage DVC then restores from its run-cache without
    running it, leaves nothing beside the outputs (the next write of the target removes it). Outside a
    repository, or on another filesystem than the target (a rename must stay atomic), beside the target.
    """
    parent = target.parent.resolve()
    for folder in (parent, *parent.parents):
        if (folder / ".dvc").is_dir():
            scratch = folder / ".dvc" / "tmp" / "sentibench"
            scratch.mkdir(parents=True, exist_ok=True)
            if scratch.stat().st_dev == parent.stat().st_dev:
                where = hashlib.sha256(str(parent / target.name).encode()).hexdigest()[:12]
                return scratch, f".{target.name}.{where}."
            break
    return target.parent, f".{target.name}."


def remove_leftovers(target: Path) -> None:
    """Temporaries of `target` left by a writer that was killed (SIGKILL skips every `finally`)."""
    for folder, prefix in {scratch_for(target), (target.parent, f".{target.name}.")}:
        for stale in folder.glob(f"{glob.escape(prefix)}*.tmp"):
            (shutil.rmtree if stale.is_dir() and not stale.is_symlink() else Path.unlink)(stale)
        for stale in folder.glob(f"{glob.escape(prefix)}*.old"):
            shutil.rmtree(stale, ignore_errors=True)


UNFINISHED_CHECKPOINT = "a checkpoint whose save did not finish may be left there: it has no marker, so no run reads it"


@contextmanager
def disk_checked(target: Path, left: str = "nothing was written") -> Iterator[None]:
    """Writes into `target` (an output, or the folder the Trainer saves checkpoints into): a full disk
    becomes one line naming it, with the free space and what was left behind (`left`), whichever writer
    failed and however it said so. Temporaries are removed first (the writers' `finally`)."""
    try:
        yield
    except UserError:
        raise
    except Exception as err:
        if is_disk_full(err, target):
            raise disk_full(target, left) from None
        raise


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary file path; on success it replaces `target`, on error it is removed."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(target)
    scratch, prefix = scratch_for(target)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=scratch)
    os.close(fd)
    tmp_path = Path(tmp)
    _default_mode(tmp_path, directory=False)
    with disk_checked(target):
        try:
            yield tmp_path
            maybe_kill(f"write-{target.name}")
            os.replace(tmp_path, target)
        finally:
            tmp_path.unlink(missing_ok=True)


@contextmanager
def atomic_dir(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory; on success it takes the place of `target`.

    A folder cannot be swapped in one system call, so between the two renames `target` is briefly
    absent (never half-written); a kill there leaves the old one under a `.old` name, removed next time.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(target)
    scratch, prefix = scratch_for(target)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=scratch))
    _default_mode(tmp, directory=True)
    with disk_checked(target):
        try:
            yield tmp
            maybe_kill(f"write-{target.name}")
            if target.exists():
                old = Path(tempfile.mkdtemp(prefix=prefix, suffix=".old", dir=scratch))
                os.replace(target, old)
                maybe_kill(f"swap-{target.name}")
                os.replace(tmp, target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def check_writable(*targets: str | os.PathLike[str]) -> None:
    """Fail before anything is written when any output cannot be: a stage's outputs change together or not at
    all, so a read-only metrics/ never leaves new predictions beside an old eval.json."""
    for target in map(Path, targets):
        folder = target.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir():
            raise UserError(f"{target}: cannot write there ({folder} is a file, not a folder)")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise UserError(f"{target}: cannot write there ({folder} is not writable)")


def write_json(target: str | os.PathLike[str], data: Any) -> None:
    """Write `data` as stable, human-readable JSON (sorted keys, UTF-8, trailing newline)."""
    write_text(target, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def write_text(target: str | os.PathLike[str], text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_csv(target: str | os.PathLike[str], records: list[dict[str, Any]]) -> None:
    """Write records (dicts with the same keys) as a UTF-8 CSV with a header row."""
    with atomic_path(target) as tmp, tmp.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
