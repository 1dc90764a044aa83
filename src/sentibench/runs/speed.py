"""Two revisions' speed, measured side by side now: `sentibench compare A B --measure` and the report's speed rows.

Each revision's code is taken from git into a scratch tree (its `src/` and `params.yaml`; the workspace is
used as it is), one worker process runs each (bench/worker.py with `--src`), and their training steps, then
their inference batches, are stepped in lockstep on the same batches of this checkout's tokenized data
(bench/lockstep.py). Both run as the benchmark stage measures: this CPU's fastest kernels, not
deterministic. Timings committed by two different runs cannot say this; a paired measurement can.

Both revisions run on this venv's libraries, so their locks must agree: when `requirements/runtime.txt` or
the torch lock differ, the comparison refuses (exit 2) rather than blame one revision's code for the other's
libraries. Measure such a pair in two clones, each set up from its own locks, with `sentibench levers`-style
A/A runs to learn the noise (docs/comparing.md).
"""

from __future__ import annotations

import io
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from sentibench.bench.lockstep import PhaseResult, Plan, Side, measure
from sentibench.core.contract import TOKENIZED
from sentibench.core.errors import UserError
from sentibench.core.git import git
from sentibench.core.tables import render_table
from sentibench.runs.revisions import WORKSPACE, read_text, resolve

LOCKS = ("requirements/runtime.txt", "requirements/torch-cpu.txt")
INFERENCE_BATCH = 32  # rows per inference batch: a serving batch of the benchmark's sizes


def lock_difference(repo: Path, a: str, b: str) -> str | None:
    """The first lock file that differs between the two revisions (None: same libraries for both)."""
    ca, cb = resolve(repo, a), resolve(repo, b)
    return next((path for path in LOCKS if read_text(repo, ca, path) != read_text(repo, cb, path)), None)


def revision_tree(repo: Path, revision: str, scratch: Path) -> Path:
    """A folder holding the revision's `src/` and `params.yaml` (the repository itself for the workspace)."""
    commit = resolve(repo, revision)
    if commit == WORKSPACE:
        return repo
    done = git(repo, "archive", "--format=tar", commit, "src", "params.yaml", text=False)
    if done.returncode != 0:
        raise UserError(f"{revision}: has no src/ and params.yaml to measure (git archive failed)")
    tree = scratch / commit[:12]
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        archive.extractall(tree, filter="data")
    return tree


def measure_revisions(
    repo: Path, a: str, b: str, plan: Plan, tokenized: Path | None = None
) -> tuple[list[PhaseResult], dict[str, Any]]:
    """Training and inference pairs of revision A against revision B, on this machine, now; and what each
    side's worker said when its training ended (the code it ran, its weights)."""
    differs = lock_difference(repo, a, b)
    if differs:
        raise UserError(
            f"{differs} differs between {a} and {b}: both would run on this venv's libraries, so the measurement "
            "would blame one revision's code for the other's libraries; set up a clone for each (docs/comparing.md)"
        )
    data = tokenized or repo / TOKENIZED
    if not (data / "dataset_dict.json").is_file():
        raise UserError(f"{data}: no tokenized data set to measure on (run `dvc repro preprocess` first)")
    with tempfile.TemporaryDirectory(prefix="sentibench-speed-") as scratch:
        sides = []
        for label in (a, b):
            tree = revision_tree(repo, label, Path(scratch))
            arguments = ["--src", str(tree / "src"), "--params", str(tree / "params.yaml"), "--tokenized", str(data)]
            flags = ["--native", "--no-deterministic", "--inference-batch-size", str(INFERENCE_BATCH)]
            sides.append(Side(label, [*arguments, *flags]))
        print(f"speed: {a} against {b}, paired, about {2 * plan.budget:.0f} s", flush=True)
        return measure(*sides, plan, inference=True, progress=lambda line: print(f"  {line}", flush=True))


def speed_rows(results: list[PhaseResult]) -> list[dict[str, Any]]:
    """One row per phase, as compare and report show them."""
    return [
        {
            "phase": r.phase,
            "a": r.comparison.a_median,
            "b": r.comparison.b_median,
            "interval": r.comparison.interval(),
            "verdict": r.comparison.verdict,
            "words": r.comparison.words(),
            "pairs": r.comparison.pairs,
        }
        for r in results
    ]


def speed_table(rows: list[dict[str, Any]], fmt: str) -> str:
    body = [[r["phase"], f"{r['a']:.0f}", f"{r['b']:.0f}", r["interval"], r["words"], str(r["pairs"])] for r in rows]
    headers = ["speed, paired", "A tokens/s", "B tokens/s", "B/A [95% CI]", "verdict", "pairs"]
    return render_table(headers, body, fmt)
