"""Two revisions measured side by side (compare/report --measure): each side runs its own revision's code, the
table gives training and inference ratios with intervals, and revisions with other locks are refused."""

import shutil
import subprocess

import pytest

from conftest import REPO, copy_repository
from sentibench.bench.lockstep import Plan
from sentibench.core.errors import UserError
from sentibench.runs import compare, report
from sentibench.runs.speed import measure_revisions, speed_rows

QUICK = ["--budget", "0.1", "--pairs", "12"]


def with_metrics(repo):
    """This checkout's metrics committed into the copy, for compare's and report's tables."""
    shutil.copytree(REPO / "metrics", repo / "metrics")
    identity = ["-c", "user.name=t", "-c", "user.email=t@t.invalid"]
    for command in (["add", "-A"], [*identity, "commit", "-qm", "metrics"]):
        subprocess.run(["git", *command], cwd=repo, check=True, capture_output=True)


def test_each_revision_runs_its_own_code_side_by_side(tiny_run, tmp_path, capsys, monkeypatch):
    repo = copy_repository(tmp_path / "repo")
    tokenized = tiny_run / "tokenized"
    phases, trained = measure_revisions(repo, "HEAD", "workspace", Plan(budget=0.1, warmup=1), tokenized)
    assert trained["HEAD"]["code"].startswith("/tmp") and "sentibench-speed-" in trained["HEAD"]["code"]
    assert trained["workspace"]["code"] == str(repo / "src" / "sentibench" / "__init__.py")
    assert trained["HEAD"]["weights_sha256"] == trained["workspace"]["weights_sha256"]  # same code, same batches
    rows = speed_rows(phases)
    assert [r["phase"] for r in rows] == ["training", "inference"] and all(r["pairs"] >= 12 for r in rows)

    with_metrics(repo)
    asked = []  # compare and report hand their options to the same measurement, shown above: not run twice more

    def measured(*args):
        asked.append(args)
        return phases, trained

    monkeypatch.setattr(compare, "measure_revisions", measured)
    monkeypatch.setattr(report, "measure_revisions", measured)
    compare.main(["HEAD", "workspace", "--repo", str(repo), "--measure", "--tokenized", str(tokenized), *QUICK])
    out = capsys.readouterr().out
    assert "speed, paired" in out and "B/A [95% CI]" in out
    out_dir = tmp_path / "report"
    report.main(
        [
            "HEAD",
            "workspace",
            "--repo",
            str(repo),
            "--out",
            str(out_dir),
            "--measure",
            "--tokenized",
            str(tokenized),
            *QUICK,
        ]
    )
    text = (out_dir / "report.md").read_text(encoding="utf-8")
    assert "**Speed, measured side by side on this machine now**" in text and "| inference |" in text
    for where, a, b, plan, data in asked:
        assert (where, a, b, data) == (repo, "HEAD", "workspace", tokenized) and (plan.budget, plan.pairs) == (0.1, 12)
    assert len(asked) == 2


def test_revisions_with_other_locks_are_refused_and_bad_options_named(tmp_path):
    repo = copy_repository(tmp_path / "repo")
    with_metrics(repo)
    lock = repo / "requirements" / "runtime.txt"
    lock.write_text(lock.read_text(encoding="utf-8") + "# another library\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"requirements/runtime\.txt differs between HEAD and workspace"):
        measure_revisions(repo, "HEAD", "workspace", Plan(), tmp_path)
    out = tmp_path / "report"  # a pull request that changes a lock still gets its report, saying why no speed
    report.main(["HEAD", "workspace", "--repo", str(repo), "--out", str(out), "--measure", "--fail-on", "slower"])
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "Speed not measured side by side: `requirements/runtime.txt` differs" in text
    with pytest.raises(UserError, match=r"--budget: must be above 0"):
        compare.main(["HEAD", "workspace", "--repo", str(repo), "--measure", "--budget", "0"])
