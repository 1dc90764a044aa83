"""`sentibench gpu-check`: run the pipeline on a GPU and hold its numbers to the CPU run's.

GPU kernels sum in other orders than CPU ones, so the two runs cannot be byte-identical; what the
suite promises is that the conclusion holds: the same data, and every accuracy within one percentage
point of the CPU run (by default the committed `metrics/`, the default config's). Every other difference
(losses, predictions, timings) is printed so a reader sees how far the runs drifted, not only
whether they passed. The run happens in a fresh copy of the repository, directly on this host or
with `--docker IMAGE` inside the CUDA image (`docker run --gpus all`).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sentibench.checks.workspace import copy_repo, describe_difference, run_pipeline, value_differences, work_folder
from sentibench.core.contract import ENV, EVAL_METRICS, PREDICTIONS
from sentibench.core.errors import UserError, run_cli
from sentibench.core.tables import is_number

ACCURACY_TOLERANCE = 0.01
SAME_DATA = ("data.json", "preprocess.json")  # written before any GPU work: must match exactly
QUALITY_METRICS = (*SAME_DATA, "train.json", "eval.json")
INFORMATIONAL = ("train_timing.json",)


def is_accuracy(key: str) -> bool:
    return key.rsplit(".", 1)[-1].endswith("accuracy")


def judge(name: str, key: str, cpu: Any, gpu: Any, tolerance: float) -> bool:
    """True when a difference breaks the promise: other data, or an accuracy off by more than `tolerance`."""
    if name in SAME_DATA:
        return True
    if name not in QUALITY_METRICS or not is_accuracy(key):
        return False
    if not (is_number(cpu) and is_number(gpu)):
        return True
    return abs(gpu - cpu) > tolerance + 1e-12


def missing(name: str, cpu: Path, gpu: Path) -> str | None:
    if cpu.is_file() and gpu.is_file():
        return None
    return f"{name}: missing in the {'CPU' if not cpu.is_file() else 'GPU'} run"


def compare_metrics(cpu: Path, gpu: Path, tolerance: float = ACCURACY_TOLERANCE) -> tuple[list[str], list[str]]:
    """(failures, other differences) between two metrics folders, each line naming file, key and delta."""
    failures: list[str] = []
    differences: list[str] = []
    for name in (*QUALITY_METRICS, *INFORMATIONAL):
        a, b = cpu / name, gpu / name
        absent = missing(name, a, b)
        if absent:
            (failures if name in QUALITY_METRICS else differences).append(absent)
            continue
        found = value_differences(a, b)
        if found is None:
            failures.append(f"{name}: not valid JSON")
            continue
        for key, x, y in found:
            line = describe_difference(name, key, x, y)
            (failures if judge(name, key, x, y, tolerance) else differences).append(line)
    return failures, differences


def label_differences(cpu: Path, gpu: Path) -> list[str]:
    """How many test rows changed their predicted label: probabilities always differ, labels tell more."""
    absent = missing("predictions.csv", cpu, gpu)
    if absent:
        return [absent]
    with cpu.open(encoding="utf-8") as a, gpu.open(encoding="utf-8") as b:
        left, right = list(csv.DictReader(a)), list(csv.DictReader(b))
    if [r["row"] for r in left] != [r["row"] for r in right]:
        return [f"predictions.csv: other rows ({len(left)} vs {len(right)})"]
    changed = sum(x["predicted"] != y["predicted"] for x, y in zip(left, right, strict=True))
    return [f"predictions.csv: {changed} of {len(left)} predicted labels differ"] if changed else []


def require_gpu(env_file: Path) -> str:
    """The GPU the run used, from its env.json; a run that fell back to the CPU proves nothing."""
    try:
        gpu = json.loads(env_file.read_text()).get("gpu")
    except (OSError, ValueError) as err:
        raise UserError(f"{env_file}: cannot read the run's environment ({err})") from err
    if not gpu:
        raise UserError(f"{env_file}: the run saw no GPU (torch.cuda.is_available() was false); nothing to compare")
    return f"{gpu['name']} x{gpu['count']}"


def gpu_check(
    repo: Path, workdir: Path, reference: Path, profile: str | None, image: str | None, tolerance: float
) -> list[str]:
    """Run the pipeline on the GPU in a copy of `repo` and return the failures ([] means it agrees)."""
    copy = workdir / "gpu"
    copy_repo(repo, copy, profile, committed_params=True)  # the reference metrics are the committed params'
    print("gpu-check: params.yaml as committed (HEAD)" + (f", then profile {profile}" if profile else ""), flush=True)
    where = f"in docker image {image} (--gpus all)" if image else "on this host"
    print(f"gpu-check: dvc repro from scratch {where}, in {copy}", flush=True)
    started = time.perf_counter()
    run_pipeline(copy, workdir / "gpu.log", image, gpus=True)
    device = require_gpu(copy / ENV)
    print(f"gpu-check: done in {time.perf_counter() - started:.0f} s on {device}")
    failures, differences = compare_metrics(reference, copy / EVAL_METRICS.parent, tolerance)
    differences += label_differences(reference.parent / PREDICTIONS, copy / PREDICTIONS)
    for line in differences:
        print(f"gpu-check: differs {line}")
    print(f"gpu-check: {len(differences)} differences printed, {len(failures)} beyond tolerance", flush=True)
    return failures


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path())
    parser.add_argument("--profile", help="apply profiles/NAME.yaml in the copy; needs --reference")
    parser.add_argument("--reference", type=Path, help="the CPU run's metrics folder (default: REPO/metrics)")
    parser.add_argument("--docker", metavar="IMAGE", help="run inside this image with --gpus all")
    parser.add_argument("--tolerance", type=float, default=ACCURACY_TOLERANCE, help="largest accuracy gap (0.01)")
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it, instead of a temporary one")
    args = parser.parse_args(argv)
    repo = args.repo.resolve()
    if args.profile and not args.reference:
        raise UserError("--profile needs --reference: the committed metrics/ are the default config's")
    reference = (args.reference or repo / "metrics").resolve()
    if not (reference / "eval.json").is_file():
        raise UserError(f"{reference}: no eval.json; give the CPU run's metrics folder with --reference")
    with work_folder(args.keep, "sentibench-gpu-") as workdir:
        failures = gpu_check(repo, workdir, reference, args.profile, args.docker, args.tolerance)
    if failures:
        for line in failures:
            print(f"gpu-check: FAILS {line}")
        raise SystemExit(1)
    print(f"gpu-check: every accuracy within {args.tolerance * 100:g} percentage point(s) of the CPU run")


if __name__ == "__main__":
    sys.exit(run_cli(main))
