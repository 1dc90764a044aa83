"""End to end: `dvc repro` in a temporary copy of the repo with the tiny params, then a no-op rerun."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import copy_repository


def _run(args, cwd):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory):
    return copy_repository(tmp_path_factory.mktemp("repo"))


def test_dvc_repro_produces_every_output_then_runs_nothing(repo_copy):
    first = _run(["dvc", "repro"], repo_copy)
    assert first.returncode == 0, first.stderr[-3000:]
    for stage in ("prepare", "preprocess", "pretrain", "train", "evaluate", "package"):
        assert f"Running stage '{stage}'" in first.stdout
    for name in ("data", "preprocess", "pretrain", "train", "train_timing", "eval"):
        assert json.loads((repo_copy / "metrics" / f"{name}.json").read_text())
    assert (repo_copy / "models" / "final" / "model.safetensors").is_file()
    assert (repo_copy / "models" / "final" / "README.md").is_file()
    assert (repo_copy / "results" / "predictions.csv").read_text(encoding="utf-8").startswith("row,actual,predicted")
    assert (repo_copy / "dvclive" / "plots" / "metrics" / "eval" / "accuracy.tsv").is_file()
    assert (repo_copy / "dvc.lock").is_file()

    second = _run(["dvc", "repro"], repo_copy)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "Running stage" not in second.stdout

    shown = _run(["dvc", "metrics", "show"], repo_copy)
    assert shown.returncode == 0
    assert "metrics/summary.json" in shown.stdout and "test_accuracy" in shown.stdout
    assert max(map(len, shown.stdout.splitlines())) <= 150  # the headline numbers fit a terminal


def test_a_changed_byte_of_external_data_reruns_prepare(repo_copy):
    """A files/disk source lives under data/raw, which prepare depends on: DVC tracks it by content."""
    assert _run(["dvc", "repro"], repo_copy).returncode == 0
    raw = repo_copy / "data" / "raw" / "reviews.tsv"
    raw.write_text("label\ttext\n1\t很好\n", encoding="utf-8")
    status = _run(["dvc", "status", "dvc.yaml"], repo_copy)
    assert "prepare" in status.stdout and "data/raw" in status.stdout, status.stdout
    raw.unlink()
    assert "prepare" not in _run(["dvc", "status", "dvc.yaml"], repo_copy).stdout


CHROMIUM = shutil.which("chromium") or shutil.which("google-chrome")  # Debian; GitHub's Ubuntu runners
OFFLINE = ["--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND"]  # no request can leave


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_plots_draw_in_a_browser_without_network(repo_copy, tmp_path):
    assert _run(["dvc", "repro"], repo_copy).returncode == 0
    shown = _run(["dvc", "plots", "show", "-o", str(tmp_path / "plots")], repo_copy)
    assert shown.returncode == 0, shown.stderr[-2000:]
    page = (tmp_path / "plots" / "index.html").read_text(encoding="utf-8")
    assert "cdn.jsdelivr" not in page
    charts = page.count("vegaEmbed(")
    browser = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
    browser += ["--disable-background-networking", "--disable-component-update", f"--user-data-dir={tmp_path / 'u'}"]
    dom = _run(
        [
            *browser,
            *OFFLINE,
            "--virtual-time-budget=10000",
            "--dump-dom",
            (tmp_path / "plots").as_uri() + "/index.html",
        ],
        tmp_path,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert charts >= 5 and dom.stdout.count("<canvas") == charts  # every chart drew


def test_bad_params_stop_the_pipeline_with_one_line(repo_copy):
    params = repo_copy / "params.yaml"
    saved = params.read_text()
    try:
        params.write_text(saved + "\nbogus: 1\n")
        result = _run(["dvc", "repro", "--force", "prepare"], repo_copy)
    finally:
        params.write_text(saved)
    assert result.returncode != 0
    assert "error: params.yaml: unknown params key 'bogus'" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout


def test_a_run_shared_through_a_remote_needs_no_retraining(repo_copy, tmp_path):
    """dvc push after a run; another clone pulls, has nothing to reproduce, and predicts with the model."""
    assert _run(["dvc", "repro"], repo_copy).returncode == 0
    remote = tmp_path / "remote"
    assert _run(["dvc", "remote", "add", "--local", "-d", "shared", str(remote)], repo_copy).returncode == 0
    pushed = _run(["dvc", "push"], repo_copy)
    assert pushed.returncode == 0, pushed.stderr[-2000:]
    identity = ["-c", "user.name=t", "-c", "user.email=t@t.invalid"]
    assert _run(["git", "add", "-A"], repo_copy).returncode == 0
    assert _run(["git", *identity, "commit", "-qm", "run"], repo_copy).returncode == 0
    clone = tmp_path / "clone"
    assert _run(["git", "clone", "-q", str(repo_copy), str(clone)], tmp_path).returncode == 0
    assert _run(["dvc", "remote", "add", "--local", "-d", "shared", str(remote)], clone).returncode == 0
    pulled = _run(["dvc", "pull"], clone)
    assert pulled.returncode == 0, pulled.stderr[-2000:]
    status = _run(["dvc", "status", "dvc.yaml"], clone)  # the benchmark pipeline is always_changed
    assert status.returncode == 0 and "up to date" in status.stdout, status.stdout
    rerun = _run(["dvc", "repro"], clone)
    assert rerun.returncode == 0 and "Running stage" not in rerun.stdout, rerun.stdout[-2000:]
    predicted = _run([sys.executable, "-m", "sentibench.cli", "predict", "--format", "jsonl", "很好"], clone)
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    assert json.loads(predicted.stdout)["label"] in ("negative", "positive")
