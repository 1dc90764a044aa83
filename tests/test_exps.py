"""`sentibench exps` and the documented `dvc exp show` view: the experiments table readable at 120 columns."""

import os
import subprocess
import sys

from conftest import REPO
from sentibench.runs import exps


def _row(name, accuracy, params):
    metrics = {"metrics/summary.json": {"test_accuracy": accuracy, "test_f1_macro": accuracy - 0.01}}
    return {"name": name, "created": "2026-12-01 19:24", "metrics": metrics, "params": params}


def test_only_params_that_differ_are_shown_and_what_does_not_fit_is_named():
    same = {"train.seed": 42, "model.source": "config"}
    rows = [
        _row("main", 0.81, {**same, "train.learning_rate": 0.001, "train.epochs": 3.0}),
        _row("  exp-a", 0.83, {**same, "train.learning_rate": 0.003, "train.epochs": 3.0}),
        _row("  exp-b", 0.80, {**same, "train.learning_rate": 0.001, "train.epochs": 4.0}),
    ]
    headers, cells, left_out = exps.table(rows, 120)
    assert headers == ["experiment", "created", "test_acc", "test_f1", "train.epochs", "train.learning_rate"]
    assert cells[1][:3] == ["  exp-a", "2026-12-01 19:24", "0.83"] and left_out == []
    headers, _, left_out = exps.table(rows, 64)
    assert "train.learning_rate" not in headers and left_out == ["train.learning_rate"]


def test_the_repositorys_experiments_fit_120_columns_in_both_views():
    env = {**os.environ, "COLUMNS": "120", "PYTHONPATH": str(REPO / "src")}
    ours = subprocess.run(
        [sys.executable, "-m", "sentibench.runs.exps"], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    assert ours.returncode == 0, ours.stderr[-2000:]
    lines = ours.stdout.splitlines()
    assert lines[0].split()[:4] == ["experiment", "created", "test_acc", "test_f1"]
    assert max(map(len, lines)) <= 120 and "…" not in ours.stdout
    command = [sys.executable, "-m", "dvc", "exp", "show", "--no-pager", "--drop", ".*", "--keep", exps.keep_regex()]
    theirs = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert theirs.returncode == 0, theirs.stderr[-2000:]
    header = next(line for line in theirs.stdout.splitlines() if "Experiment" in line)
    assert "…" not in header and all(name in header for name in exps.DVC_KEEP)


def test_at_a_narrow_width_the_headline_columns_are_trimmed_too():
    """Every line fits --width, headline columns included; what is left out is named."""
    rows = [_row("main", 0.81, {"train.seed": 42}), _row("  exp-a", 0.83, {"train.seed": 7})]
    headers, cells, left_out = exps.table(rows, 40)
    widths = [max(len(h), *(len(c[i]) for c in cells)) + exps.GAP for i, h in enumerate(headers)]
    assert sum(widths) - exps.GAP <= 40
    assert headers[:2] == ["experiment", "created"] and "test_f1" in left_out and "train.seed" in left_out


def test_markdown_reads_no_width(tmp_path, capsys):
    """--format md has no width to fit: a narrow --width is not an error there (it is for text)."""
    from sentibench.core.errors import run_cli

    assert run_cli(exps.main, ["--repo", str(tmp_path), "--format", "md", "--width", "20"]) == 2
    assert "dvc exp show failed" in capsys.readouterr().err  # past the width check, to the folder itself
    assert run_cli(exps.main, ["--repo", str(tmp_path), "--width", "20"]) == 2
    assert "--width must be at least 40" in capsys.readouterr().err
