"""`sentibench STAGE ...`: one entry point over the stage modules, for use outside `dvc repro`."""

from __future__ import annotations

import importlib
import sys

from sentibench.errors import run_cli

COMMANDS = {
    "prepare": "sentibench.prepare",
    "preprocess": "sentibench.preprocess",
    "train": "sentibench.train",
    "evaluate": "sentibench.evaluation",
    "profile": "sentibench.profile",
    "repro-check": "sentibench.reprocheck",
    "gpu-check": "sentibench.gpucheck",
    "compare": "sentibench.compare",
    "history": "sentibench.history",
    "aggregate": "sentibench.aggregate",
    "benchmark": "sentibench.benchmark",
    "levers": "sentibench.levers",
}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(f"usage: sentibench {{{','.join(COMMANDS)}}} [options]", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[sys.argv[1]])
    return run_cli(module.main, sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
