"""One measurement in a process of its own: for a lever torch reads when it loads (kernel pins, portable
mode), which a running process cannot change. The child starts without this process's kernel variables
and sets those its own params ask for; its last line of output is the measurement, as JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from sentibench.core.errors import UserError
from sentibench.portable.runtime import unpinned_environment


def measure_in_child(module: str, arguments: Sequence[str], what: str) -> dict[str, Any]:
    """`python -m module *arguments` in a fresh process; its last output line, parsed; one line on failure."""
    command = [sys.executable, "-m", module, *arguments]
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=unpinned_environment())
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"{what} failed: {last}")
    return json.loads(done.stdout.strip().splitlines()[-1])
