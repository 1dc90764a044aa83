"""The one way sentibench runs git: reading revisions, copying a repository, fingerprinting a run."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from sentibench.core.contract import RUN_OUTPUTS
from sentibench.core.errors import UserError

TIMEOUT_S = 120


def git(repo: Path, *args: str, text: bool = True) -> subprocess.CompletedProcess[Any]:
    """Run git in `repo` and return what it did; a missing git or a hung call is a failed command, not a crash.
    `text=False` returns bytes, for file contents that need not be UTF-8."""
    try:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=text, timeout=TIMEOUT_S, check=False)
    except OSError as err:
        return subprocess.CompletedProcess(["git", *args], 127, "", str(err))
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(["git", *args], 124, "", f"timed out after {TIMEOUT_S} s")


def git_output(repo: Path, *args: str) -> str:
    """git's standard output; a failure is a one-line UserError naming the command and git's last words."""
    done = git(repo, *args)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise UserError(f"{repo}: git {args[0]} failed: {last}")
    return done.stdout


def changed_files(repo: Path) -> list[str] | None:
    """Code, params or data that differ from HEAD (the pipeline's own outputs do not count); None when git
    cannot say (not a repository, no git)."""
    excludes = [f":(exclude){path}" for path in RUN_OUTPUTS]
    status = git(repo, "status", "--porcelain", "--untracked-files=normal", "--", ".", *excludes)
    if status.returncode != 0:
        return None
    return [line[3:] for line in status.stdout.splitlines() if line.strip()]
