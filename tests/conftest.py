"""Shared fixtures: a tiny configuration (2-layer, 64-wide BERT, a few hundred rows) that keeps the suite fast.

It still learns, so tests that compare predictions, resumed runs or processes compare a model that
learned: validation accuracy 0.55 (the majority class) before training, 0.77 after 76 steps, and the
target accuracy (0.7) is reached on the way (measured 2026-12-01 on xeon2).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from sentibench.portable.runtime import PORTABLE_ENV

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The tests run with the default runtime.portable: true, whose kernel variables torch reads when it loads;
# set here, before any test imports torch, so the stages' apply_runtime finds them in place.
os.environ.update(PORTABLE_ENV)

REPO = Path(__file__).resolve().parents[1]

# What a missing capability skips, found by the words of the skip's reason, and what the skip leaves unshown.
CAPABILITIES = {
    "qemu": ("qemu-user", "no emulated CPU of another vendor or model was checked op by op"),
    "chromium": ("chromium", "the offline plot pages were not opened in a browser"),
    "root": ("needs root", "a full disk was not tried on a real filesystem"),
    "olah": ("olah", "the Hub code paths were not run against a local Hub"),
    "gdb": ("needs gdb", "MKL's calls were not counted (a portable step's, and which operators reach MKL)"),
    "avx512": ("no AVX-512", "native kernels were not shown to differ from the portable ones on this CPU"),
}
REQUIRED = "SENTIBENCH_REQUIRE"  # capabilities (comma-separated) whose skips fail the run: .ci/run sets it


def capability_of(reason: str) -> str | None:
    return next((name for name, (words, _) in CAPABILITIES.items() if words.lower() in reason.lower()), None)


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    return str(longrepr[2] if isinstance(longrepr, tuple) else longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    """A skip for a capability `SENTIBENCH_REQUIRE` names is a failure: CI must not pass a check it never ran."""
    outcome = yield
    report = outcome.get_result()
    required = {name.strip() for name in os.environ.get(REQUIRED, "").split(",") if name.strip()}
    if report.skipped and capability_of(_skip_reason(report)) in required:
        report.outcome = "failed"
        report.longrepr = f"{REQUIRED} requires {capability_of(_skip_reason(report))}: {_skip_reason(report)}"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line per missing capability, with what its skips leave unshown, so no skip passes unseen."""
    seen: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        name = capability_of(_skip_reason(report)) or "other"
        seen[name] = seen.get(name, 0) + 1
    if seen:
        terminalreporter.section("skipped capabilities")
    for name, count in sorted(seen.items()):
        meaning = CAPABILITIES[name][1] if name in CAPABILITIES else "see the skip reasons above (pytest -rs)"
        terminalreporter.write_line(f"{name}: {count} test(s) skipped: {meaning}")


TOKENIZER_DIR = REPO / "assets" / "rbt3-tokenizer"

TINY_PARAMS: dict[str, Any] = {
    "data": {"validation_size": 100, "test_size": 100, "train_rows": 300, "validation_rows": 60, "test_rows": 80},
    "model": {
        "tokenizer": str(TOKENIZER_DIR),
        "config": {"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 2, "intermediate_size": 128},
    },
    "preprocess": {"max_tokens": 128, "too_long": "truncate_tail", "vocabulary": "compact"},
    "pretrain": {
        "enabled": True,
        "steps": 12,
        "batch_size": 16,
        "peoples_daily": False,
        "save_steps": 6,
        "logging_steps": 3,
    },
    "train": {
        "epochs": 4,
        "learning_rate": 3.0e-3,
        "warmup_steps": 5,
        "target_accuracy": 0.7,
        "batch_size": 16,
        "eval_steps": 10,
        "save_steps": 10,
        "logging_steps": 5,
    },
    "evaluate": {"reference_max_features": 20000},
    "runtime": {"threads": 2},
}


def write_params(path: Path, overrides: dict[str, Any] | None = None) -> Path:
    """Write a complete params file: the repo's params.yaml, the tiny config over it, then `overrides`.

    Complete, because DVC refuses to run a stage whose listed params are missing from the file.
    """
    merged = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    for layer in (TINY_PARAMS, overrides or {}):
        for section, values in layer.items():
            merged[section].update(values)
    path.write_text(yaml.safe_dump(merged, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def tiny_params_file(tmp_path: Path) -> Path:
    return write_params(tmp_path / "params.yaml")


def run_stages(root: Path, params: Path) -> Path:
    """prepare, preprocess, pretrain, train, evaluate and package in-process, every output under `root`."""
    from sentibench.stages import evaluation, package, prepare, preprocess, pretrain, train

    p = str(params)
    prepare.main(["--params", p, "--out", str(root / "prepared"), "--metrics", str(root / "data.json")])
    preprocess.main(
        [
            "--params",
            p,
            "--prepared",
            str(root / "prepared"),
            "--out",
            str(root / "tokenized"),
            "--metrics",
            str(root / "preprocess.json"),
        ]
    )
    pretrain.main(
        [
            *("--params", p, "--tokenized", str(root / "tokenized"), "--out", str(root / "pretrained")),
            *("--checkpoints", str(root / "checkpoints-pretrain"), "--dvclive", str(root / "dvclive-pretrain")),
            *("--metrics", str(root / "pretrain.json"), "--timing", str(root / "pretrain_timing.json")),
        ]
    )
    train.main(
        [
            "--params",
            p,
            "--tokenized",
            str(root / "tokenized"),
            "--pretrained",
            str(root / "pretrained"),
            "--checkpoints",
            str(root / "checkpoints"),
            "--model-dir",
            str(root / "model"),
            "--dvclive",
            str(root / "dvclive"),
            "--metrics",
            str(root / "train.json"),
            "--timing",
            str(root / "train_timing.json"),
            "--env",
            str(root / "env.json"),
        ]
    )
    evaluation.main(
        [
            "--params",
            p,
            "--model-dir",
            str(root / "model"),
            "--tokenized",
            str(root / "tokenized"),
            "--metrics",
            str(root / "eval.json"),
            "--predictions",
            str(root / "predictions.csv"),
        ]
    )
    package.main(
        [
            *("--params", p, "--trained", str(root / "model"), "--out", str(root / "final")),
            *("--metrics-dir", str(root), "--summary", str(root / "summary.json")),
        ]
    )
    return root


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny config run once through every stage; tests read its outputs."""
    root = tmp_path_factory.mktemp("tiny_run")
    return run_stages(root, write_params(root / "params.yaml"))


@pytest.fixture(scope="session", autouse=True)
def committed_outputs_stay_untouched():
    """No test may write into the repository's own outputs (a stage's default path is relative to it)."""

    def snapshot() -> dict[str, bytes]:
        return {
            str(f): f.read_bytes()
            for folder in ("metrics", "results")
            for f in (REPO / folder).rglob("*")
            if f.is_file()
        }

    before = snapshot()
    yield
    after = snapshot()
    changed = sorted(name for name in set(before) | set(after) if before.get(name) != after.get(name))
    assert not changed, f"tests wrote into the repository's outputs: {changed}"


def copy_repository(root: Path) -> Path:
    """A git repository holding this checkout's files without its outputs or caches, with the tiny params:
    repro-check's own copy (checks/workspace.py), then the tiny params committed over the default's."""
    import subprocess

    from sentibench.checks.workspace import copy_repo

    copy_repo(REPO, root, profile=None)
    write_params(root / "params.yaml", {"model": {"tokenizer": "assets/rbt3-tokenizer"}})
    identity = ["-c", "user.name=sentibench", "-c", "user.email=tests@sentibench.invalid"]
    for command in (["add", "-A"], [*identity, "commit", "-qm", "tiny params"]):  # DVCLive reads HEAD
        subprocess.run(["git", *command], cwd=root, check=True, capture_output=True)
    return root
