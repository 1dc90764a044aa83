"""gpu-check's verdicts: same data, accuracies within one point, every other difference printed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sentibench.checks import gpucheck
from sentibench.core.errors import UserError

CPU = {
    "data.json": {"rows": {"train": 300}, "sha256": {"train": "abc"}},
    "preprocess.json": {"train": {"rows_out": 300}},
    "train.json": {"eval_accuracy": 0.80, "train_loss": 0.40},
    "eval.json": {"accuracy": 0.8175, "loss": 0.43, "reference": {"accuracy": 0.8475}},
    "train_timing.json": {"device": "cpu", "train_runtime_s": 275.0},
}


def write_metrics(folder: Path, changes: dict[str, dict[str, Any]] | None = None) -> Path:
    folder.mkdir(parents=True)
    for name, values in CPU.items():
        (folder / name).write_text(json.dumps({**values, **(changes or {}).get(name, {})}))
    return folder


def test_accuracies_within_a_point_pass_and_every_other_difference_is_printed(tmp_path: Path) -> None:
    cpu = write_metrics(tmp_path / "cpu")
    gpu = write_metrics(
        tmp_path / "gpu",
        {
            "train.json": {"eval_accuracy": 0.81, "train_loss": 0.39},
            "eval.json": {"accuracy": 0.825, "loss": 0.42},
            "train_timing.json": {"device": "NVIDIA H200", "train_runtime_s": 55.0},
        },
    )
    failures, differences = gpucheck.compare_metrics(cpu, gpu)
    assert failures == []
    assert "train.json: eval_accuracy: 0.8 vs 0.81 (delta +0.01)" in differences
    assert "eval.json: accuracy: 0.8175 vs 0.825 (delta +0.0075)" in differences
    assert "train_timing.json: device: 'cpu' vs 'NVIDIA H200'" in differences
    assert len(differences) == 6


def test_an_accuracy_beyond_the_tolerance_fails(tmp_path: Path) -> None:
    cpu = write_metrics(tmp_path / "cpu")
    gpu = write_metrics(tmp_path / "gpu", {"eval.json": {"reference": {"accuracy": 0.83}}})
    failures, _ = gpucheck.compare_metrics(cpu, gpu)
    assert failures == ["eval.json: reference.accuracy: 0.8475 vs 0.83 (delta -0.0175)"]
    assert gpucheck.compare_metrics(cpu, gpu, tolerance=0.02)[0] == []


def test_other_data_fails_even_when_accuracy_agrees(tmp_path: Path) -> None:
    cpu = write_metrics(tmp_path / "cpu")
    gpu = write_metrics(tmp_path / "gpu", {"data.json": {"sha256": {"train": "def"}}})
    failures, _ = gpucheck.compare_metrics(cpu, gpu)
    assert failures == ["data.json: sha256.train: 'abc' vs 'def'"]


def test_a_missing_quality_file_fails_and_a_missing_timing_file_is_reported(tmp_path: Path) -> None:
    cpu = write_metrics(tmp_path / "cpu")
    gpu = write_metrics(tmp_path / "gpu")
    (gpu / "eval.json").unlink()
    (gpu / "train_timing.json").unlink()
    failures, differences = gpucheck.compare_metrics(cpu, gpu)
    assert failures == ["eval.json: missing in the GPU run"]
    assert differences == ["train_timing.json: missing in the GPU run"]


def test_a_run_that_saw_no_gpu_is_refused(tmp_path: Path) -> None:
    env = tmp_path / "env.json"
    env.write_text(json.dumps({"gpu": None}))
    with pytest.raises(UserError, match="saw no GPU"):
        gpucheck.require_gpu(env)
    env.write_text(json.dumps({"gpu": {"name": "NVIDIA H200", "count": 1}}))
    assert gpucheck.require_gpu(env) == "NVIDIA H200 x1"


def test_cli_needs_a_reference_for_a_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sentibench.core.errors import run_cli

    assert run_cli(gpucheck.main, ["--profile", "ci"]) == 2
    assert "--profile needs --reference" in capsys.readouterr().err
    assert run_cli(gpucheck.main, ["--reference", str(tmp_path)]) == 2
    assert f"{tmp_path.resolve()}: no eval.json" in capsys.readouterr().err


def test_predictions_report_how_many_labels_changed(tmp_path: Path) -> None:
    header = "row,actual,predicted,p_positive\n"
    (tmp_path / "cpu.csv").write_text(header + "0,positive,positive,0.9\n1,negative,positive,0.6\n")
    (tmp_path / "gpu.csv").write_text(header + "0,positive,positive,0.8\n1,negative,negative,0.4\n")
    assert gpucheck.label_differences(tmp_path / "cpu.csv", tmp_path / "gpu.csv") == [
        "predictions.csv: 1 of 2 predicted labels differ"
    ]
    assert gpucheck.label_differences(tmp_path / "cpu.csv", tmp_path / "cpu.csv") == []


def test_gpu_driver_comes_from_nvidia_smi_or_says_why_not(tmp_path, monkeypatch):
    from sentibench.portable.environment import gpu_driver

    monkeypatch.setenv("PATH", str(tmp_path))
    assert gpu_driver() == (None, "nvidia-smi not found")
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 580.159.04\n")
    fake.chmod(0o755)
    assert gpu_driver() == ("580.159.04", None)


def test_gpu_check_runs_the_committed_params(tmp_path):
    from sentibench.checks.workspace import copy_repo

    source = tmp_path / "source"
    source.mkdir()
    (source / "params.yaml").write_text("train:\n  seed: 42\n")
    identity = ["-c", "user.name=t", "-c", "user.email=t@t.invalid"]
    for args in (["init", "-q"], ["add", "-A"], [*identity, "commit", "-qm", "x"]):
        subprocess.run(["git", *args], cwd=source, check=True)
    (source / "params.yaml").write_text("train:\n  seed: 7\n")  # an uncommitted experiment
    copy_repo(source, tmp_path / "copy", profile=None, committed_params=True)
    assert (tmp_path / "copy" / "params.yaml").read_text() == "train:\n  seed: 42\n"
