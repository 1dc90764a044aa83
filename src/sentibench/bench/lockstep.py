"""The measurement engine behind every speed comparison: two persistent worker processes (bench/worker.py)
stepped in lockstep, pair by pair, in alternating order, and the pairs turned into a ratio with an interval
and a verdict (bench/paired.py).

Why processes and lockstep: a variant that torch reads when it loads (portable kernels, kernel pins, another
revision's code) needs a process of its own, and variants measured one after the other meet different
machines: these VMs' speed moves by up to 1.5x within minutes. Stepped in turns, both sides meet the same
machine within a fraction of a second, and each pair is the same batch on both sides. Only one side works
at a time; between turns the engine waits SETTLE_S, so that the OpenMP threads of the side that just
finished (which spin for a while before they sleep) do not take the cores from the other.

It measures until the interval's half-width is within `target`, or `pairs` pairs, or `budget` seconds,
whichever comes first, after `warmup` pairs that are run and not counted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentibench.bench.paired import MIN_BLOCKS, Comparison, a_first, compare_speeds
from sentibench.bench.worker import MARK
from sentibench.core.errors import UserError
from sentibench.portable.runtime import unpinned_environment

WORKER = Path(__file__).with_name("worker.py")
SETTLE_S = 0.03  # a native side's OpenMP threads spin for a few ms after each op (portable/runtime.py)
CHECK_EVERY = 10  # pairs between two looks at the interval (each look sorts every pairwise block mean)


@dataclass(frozen=True)
class Plan:
    """How long one comparison measures, and what counts as a change."""

    budget: float = 60.0  # seconds of measuring per phase, after the workers have started
    pairs: int = 1000  # at most this many counted pairs per phase
    target: float = 0.015  # stop once the interval's half-width is within this fraction of the ratio
    threshold: float = 0.05  # "same" within ±this, faster or slower only beyond it (docs/comparing.md)
    warmup: int = 5  # pairs run first and not counted


@dataclass(frozen=True)
class Side:
    """One side of a comparison: its name and the arguments of its worker."""

    label: str
    arguments: Sequence[str]


class Worker:
    """A worker process and its pipes (state that is real: a process that must be ended)."""

    def __init__(self, side: Side) -> None:
        self.label = side.label
        self.log = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115 (closed by close())
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER), *side.arguments],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=unpinned_environment(),
        )

    def expect(self) -> dict[str, Any]:
        """The worker's next message; its last line of errors, as one line, when it ended instead."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith(MARK):
                return json.loads(line[len(MARK) :])
        self.process.wait()
        self.log.seek(0)
        last = (self.log.read().strip().splitlines() or ["no output"])[-1]
        raise UserError(
            f"speed comparison: the worker for {self.label!r} ended (exit {self.process.returncode}): {last}"
        )

    def ask(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.expect()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log.close()


@dataclass
class PhaseResult:
    """One phase's counted pairs (speeds in tokens/s) and the comparison they give."""

    phase: str
    comparison: Comparison
    a_speeds: list[float]
    b_speeds: list[float]
    b_seconds: list[float]
    b_extra_seconds: list[float]  # of B's seconds, those of the known extra work (a slowdown injected to test)

    def as_dict(self) -> dict[str, Any]:
        return {"phase": self.phase, **self.comparison.as_dict(), "a_speeds": self.a_speeds, "b_speeds": self.b_speeds}


def run_phase(
    workers: tuple[Worker, Worker], command: str, phase: str, plan: Plan, progress: Callable[[str], None]
) -> PhaseResult:
    """Pairs of `command` (one training step, or one inference batch, on each side) until the plan says stop."""
    a_speeds: list[float] = []
    b_speeds: list[float] = []
    b_seconds: list[float] = []
    extra: list[float] = []
    started = shown = time.monotonic()
    pair = 0
    while True:
        order = workers if a_first(pair) else workers[::-1]
        answers = {}
        for worker in order:
            time.sleep(SETTLE_S)
            answers[worker] = worker.ask(command)
        a, b = answers[workers[0]], answers[workers[1]]
        if pair >= plan.warmup:
            a_speeds.append(a["tokens"] / a["seconds"])
            b_speeds.append(b["tokens"] / b["seconds"])
            b_seconds.append(b["seconds"])
            extra.append(b.get("extra_seconds", 0.0))
        pair += 1
        counted = len(a_speeds)
        if counted % 2 or counted < 2 * MIN_BLOCKS:
            continue  # whole blocks only, and enough of them to say anything
        now = time.monotonic()
        out_of_time = now - started >= plan.budget or counted >= plan.pairs
        if out_of_time or counted % CHECK_EVERY == 0:
            comparison = compare_speeds(a_speeds, b_speeds, "tokens/s", plan.threshold)
            if now - shown >= 10 or out_of_time:
                progress(f"{phase}: {counted} pairs, {comparison.interval()}, {now - started:.0f} s")
                shown = now
            if out_of_time or comparison.noise <= plan.target:
                return PhaseResult(phase, comparison, a_speeds, b_speeds, b_seconds, extra)


def measure(
    a: Side, b: Side, plan: Plan, inference: bool = False, progress: Callable[[str], None] = print
) -> tuple[list[PhaseResult], dict[str, Any]]:
    """Training pairs (and, with `inference`, inference pairs) of two sides; what each worker reported when
    its training ended (weights hash, kernels), keyed by label."""
    workers = (Worker(a), Worker(b))
    try:
        for worker in workers:
            worker.expect()  # both have loaded and built their Trainer (started side by side: not measured)
        results = [run_phase(workers, "step", "training", plan, progress)]
        trained = {}
        for worker in workers:
            trained[worker.label] = worker.ask("end")["trained"]
        if inference:
            for worker in workers:
                worker.expect()  # its inference batches are ready
            results.append(run_phase(workers, "infer", "inference", plan, progress))
        for worker in workers:
            worker.process.stdin.close()  # type: ignore[union-attr]
            worker.process.wait()
        return results, trained
    finally:
        for worker in workers:
            worker.close()


def plan_arguments(parser: argparse.ArgumentParser, budget: float) -> None:
    """The options of every paired measurement: how long, how many pairs, how precise, what counts."""
    plan = Plan(budget=budget)
    parser.add_argument("--budget", type=float, default=plan.budget, help="seconds of measuring per comparison")
    parser.add_argument("--pairs", type=int, default=plan.pairs, help="at most this many pairs per comparison")
    parser.add_argument("--target", type=float, default=plan.target, help="stop once the interval is within ±this")
    parser.add_argument("--threshold", type=float, default=plan.threshold, help="a change smaller than this is same")


def plan_from(args: argparse.Namespace, warmup: int = Plan.warmup) -> Plan:
    """The plan the options give; a value that is not above 0 is one line naming the option."""
    for name in ("budget", "pairs", "target", "threshold"):
        if getattr(args, name) <= 0:
            raise UserError(f"--{name}: must be above 0; got {getattr(args, name)}")
    return Plan(budget=args.budget, pairs=args.pairs, target=args.target, threshold=args.threshold, warmup=warmup)
