"""Fault injection for the kill-anywhere check: SIGKILL this process at a named point.

`SENTIBENCH_KILL_AT=train:step-35` kills the train stage right after step 35; points are
`<stage>:load` (params read), `<stage>:step-<n>` (after a training step), `<stage>:write-<name>`
(an output's content is complete, not yet renamed into place) and `<stage>:swap-<name>` (between
the two renames of a folder output). The signal is SIGKILL (nothing runs after it), or SIGTERM with
`@TERM` after the point (what a CI cancel or `kill` sends: the stage cleans up and exits 143), sent to
the parent process instead with `@TERM-PARENT` (a DDP worker signalling the torchrun launcher, as a cancel
does). Unset, as in every normal run, nothing happens.
`sentibench repro-check --kill-anywhere` walks a chain of them through one pipeline; with
`SENTIBENCH_KILL_RECORD=FILE` the process writes the point into FILE just before it kills itself, so the
check counts a point as reached only when the process died there, not when it failed some other way.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

VARIABLE = "SENTIBENCH_KILL_AT"
RECORD = "SENTIBENCH_KILL_RECORD"


def stage_name() -> str:
    """The running stage: the last part of the `python -m` module (sentibench.stages.train -> train)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return spec.name.rsplit(".", 1)[-1] if spec and spec.name else "main"


def maybe_kill(event: str) -> None:
    wanted = os.environ.get(VARIABLE)
    point, _, name = (wanted or "").partition("@")
    if wanted and point == f"{stage_name()}:{event}":
        sys.stdout.flush()
        record = os.environ.get(RECORD)
        if record:
            with open(record, "a", encoding="utf-8") as out:
                out.write(f"{wanted}\n")
        signal_name, _, target = (name or "KILL").partition("-")
        os.kill(os.getppid() if target == "PARENT" else os.getpid(), getattr(signal, f"SIG{signal_name}"))


def kill_point_callback() -> Any:
    """A Trainer callback that offers a kill point after every optimisation step."""
    from transformers import TrainerCallback

    class KillPoint(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            maybe_kill(f"step-{state.global_step}")

    return KillPoint()
