"""Distributed training: two processes with the gloo backend on the CPU, through the stage's torchrun launch."""

import json
import os
import subprocess
import sys

from conftest import REPO, write_params


def test_two_gloo_processes_split_the_data_and_match_one_process(tiny_run, tmp_path):
    two = {"train": {"processes": 2, "batch_size": 8}, "runtime": {"threads": 1}}  # 2 x 8 rows a step, as 1 x 16
    params = write_params(tmp_path / "params.yaml", two)
    outputs = {
        "--checkpoints": "checkpoints",
        "--model-dir": "model",
        "--dvclive": "dvclive",
        "--metrics": "train.json",
        "--timing": "timing.json",
        "--env": "env.json",
    }
    args = [arg for flag, name in outputs.items() for arg in (flag, str(tmp_path / name))]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sentibench.stages.train",
            "--params",
            str(params),
            "--tokenized",
            str(tiny_run / "tokenized"),
            *args,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp_path / "train.json").read_text())
    single = json.loads((tiny_run / "train.json").read_text())
    shards = metrics["distributed"]
    assert shards["processes"] == 2
    assert shards["rows_seen"] == shards["train_rows"] == 300  # together they cover every row
    assert all(140 <= rows <= 160 for rows in shards["rows_per_process"])  # each its own half
    assert shards["rows_in_two_processes"] <= 16  # only DDP's padding to equal batch counts
    assert metrics["global_step"] == single["global_step"] == 76  # 2 x 8 rows a step, as one process's 16
    assert metrics["eval_accuracy"] >= 0.7 > metrics["baseline_eval_accuracy"]  # both learned
    assert abs(metrics["eval_accuracy"] - single["eval_accuracy"]) <= 0.1
    assert (tmp_path / "model" / "model.safetensors").is_file()
    assert done.stdout.count("train: accuracy") == 1  # only rank 0 reports and writes
