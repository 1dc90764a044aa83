"""`sentibench verify`: the verdicts, the golden file's checks and every bad input, without a full run
(the run itself is `repro-check`'s code; .ci/run verifies the ci profile against the committed golden)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO
from sentibench.checks import verify
from sentibench.checks.verify import EXIT_DIFFERS, EXIT_NOT_COMPARABLE, EXIT_NOT_COMPARABLE_BEYOND, Results
from sentibench.core.errors import UserError
from sentibench.core.git import git_output

PRODUCTS = "OpenBLAS 0.3.31.188.0 Haswell GEMMs (1 thread per 256-block)"


def env(
    mkl_cbwr="COMPATIBLE",
    model="Intel Xeon",
    aten="AVX2",
    portable=True,
    machine="x86_64",
    gpu=None,
    torch="2.13.0+cpu",
    commit="2f1e2c4",
    products=PRODUCTS,
):
    return {
        "cpu": {
            "model": model,
            "machine": machine,
            "aten_capability": aten,
            "onednn_isa": "Intel AVX2",
            "threads": 2,
            "matrix_products": products,
            "mkl_cbwr": mkl_cbwr,
        },
        "torch_build": {"version": torch, "commit": commit, "mkl": "2024.2 (build 20240605)", "cuda": None},
        "packages": {"transformers": "5.24.0"},
        "gpu": {"name": gpu} if gpu else None,
        "runtime": {"portable": portable},
    }


def results(outputs, accuracy=0.8, environment=None):
    metrics = {"eval.accuracy": accuracy, "eval.f1_macro": accuracy}
    return Results("side", outputs, metrics, environment or env(), {"runtime.portable": True})


OUTPUTS = {"train: models/trained": "aaa", "evaluate: results/predictions.csv": "bbb"}


def test_identical_bytes_reproduce():
    """Another vendor, and PyPI's CUDA build of the same torch commit (the same CPU bytes, measured): comparable."""
    other = env(model="AMD EPYC", torch="2.13.0+cu130")
    judged = verify.judge(results(OUTPUTS), results(dict(OUTPUTS), environment=other), REPO)
    assert judged["exit_code"] == 0
    assert judged["verdict"] == "reproduces the committed results byte for byte"
    assert set(judged["outputs"].values()) == {"identical"}


def test_other_bytes_on_a_comparable_machine_differ_within_tolerance():
    changed = {**OUTPUTS, "train: models/trained": "ccc"}
    judged = verify.judge(results(OUTPUTS), results(changed, accuracy=0.802, environment=env(model="AMD EPYC")), REPO)
    assert judged["exit_code"] == EXIT_DIFFERS
    assert judged["verdict"] == "differs in 1 of 2 outputs; metrics within tolerance (compare's tolerances)"
    assert judged["outputs"]["train: models/trained"] == "different"
    judged = verify.judge(results(OUTPUTS), results(changed, accuracy=0.7), REPO)
    assert "2 metrics beyond tolerance: eval.accuracy, eval.f1_macro" in judged["verdict"]


@pytest.mark.parametrize(
    ("other", "reason"),
    [
        (env(gpu="NVIDIA H200"), "ran on a GPU (NVIDIA H200)"),
        (env(machine="aarch64"), "ran on aarch64, not x86-64"),
        (env(torch="2.11.0+cu130"), "another torch (2.13.0 vs 2.11.0)"),
        (env(commit="0123abc"), "another torch build (git commit) (2f1e2c4 vs 0123abc)"),
        (env(products="torch's own (MKL)"), "another matrix-product kernels"),
        (env(model="AMD EPYC", aten="AVX512", portable=False), "native kernels (not the portable ones)"),
        # asked for portable, but the pins did not take (a parent process unset MKL_CBWR): the report, not params
        (env(model="AMD EPYC", mkl_cbwr=None), "this run asked for runtime.portable, but its pins did not take"),
    ],
)
def test_where_bytes_cannot_match_the_verdict_says_why(other, reason):
    changed = {**OUTPUTS, "train: models/trained": "ccc"}
    judged = verify.judge(results(OUTPUTS), results(changed, environment=other), REPO)
    assert judged["exit_code"] == EXIT_NOT_COMPARABLE
    assert judged["verdict"].startswith("not comparable (") and reason in judged["verdict"]
    assert judged["verdict"].endswith("metrics within tolerance (compare's tolerances)")


@pytest.fixture
def checkout(tmp_path):
    """A committed copy of the repository's code, params and profiles (no outputs)."""
    from sentibench.checks.workspace import copy_repo

    copy_repo(REPO, tmp_path / "repo", profile=None)
    return tmp_path / "repo"


def test_not_comparable_tells_fine_from_broken():
    """A script can tell "GPU, metrics fine" (3) from "GPU, metrics broken" (4)."""
    changed = {**OUTPUTS, "train: models/trained": "ccc"}
    gpu = env(gpu="NVIDIA H200")
    assert verify.judge(results(OUTPUTS), results(changed, environment=gpu), REPO)["exit_code"] == EXIT_NOT_COMPARABLE
    broken = verify.judge(results(OUTPUTS), results(changed, accuracy=0.6, environment=gpu), REPO)
    assert broken["exit_code"] == EXIT_NOT_COMPARABLE_BEYOND and "beyond tolerance" in broken["verdict"]


@pytest.mark.parametrize(
    ("other", "unusual"),
    [
        (env(), None),
        (env(gpu="NVIDIA H200"), "on a GPU (NVIDIA H200)"),
        (env(aten="AVX512", portable=False, products="torch's own (MKL)"), "not on the portable kernels"),
        ({**env(), "cpu": {**env()["cpu"], "emulator": "qemu-x86_64 -cpu EPYC"}}, "emulated (qemu-x86_64 -cpu EPYC)"),
    ],
)
def test_only_a_real_cpu_on_the_portable_kernels_is_a_reference(other, unusual):
    """--record refuses these unless told why (--unusual): a golden file is what other machines are held to."""
    found = verify.unusual_recorder(other)
    assert found == unusual if unusual is None else found.startswith(unusual)


def test_the_golden_file_is_checked_before_anything_runs(checkout):
    golden = checkout / "golden" / "ci.json"  # uncommitted in this copy, hence --allow-dirty
    golden.unlink(missing_ok=True)
    with pytest.raises(UserError, match=r"golden/ci.json: no golden file for profile 'ci'; record one deliberately"):
        verify.main(["--repo", str(checkout), "--profile", "ci", "--allow-dirty"])
    golden.parent.mkdir(exist_ok=True)
    golden.write_text('{"version": 1,\n "profile": ')
    with pytest.raises(UserError, match=r"golden/ci.json: not valid JSON \(line 2"):
        verify.main(["--repo", str(checkout), "--profile", "ci", "--allow-dirty"])
    golden.write_text(json.dumps({"version": 1, "profile": "seed"}))
    with pytest.raises(UserError, match=r"golden/ci.json: recorded for profile 'seed', not 'ci'"):
        verify.main(["--repo", str(checkout), "--profile", "ci", "--allow-dirty"])
    golden.write_text(json.dumps({"version": 1, "profile": "ci", "outputs": {}}))
    with pytest.raises(UserError, match=r"golden/ci.json: key 'metrics' missing or not a mapping"):
        verify.main(["--repo", str(checkout), "--profile", "ci", "--allow-dirty"])
    empty = {"outputs": {}, "metrics": {}, "env": {}, "recorded": {}}
    params = {**verify.read_params(verify.copy_params(checkout, "ci")), "train.epochs": 99.0}
    golden.write_text(json.dumps({"version": 1, "profile": "ci", **empty, "params": params}))
    with pytest.raises(
        UserError, match=r"other params \(train.epochs: 99.0 there, 3.0 now\); re-record it deliberately"
    ):
        verify.main(["--repo", str(checkout), "--profile", "ci", "--allow-dirty"])


def test_a_dirty_tree_is_refused_with_what_is_dirty(checkout):
    (checkout / "src" / "sentibench" / "cli.py").write_text("# changed\n")
    with pytest.raises(
        UserError, match=r"the working tree differs from HEAD \(src/sentibench/cli.py\); .*--allow-dirty"
    ):
        verify.main(["--repo", str(checkout), "--profile", "ci"])


def test_recording_needs_a_reason_and_a_profile(checkout):
    with pytest.raises(UserError, match="--record needs --profile"):
        verify.main(["--repo", str(checkout), "--profile", "ci", "--record"])
    with pytest.raises(UserError, match="--record needs --profile"):
        verify.main(["--repo", str(checkout), "--record", "--why", "new code"])


def test_a_scratch_folder_that_cannot_be_written_is_one_line(checkout, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    command = [sys.executable, "-m", "sentibench.checks.verify", "--repo", str(checkout), "--profile", "ci"]
    done = subprocess.run(
        [*command, "--record", "--why", "a test", "--keep", str(blocker / "scratch")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: {blocker / 'scratch'}: scratch folder cannot be written (Not a directory)"
    ]


def test_the_certificate_is_written_beside_other_files(tmp_path):
    folder = tmp_path / "paper"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    judged = verify.judge(results(OUTPUTS), results(dict(OUTPUTS)), REPO)
    certificate = {
        **judged,
        "commit": "abc",
        "dirty": ["src/sentibench/cli.py"],
        "profile": "ci",
        "date": "2026-12-01",
        "committed": {"source": "golden/ci.json", "env": env()},
        "this_run": {"env": env(model="AMD EPYC")},
    }
    verify.write_report(folder, certificate)
    assert (folder / "notes.txt").read_text() == "mine"
    assert json.loads((folder / "certificate.json").read_text())["verdict"] == judged["verdict"]
    markdown = (folder / "certificate.md").read_text()
    assert "**Verdict: reproduces the committed results byte for byte**" in markdown
    assert "AMD EPYC" in markdown and "| train: models/trained | identical |" in markdown
    assert "`abc`, **dirty**: src/sentibench/cli.py;" in markdown  # a certificate of a dirty tree says so
    with pytest.raises(UserError, match="--report needs a folder"):
        verify.write_report(folder / "notes.txt", certificate)


def test_the_committed_golden_file_matches_the_ci_profile():
    """golden/ci.json is for the ci profile's params as committed, and names the machine it was recorded on."""
    golden, recorded = verify.golden_results(REPO, "ci")
    assert golden.params == verify.read_params(verify.copy_params(REPO, "ci"))
    assert recorded["why"] and recorded["commit"]
    assert golden.env["cpu"]["model"] and golden.env["torch_build"]["mkl"]
    assert golden.env["runtime"]["portable"] is True


def test_docker_runs_the_copy_in_the_image_and_excludes_emulation(checkout, monkeypatch, tmp_path):
    """`--docker IMAGE` (the CUDA image's ledger row) hands the image to the pipeline run; with --emulate-cpu it
    is one line, since both choose where the run happens."""
    with pytest.raises(UserError, match="--docker and --emulate-cpu both choose where the run happens"):
        verify.main(["--repo", str(checkout), "--profile", "ci", "--docker", "x", "--emulate-cpu", "EPYC"])
    seen = {}

    def stop_here(copy, log, image=None, emulator=None):
        seen.update(image=image, emulator=emulator)
        raise UserError("stopped where the pipeline would run")

    monkeypatch.setattr(verify, "run_pipeline", stop_here)
    with pytest.raises(UserError, match="stopped where the pipeline would run"):
        verify.main(["--repo", str(checkout), "--profile", "ci", "--allow-dirty", "--docker", "sentibench:cuda"])
    assert seen == {"image": "sentibench:cuda", "emulator": None}


def test_the_certificate_names_the_commit_the_run_copied(checkout, monkeypatch, tmp_path):
    """A commit that lands while the pipeline runs (minutes; an emulated run, a quarter of an hour) is not the
    one verified: the certificate names HEAD as it was when the copy was made."""
    copied = git_output(checkout, "rev-parse", "HEAD").strip()
    golden, _ = verify.golden_results(checkout, "ci")

    def run_while_a_commit_lands(repo, workdir, profile, emulate, image=None):
        (checkout / "LATER.md").write_text("later\n")
        git_output(checkout, "add", "LATER.md")
        git_output(checkout, "-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-qm", "later")
        return golden

    monkeypatch.setattr(verify, "verify", run_while_a_commit_lands)
    verify.main(["--repo", str(checkout), "--profile", "ci", "--report", str(tmp_path / "out")])
    certificate = json.loads((tmp_path / "out" / "certificate.json").read_text())
    assert certificate["commit"] == copied != git_output(checkout, "rev-parse", "HEAD").strip()
