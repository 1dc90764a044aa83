"""Skips that are seen: every run ends with one line per missing capability and what it leaves unshown, and a
capability that SENTIBENCH_REQUIRE names (.ci/run names them all) turns its skips into failures."""

import os
import subprocess
import sys

from conftest import REPO

HOOKS = f"""
import importlib.util
spec = importlib.util.spec_from_file_location("suite_conftest", {str(REPO / "tests" / "conftest.py")!r})
suite = importlib.util.module_from_spec(spec)
spec.loader.exec_module(suite)
pytest_runtest_makereport = suite.pytest_runtest_makereport
pytest_terminal_summary = suite.pytest_terminal_summary
"""
TESTS = """
import pytest

def test_needs_a_browser():
    pytest.skip("needs Debian's chromium (.ci/run installs it)")

def test_runs():
    pass
"""


def _run(tmp_path, required):
    (tmp_path / "conftest.py").write_text(HOOKS)
    (tmp_path / "test_some.py").write_text(TESTS)
    env = {**os.environ, "SENTIBENCH_REQUIRE": required, "PYTHONPATH": str(REPO / "src")}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "test_some.py")]
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, check=False)


def test_a_skip_is_named_with_what_it_leaves_unshown(tmp_path):
    done = _run(tmp_path, "")
    assert done.returncode == 0, done.stdout
    assert "chromium: 1 test(s) skipped: the offline plot pages were not opened in a browser" in done.stdout


def test_a_required_capability_that_is_missing_fails_the_run(tmp_path):
    done = _run(tmp_path, "qemu,chromium,root,olah")
    assert done.returncode == 1, done.stdout
    assert "SENTIBENCH_REQUIRE requires chromium" in done.stdout and "1 failed, 1 passed" in done.stdout
