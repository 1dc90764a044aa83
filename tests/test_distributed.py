"""Distributed training: two processes with the gloo backend on the CPU, through the stage's torchrun launch."""

import json
import os
import signal
import subprocess
import sys

import pytest

from conftest import REPO, write_params

TIMEOUT_S = 300  # the slowest of these runs took 40 s on a 2-core machine
TWO = {"train": {"processes": 2, "batch_size": 8}, "runtime": {"threads": 1}}  # 2 x 8 rows a step, as 1 x 16
OUTPUTS = {
    "--checkpoints": "checkpoints",
    "--model-dir": "model",
    "--dvclive": "dvclive",
    "--metrics": "train.json",
    "--timing": "timing.json",
    "--env": "env.json",
}


def run_bounded(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the stage; one that hangs (a collective that never completes) fails the test within TIMEOUT_S with
    every process's Python stacks (faulthandler on SIGABRT), instead of holding CI until its limit."""
    process = subprocess.Popen(
        command,
        env={**env, "PYTHONFAULTHANDLER": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGABRT)
        stdout, stderr = process.communicate()
        pytest.fail(f"the stage ran past {TIMEOUT_S} s; its stacks:\n{stderr[-12000:]}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def train_two(tiny_run, root, kill_at=None):
    """The train stage with two DDP processes, its outputs under `root`; SENTIBENCH_KILL_AT when given."""
    params = write_params(root / "params.yaml", TWO)
    args = [arg for flag, name in OUTPUTS.items() for arg in (flag, str(root / name))]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    env.pop("SENTIBENCH_KILL_AT", None)
    env.update({"SENTIBENCH_KILL_AT": kill_at} if kill_at else {})
    command = [sys.executable, "-m", "sentibench.stages.train", "--params", str(params)]
    command += ["--tokenized", str(tiny_run / "tokenized"), *args]
    return run_bounded(command, env)


@pytest.fixture(scope="module")
def whole(tiny_run, tmp_path_factory):
    """A DDP run never interrupted: its outputs' folder, and the finished process."""
    root = tmp_path_factory.mktemp("whole")
    return root, train_two(tiny_run, root)


def test_two_gloo_processes_split_the_data_and_match_one_process(tiny_run, whole):
    root, done = whole
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((root / "train.json").read_text())
    single = json.loads((tiny_run / "train.json").read_text())
    shards = metrics["distributed"]
    assert shards["processes"] == 2
    assert shards["rows_seen"] == shards["train_rows"] == 300  # together they cover every row
    assert all(140 <= rows <= 160 for rows in shards["rows_per_process"])  # each its own half
    assert shards["rows_in_two_processes"] <= 16  # only DDP's padding to equal batch counts
    assert shards["replicas_identical"]  # gradients averaged: not two models each trained on its half
    assert metrics["global_step"] == single["global_step"] == 76  # 2 x 8 rows a step, as one process's 16
    assert metrics["eval_accuracy"] >= 0.7 > metrics["baseline_eval_accuracy"]  # both learned
    assert abs(metrics["eval_accuracy"] - single["eval_accuracy"]) <= 0.1
    assert (root / "model" / "model.safetensors").is_file()
    assert done.stdout.count("train: accuracy") == 1  # only rank 0 reports and writes


def test_a_killed_ddp_run_resumes_to_the_bytes_of_an_uninterrupted_one(tiny_run, whole, tmp_path):
    """Both workers SIGKILLed after step 50 (the last complete checkpoint is step 40, sealed only once every
    worker had written its RNG state), then rerun: it resumes and ends with the weights of a run never killed."""
    (root, done), killed = whole, tmp_path / "killed"
    killed.mkdir()
    assert done.returncode == 0
    died = train_two(tiny_run, killed, kill_at="train:step-50")
    assert died.returncode == 2 and "distributed training with 2 processes failed" in died.stderr
    resumed = train_two(tiny_run, killed)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "train: resuming from" in resumed.stdout
    assert (killed / "model" / "model.safetensors").read_bytes() == (root / "model" / "model.safetensors").read_bytes()


def test_sigterm_to_the_torchrun_launcher_ends_as_it_does_without_it(tiny_run, tmp_path):
    """A cancel's SIGTERM reaches the launcher, whose handler torchrun replaced: one line, exit 143, no traceback,
    and no temporary file left by the workers it stopped."""
    done = train_two(tiny_run, tmp_path, kill_at="train:step-5@TERM-PARENT")
    assert done.returncode == 143, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert "error: terminated (SIGTERM); nothing half-written is left" in done.stderr
    assert not [p for p in tmp_path.rglob("*.tmp")]
    assert not (tmp_path / "model").exists() and not (tmp_path / "train.json").exists()
