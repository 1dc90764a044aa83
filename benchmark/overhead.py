"""Measure what sentibench adds to training: the train stage against bare_trainer.py, alternated.

Usage (after `dvc repro`, from the repository root):
    python benchmark/overhead.py --epochs 0.25 --repeats 2
Both get the same params (with `train.epochs` overridden), the same tokenised data and threads;
runs alternate so that both see the machine in the same state. Prints per-run times and the ratio
of medians, for the Trainer's train_runtime and for the whole process's wall time.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=float, default=0.25)
parser.add_argument("--repeats", type=int, default=2)
args = parser.parse_args()

with tempfile.TemporaryDirectory(prefix="sentibench-overhead-") as tmp:
    tmp = Path(tmp)
    params = yaml.safe_load(Path("params.yaml").read_text(encoding="utf-8"))
    params["train"]["epochs"] = args.epochs
    (tmp / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": "src"}
    stage = [sys.executable, "-m", "sentibench.stages.train", "--params", str(tmp / "params.yaml")]
    stage += [
        a
        for flag, name in (
            ("--checkpoints", "ck"),
            ("--model-dir", "model"),
            ("--dvclive", "live"),
            ("--metrics", "train.json"),
            ("--timing", "timing.json"),
            ("--env", "env.json"),
        )
        for a in (flag, str(tmp / name))
    ]
    bare = [sys.executable, "benchmark/bare_trainer.py", str(tmp / "params.yaml")]
    runs: dict[str, dict[str, list[float]]] = {"stage": {"train": [], "wall": []}, "bare": {"train": [], "wall": []}}
    for repeat in range(args.repeats):
        for name, command in (("stage", stage), ("bare", bare)):
            started = time.perf_counter()
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            wall = time.perf_counter() - started
            if name == "stage":
                train = json.loads((tmp / "timing.json").read_text())["train_runtime_s"]
            else:
                train = json.loads(done.stdout.strip().splitlines()[-1])["train_runtime_s"]
            runs[name]["train"].append(train)
            runs[name]["wall"].append(wall)
            print(f"run {repeat + 1} {name}: train_runtime {train:.2f} s, process {wall:.2f} s", flush=True)

for what in ("train", "wall"):
    stage_median = statistics.median(runs["stage"][what])
    bare_median = statistics.median(runs["bare"][what])
    print(f"{what}: stage {stage_median:.2f} s / bare {bare_median:.2f} s = {stage_median / bare_median:.3f}")
