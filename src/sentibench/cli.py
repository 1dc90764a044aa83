"""`sentibench STAGE ...`: one entry point over the stage modules, for use outside `dvc repro`."""

from __future__ import annotations

import importlib
import sys

from sentibench.core.errors import run_cli

COMMANDS = {
    "prepare": "sentibench.stages.prepare",
    "preprocess": "sentibench.stages.preprocess",
    "train": "sentibench.stages.train",
    "pretrain": "sentibench.stages.pretrain",
    "evaluate": "sentibench.stages.evaluation",
    "package": "sentibench.stages.package",
    "predict": "sentibench.use.predict",
    "profile": "sentibench.core.profile",
    "repro-check": "sentibench.checks.reprocheck",
    "verify": "sentibench.checks.verify",
    "ledger": "sentibench.checks.ledger",
    "gpu-check": "sentibench.checks.gpucheck",
    "compare": "sentibench.runs.compare",
    "history": "sentibench.runs.history",
    "aggregate": "sentibench.runs.aggregate",
    "report": "sentibench.runs.report",
    "exps": "sentibench.runs.exps",
    "benchmark": "sentibench.bench.benchmark",
    "levers": "sentibench.bench.levers",
    "scaling": "sentibench.bench.scaling",
}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(f"usage: sentibench {{{','.join(COMMANDS)}}} [options]", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[sys.argv[1]])
    return run_cli(module.main, sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
