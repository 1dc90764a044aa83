"""The CI definitions users fork: every step runs a command the README documents, the PR job posts the
report, and the GitLab equivalent says the same. (actionlint checks the workflow in `make lint`.)"""

import re
import shlex

import yaml

from conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
WORKFLOW = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))
GITLAB = yaml.safe_load((REPO / ".gitlab-ci.yml").read_text(encoding="utf-8"))


def command_of(line: str) -> str:
    """The documented command a step line runs: `make test`, `sentibench report`, `docker/repro-check.sh`..."""
    words = shlex.split(line)
    program = words[0].removeprefix(".venv/bin/")
    return " ".join([program, *words[1:2]]) if program in ("make", "sentibench", "cml") else program


def test_every_workflow_step_runs_a_command_the_readme_documents():
    lines = [step["run"] for job in WORKFLOW["jobs"].values() for step in job["steps"] if "run" in step]
    assert lines
    for line in lines:
        assert command_of(line) in README, f"not in the README: {line}"


def test_the_pull_request_job_posts_the_report_and_fails_on_worse():
    job = WORKFLOW["jobs"]["report"]
    assert "pull_request" in job["if"] and job["permissions"]["pull-requests"] == "write"
    runs = [step.get("run", "") for step in job["steps"]]
    uses = [step.get("uses", "") for step in job["steps"]]
    assert any(r.startswith(".venv/bin/sentibench report") and "--out report" in r for r in runs)
    # the runner verifies the committed bytes first, and the report carries its verdict line
    verify = next(s for s in job["steps"] if s.get("run", "").startswith(".venv/bin/sentibench verify"))
    assert verify["continue-on-error"] is True and "--report report" in verify["run"]
    assert any("--certificate report/certificate.json" in r for r in runs)
    assert any(u.startswith("actions/upload-artifact") for u in uses)
    assert "cml comment create --publish report/report.md" in runs
    assert runs[-1].endswith("--fail-on worse")  # after the comment is posted
    # the speed rows: both revisions measured side by side on the runner; a slower head fails after posting
    report = next(s for s in job["steps"] if s.get("run", "").startswith(".venv/bin/sentibench report"))
    assert report["run"].endswith("--measure --fail-on slower") and "if" not in report
    after = job["steps"][job["steps"].index(report) + 1 :]
    assert after and all(step["if"] == "${{ !cancelled() }}" for step in after)  # posted and judged all the same
    with_cache = [s for s in job["steps"] if s.get("uses", "").startswith("actions/cache")]
    assert "hashFiles('requirements/*.txt'" in with_cache[0]["with"]["key"]


def test_every_push_runs_the_tests_and_both_reproducibility_checks():
    assert {"push", "pull_request", "workflow_dispatch"} <= set(WORKFLOW[True])  # YAML reads `on` as True
    runs = [step.get("run", "") for step in WORKFLOW["jobs"]["test"]["steps"]]
    checks = [r for r in runs if r.startswith(("make test", ".venv/bin/sentibench", "docker/"))]
    assert checks == [
        "make test",
        ".venv/bin/sentibench verify --profile ci --report /tmp/sentibench-verify --keep /tmp/sentibench-ci-run",
        "docker/build-image.sh cpu",
        ".venv/bin/sentibench repro-check --profile ci --resume --kill-anywhere --first-run /tmp/sentibench-ci-run/run"
        " --docker sentibench:cpu",
    ]
    ci_run = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert all(check.removeprefix(".venv/bin/") in ci_run for check in checks)
    gpu = WORKFLOW["jobs"]["gpu"]
    assert gpu["runs-on"] == ["self-hosted", "gpu"] and "workflow_dispatch" in gpu["if"]
    assert gpu["steps"][-1]["run"] == ".venv/bin/sentibench gpu-check --docker sentibench:cuda"


def test_gitlab_runs_the_same_commands():
    # (GitLab's Python image has no Docker engine: its repro-check runs on the host only)
    workflow_lines = {
        step["run"].removesuffix(" --docker sentibench:cpu")
        for job in WORKFLOW["jobs"].values()
        for step in job["steps"]
        if "run" in step
    }
    for job in ("test", "report"):
        for line in GITLAB[job]["script"]:
            if line.startswith((".venv/bin/", "make ")):
                same = re.sub(r'"origin/[^"]+"', "BASE", line.split(" || ")[0])  # GitLab goes on where GitHub may
                assert any(re.sub(r'"origin/[^"]+"', "BASE", w) == same for w in workflow_lines), line
    assert GITLAB["report"]["artifacts"]["paths"] == ["report/"]
