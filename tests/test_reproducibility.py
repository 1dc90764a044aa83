"""Reproducibility as a tested property: identical reruns, resume equals uninterrupted, env.json, the check."""

import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import yaml
from safetensors.numpy import save_file

from conftest import REPO, run_stages, write_params
from sentibench.checks import reprocheck, verify, workspace
from sentibench.core.contract import COMPLETE_MARKER
from sentibench.core.errors import UserError
from sentibench.core.params import RuntimeParams, load_params
from sentibench.portable.environment import environment
from sentibench.portable.runtime import EMULATOR, PORTABLE_ENV, apply_runtime, unpinned_environment
from sentibench.training import checkpoints, finetune

QUALITY_FILES = (
    "data.json",
    "preprocess.json",
    "train.json",
    "eval.json",
    "predictions.csv",
    "model/model.safetensors",
)

KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from transformers import TrainerCallback
    from sentibench.training import finetune
    from sentibench.core.params import load_params
    from sentibench.portable.runtime import apply_runtime

    class KillAt(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == int(sys.argv[6]):
                os.kill(os.getpid(), signal.SIGKILL)

    params = load_params(sys.argv[1])
    apply_runtime(params.runtime)
    finetune.finetune(params, *map(Path, sys.argv[2:6]), extra_callbacks=[KillAt()])
    """
)


def _differences(a, b, names):
    return [line for name in names for line in reprocheck.file_differences(name, a / name, b / name)]


def test_rerun_gives_byte_identical_quality_outputs(tiny_run, tmp_path):
    again = run_stages(tmp_path, write_params(tmp_path / "params.yaml"))
    assert _differences(tiny_run, again, QUALITY_FILES) == []
    # dvclive/params.yaml records output_dir, which differs between these two folders (not under dvc repro)
    curves = sorted(p.relative_to(tiny_run).as_posix() for p in (tiny_run / "dvclive").rglob("*.tsv"))
    curves.append("dvclive/metrics.json")
    assert _differences(tiny_run, again, curves) == []
    assert not any("runtime" in name or "per_second" in name for name in curves)  # timings stay out of curves


@pytest.fixture(scope="module")
def two_epoch_runs(tiny_run, tmp_path_factory):
    """An uninterrupted run (4 epochs, 76 steps) with bucketed batches, and one SIGKILLed at step 25, after
    checkpoint-20 (in the second epoch, so the sampler's epoch must be restored)."""
    root = tmp_path_factory.mktemp("resume")
    bucketed = {"sampler": "bucketed", "bucket_window": 4}
    params_file = write_params(root / "params.yaml", {"train": bucketed})
    params = load_params(params_file)
    tokenized = tiny_run / "tokenized"
    full = root / "full"
    full_metrics, _ = finetune.finetune(params, tokenized, full / "checkpoints", full / "model", full / "dvclive")
    (full / "train.json").write_text(json.dumps(full_metrics))
    assert full_metrics["eval_accuracy"] >= 0.7 > full_metrics["baseline_eval_accuracy"]  # resumes a model that learns
    killed = root / "killed"
    outputs = [str(killed / name) for name in ("checkpoints", "model", "dvclive")]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(params_file), str(tokenized), *outputs, "25"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == -9, done.stderr[-2000:]
    return params, tokenized, full, killed


def _resume_and_compare(params, tokenized, full, run, expected_step):
    metrics, timing = finetune.finetune(params, tokenized, run / "checkpoints", run / "model", run / "dvclive")
    assert timing["resumed_from_step"] == expected_step
    files = ["model/model.safetensors", *(p.relative_to(full).as_posix() for p in (full / "dvclive").rglob("*.tsv"))]
    assert _differences(full, run, files) == []
    uninterrupted = json.loads((full / "checkpoints" / checkpoints.RUN_FILE).read_text())
    assert metrics["baseline_eval_accuracy"] == uninterrupted["baseline"]["eval_accuracy"]
    uninterrupted_metrics = json.loads((full / "train.json").read_text())
    assert metrics == uninterrupted_metrics  # padding efficiency and steps to target included
    return metrics


def test_sigkilled_run_resumes_to_identical_weights(two_epoch_runs, tmp_path):
    params, tokenized, full, killed = two_epoch_runs
    run = tmp_path / "run"
    shutil.copytree(killed, run)
    assert not (run / "model").exists()
    assert checkpoints.newest_checkpoint(run / "checkpoints").name == "checkpoint-20"
    _resume_and_compare(params, tokenized, full, run, expected_step=20)


def test_a_truncated_weights_file_resumes_from_the_newest_intact_checkpoint(two_epoch_runs, tmp_path):
    params, tokenized, full, killed = two_epoch_runs
    run = tmp_path / "run"
    shutil.copytree(killed, run)
    weights = run / "checkpoints" / "checkpoint-20" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # the disk lost its tail
    _resume_and_compare(params, tokenized, full, run, expected_step=10)


def test_half_written_checkpoint_is_skipped(two_epoch_runs, tmp_path):
    params, tokenized, full, killed = two_epoch_runs
    run = tmp_path / "run"
    shutil.copytree(killed, run)
    newest = run / "checkpoints" / "checkpoint-20"
    (newest / COMPLETE_MARKER).unlink()  # as if killed while saving
    (newest / "optimizer.pt").write_bytes((newest / "optimizer.pt").read_bytes()[:100])
    _resume_and_compare(params, tokenized, full, run, expected_step=10)


def test_env_json_has_every_field_and_tracks_dirtiness(tmp_path):
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "src" / "code.py").write_text("x = 1\n")
    identity = ["-c", "user.name=t", "-c", "user.email=t@t.invalid"]
    for args in (["init", "-q"], ["add", "-A"], [*identity, "commit", "-qm", "c"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    env = environment(RuntimeParams(), repo)
    assert set(env) == {"python", "packages", "torch_build", "cpu", "gpu", "os", "git", "container", "runtime"}
    data_path = ("torch", "transformers", "datasets", "evaluate", "dvc", "pandas", "pyarrow", "scipy", "snownlp")
    assert all(env["packages"][name] for name in data_path)  # every library on the data and reference path
    assert set(env["torch_build"]) == {"version", "commit", "cuda", "cudnn", "mkl", "wheel"}
    wheel = env["torch_build"]["wheel"]  # the wheel installed: its local tag names the build (cpu, cu130, none)
    assert wheel["local"] == (env["torch_build"]["version"].partition("+")[2] or None)
    assert wheel["tag"].startswith("cp311-cp311-") and len(wheel["record_sha256"]) == 64
    assert env["torch_build"]["mkl"]  # the MKL build torch links: its kernels and CNR branches
    assert len(env["torch_build"]["commit"]) == 40  # what decides the CPU bytes, whatever the local tag says
    assert "Haswell, 1 thread" in env["cpu"]["openblas"]  # numpy's pool, pinned for every sentibench process
    assert {"model", "vendor", "family_model", "isa", "cores", "threads", "aten_capability", "onednn_isa"} <= set(
        env["cpu"]
    )
    if platform.machine() == "x86_64":
        assert env["cpu"]["vendor"] in ("GenuineIntel", "AuthenticAMD") and "avx2" in env["cpu"]["isa"]
    assert env["cpu"]["onednn_isa"]  # oneDNN reported the ISA it dispatches to
    assert env["runtime"] == {"deterministic": True, "portable": True, "threads": 2}
    assert {"in_container", "image_id"} <= set(env["container"])
    assert len(env["git"]["commit"]) == 40 and env["git"]["dirty"] is False
    (repo / "metrics").mkdir()
    (repo / "metrics" / "eval.json").write_text("{}")  # the run's own output does not make the tree dirty
    assert environment(RuntimeParams(), repo)["git"]["dirty"] is False
    (repo / "src" / "code.py").write_text("x = 2\n")
    assert environment(RuntimeParams(), repo)["git"]["dirty"] is True


@pytest.mark.skipif(platform.machine() != "x86_64", reason="AVX2 exists only on x86-64")
def test_portable_mode_pins_avx2_kernels():
    """apply_runtime's pinning reaches the kernels, not only the environment: torch runs at AVX2 with the OpenBLAS
    products, a step has the bytes of a process started with the variables already set, and `portable: false`
    removes inherited pins and says so (so a native run in a pinned shell is native)."""
    step = "import json; from sentibench.checks.kernels import fingerprint; print(json.dumps(fingerprint('ci')))"
    applied = (
        "from sentibench.core.params import RuntimeParams; from sentibench.portable.runtime import apply_runtime, "
        "kernels_in_use; apply_runtime(RuntimeParams(portable={portable})); print(kernels_in_use()); "
    )
    clean = {**unpinned_environment(), "PYTHONPATH": str(REPO / "src")}

    def run(code, env):
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        return done.stdout.split("\n", 1), done.stderr

    (kernels, portable), _ = run(applied.format(portable=True) + step, clean)
    assert kernels.startswith("ATen AVX2, OpenBLAS ") and "MKL_CBWR=COMPATIBLE" in kernels
    (_, inherited), _ = run(applied.format(portable=True) + step, {**clean, **PORTABLE_ENV})
    assert json.loads(portable) == json.loads(inherited)
    (kernels, native), said = run(applied.format(portable=False) + step, {**clean, **PORTABLE_ENV})
    assert "removed the inherited kernel variables ATEN_CPU_CAPABILITY, MKL_CBWR, ONEDNN_MAX_CPU_ISA" in said
    assert "OpenBLAS" not in kernels and "MKL_CBWR" not in kernels
    assert json.loads(native) != json.loads(portable)


@pytest.fixture
def fake_qemu(tmp_path, monkeypatch):
    """A qemu-x86_64 that knows two CPU models and runs the program natively: the plumbing, not the emulation."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    qemu = bin_dir / "qemu-x86_64"
    qemu.write_text(
        '#!/bin/sh\n[ "$2" = help ] && { echo "x86 Haswell"; echo "x86 Skylake-Client"; exit 0; }\nshift 2\nexec "$@"\n'
    )
    qemu.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return qemu


def test_emulated_runs_put_every_stage_under_the_emulator(fake_qemu, tmp_path):
    folder = workspace.emulator_bin(tmp_path / "emulate", "Haswell")
    env = workspace.pipeline_env(folder)
    code = (
        "import os, sys; print(sys.executable, os.environ['NPY_DISABLE_CPU_FEATURES']); print(os.environ[sys.argv[1]])"
    )
    # dvc runs each stage's `python` from PATH: it must be the shim, which runs this interpreter
    done = subprocess.run(["python", "-c", code, EMULATOR], env=env, capture_output=True, text=True, check=True)
    first, second = done.stdout.splitlines()
    assert first.split() == [sys.executable, workspace.NUMPY_DISPATCH]
    assert second == f"{fake_qemu} -cpu Haswell"  # what env.json records, and what the oneDNN probe runs under
    assert EMULATOR not in env  # only the emulated processes carry it, not dvc
    with pytest.raises(UserError, match="no CPU model 'Pentium9'"):
        workspace.emulator_bin(tmp_path / "other", "Pentium9")


def test_an_emulation_that_changed_no_kernels_is_a_difference(tmp_path):
    copies = {run: tmp_path / run for run in ("run1", "run2")}

    def env_json(run, aten, onednn, emulator="qemu-x86_64 -cpu Haswell", features=("AVX2", "FMA3")):
        (tmp_path / run / "metrics").mkdir(parents=True)
        emulator = emulator if run == "run2" else None
        cpu = {"model": "AMD EPYC", "aten_capability": aten, "onednn_isa": onednn, "emulator": emulator}
        cpu["cpuid_features"] = [*features, *(("X86_V3",) if emulator is None else ())]  # numpy's, turned down
        (tmp_path / run / "metrics" / "env.json").write_text(json.dumps({"cpu": cpu}))

    env_json("run1", "AVX512", "Intel AVX-512 with AVX512BW, AVX512VL, and AVX512DQ extensions")
    env_json("run2", "AVX2", "Intel AVX2")
    assert reprocheck.instruction_sets(copies, "Haswell") == []
    shutil.rmtree(tmp_path / "run2")
    env_json("run2", "AVX512", "Intel AVX-512 with AVX512BW, AVX512VL, and AVX512DQ extensions")
    [line] = reprocheck.instruction_sets(copies, "Haswell")
    assert "the emulation did not take effect" in line
    shutil.rmtree(tmp_path / "run2")
    env_json("run2", "AVX2", "Intel AVX2", emulator=None)
    [line] = reprocheck.instruction_sets(copies, "Haswell")
    assert "did not run under the emulator" in line
    for run in ("run1", "run2"):  # an AVX2-only host: the same kernels, and the emulated CPU shows no other feature
        shutil.rmtree(tmp_path / run)
        env_json(run, "AVX2", "Intel AVX2")
    [line] = reprocheck.instruction_sets(copies, "Haswell")
    assert "cannot tell whether emulating Haswell changed anything" in line
    shutil.rmtree(tmp_path / "run2")
    env_json("run2", "AVX2", "Intel AVX2", features=("AVX2",))  # EPYC's emulated CPUID: no FMA3 in this example
    assert reprocheck.instruction_sets(copies, "Haswell") == []


def test_portable_mode_refuses_when_torch_is_already_loaded(monkeypatch):
    import torch  # noqa: F401  # loaded, whichever tests ran before this one

    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    with pytest.raises(UserError, match="before torch is imported"):
        apply_runtime(RuntimeParams(portable=True))


def test_json_and_weight_differences_are_named_with_their_size(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "eval.json").write_text(json.dumps({"accuracy": 0.8, "reference": {"f1": 0.5}, "rows": 10}))
    (b / "eval.json").write_text(json.dumps({"accuracy": 0.75, "reference": {"f1": 0.5}, "rows": 10}))
    assert reprocheck.file_differences("eval.json", a / "eval.json", b / "eval.json") == [
        "eval.json: accuracy: 0.8 vs 0.75 (delta -0.05)"
    ]
    weights = {"w": np.zeros((2, 2), dtype=np.float32), "b": np.ones(2, dtype=np.float32)}
    save_file(weights, str(a / "m.safetensors"))
    save_file({**weights, "w": np.full((2, 2), 1e-3, dtype=np.float32)}, str(b / "m.safetensors"))
    [line] = reprocheck.file_differences("m.safetensors", a / "m.safetensors", b / "m.safetensors")
    assert line.startswith("m.safetensors: 1 of 2 tensors differ, max |delta| 0.001 (w)")


def test_repro_check_names_the_file_of_an_unseeded_shuffle(tmp_path):
    source = tmp_path / "source"
    workspace.copy_repo(REPO, source, profile=None)
    splits_py = source / "src" / "sentibench" / "corpus" / "splits.py"  # the prepare stage's sampling
    seeded = "np.random.default_rng([params.sample_seed, index])"
    assert seeded in splits_py.read_text()
    splits_py.write_text(splits_py.read_text().replace(seeded, "np.random.default_rng()"))
    profile = yaml.safe_load((source / "profiles" / "ci.yaml").read_text())
    profile["data"]["train_rows"], profile["pretrain"]["enabled"] = 200, False  # the check, not the learning
    (source / "profiles" / "ci.yaml").write_text(yaml.safe_dump(profile))
    kept = tmp_path / "verify"  # as .ci/run: verify --keep, then repro-check --first-run takes its run as run 1
    verify.verify(source, kept, "ci", None)
    differences = reprocheck.repro_check(source, tmp_path / "work", "ci", resume=False, first_run=kept / "run")
    assert not (tmp_path / "work" / "run1").exists()  # run 1 is verify's, not run again
    assert any(line.startswith("run1 vs run2: metrics/data.json: sha256.train:") for line in differences)
    assert any("results/predictions.csv" in line for line in differences)


def test_a_first_run_that_is_unfinished_or_of_other_params_is_refused(tmp_path):
    source, other = tmp_path / "source", tmp_path / "other"
    workspace.copy_repo(REPO, source, profile=None)
    workspace.copy_repo(REPO, other, profile="ci")  # the ci profile's params, where the check runs the default's
    with pytest.raises(UserError, match="not a finished run"):
        reprocheck.repro_check(source, tmp_path / "w1", None, resume=False, first_run=other)
    (other / "dvc.lock").write_text("stages: {}\n")
    with pytest.raises(UserError, match="copied from other code, params or data"):
        reprocheck.repro_check(source, tmp_path / "w2", None, resume=False, first_run=other)


def test_keep_refuses_a_folder_that_holds_an_earlier_check(tmp_path):
    from sentibench.checks.workspace import work_folder

    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "dvc.lock").write_text("stale")
    with pytest.raises(UserError, match="needs a new or empty folder"), work_folder(tmp_path / "old", "x"):
        pass
    with work_folder(tmp_path / "new", "x") as folder:
        assert folder.is_absolute() and folder.is_dir()


def test_killed_during_the_final_save_resumes_to_identical_outputs(tiny_run, tmp_path, monkeypatch):
    """The last checkpoint is at the last step: the rerun resumes with no steps left and must still write
    the same model, curves and metrics (no lost problem_type, no duplicated end-of-run rows)."""
    params = load_params(write_params(tmp_path / "params.yaml", {"train": {"save_steps": 19, "eval_steps": 19}}))
    tokenized = tiny_run / "tokenized"

    def run(name):
        out = tmp_path / name
        return finetune.finetune(params, tokenized, out / "ckpt", out / "model", out / "dvclive")

    full, _ = run("full")

    def killed_while_saving(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(finetune, "save", killed_while_saving)
        with pytest.raises(KeyboardInterrupt):
            run("killed")
    metrics, timing = run("killed")
    assert timing["resumed_from_step"] == 76 and metrics == full
    names = ["model/config.json", "model/model.safetensors", "dvclive/metrics.json"]
    names += [p.relative_to(tmp_path / "full").as_posix() for p in (tmp_path / "full" / "dvclive").rglob("*.tsv")]
    assert _differences(tmp_path / "full", tmp_path / "killed", names) == []


def test_a_killed_writer_leaves_nothing_behind_after_the_next_write(tmp_path):
    from sentibench.core.atomic import atomic_dir, write_json

    (tmp_path / ".eval.json.k1ll3d.tmp").write_text("half")
    (tmp_path / ".model.x.tmp").mkdir()
    (tmp_path / ".model.y.old").mkdir()
    write_json(tmp_path / "eval.json", {"accuracy": 1})
    with atomic_dir(tmp_path / "model") as folder:
        (folder / "weights").write_text("w")
    with atomic_dir(tmp_path / "model") as folder:
        (folder / "weights").write_text("v")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval.json", "model"]
    assert (tmp_path / "model" / "weights").read_text() == "v"


def test_a_kill_point_kills_there_and_the_next_write_cleans_up(tmp_path):
    script = "from sentibench.core.atomic import write_json; write_json('out.json', {'a': 1})"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "SENTIBENCH_KILL_AT": "main:write-out.json"}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, check=False)
    assert done.returncode == -9
    assert not (tmp_path / "out.json").exists() and len(list(tmp_path.glob(".out.json.*.tmp"))) == 1
    env["SENTIBENCH_KILL_AT"] = "main:write-other.json"  # another point: this run is not killed
    assert subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, check=False).returncode == 0
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_a_sigterm_at_a_kill_point_cleans_up_and_exits_143(tmp_path):
    """SIGTERM (a CI cancel) runs every `finally`: no temporary is left, and the exit says what happened."""
    script = (
        "import sys\nfrom sentibench.core.atomic import write_json\nfrom sentibench.core.errors import run_cli\n"
        "sys.exit(run_cli(lambda argv: write_json('out.json', {'a': 1})))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "SENTIBENCH_KILL_AT": "main:write-out.json@TERM"}
    env["SENTIBENCH_KILL_RECORD"] = str(tmp_path / "record")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 143 and done.stderr.strip() == "error: terminated (SIGTERM); nothing half-written is left"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["record"]
    assert (tmp_path / "record").read_text() == "main:write-out.json@TERM\n"


def test_in_a_dvc_repository_a_killed_writer_leaves_nothing_beside_the_outputs(tmp_path):
    """DVC may restore a killed stage's outputs from its run-cache without running it, so a temporary beside
    them would stay: inside a repository temporaries live in DVC's scratch folder instead."""
    (tmp_path / ".dvc").mkdir()
    (tmp_path / "models").mkdir()
    script = (
        "from sentibench.core.atomic import atomic_dir\nwith atomic_dir('models/trained') as d: d.joinpath('w').touch()"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "SENTIBENCH_KILL_AT": "main:write-trained"}
    assert subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, check=False).returncode == -9
    assert list((tmp_path / "models").iterdir()) == []
    assert len(list((tmp_path / ".dvc" / "tmp" / "sentibench").glob(".trained.*.tmp"))) == 1
    del env["SENTIBENCH_KILL_AT"]
    assert subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, check=False).returncode == 0
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["trained"]
    assert list((tmp_path / ".dvc" / "tmp" / "sentibench").iterdir()) == []


def test_a_kill_point_counts_only_when_the_stage_died_there(tmp_path, monkeypatch):
    """A `dvc repro` that fails for another reason (here: a stage that exits 1) is not a kill."""
    copy = tmp_path / "copy"
    copy.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_dvc = bin_dir / "dvc"  # kills itself at its point as a stage would, or fails, or finishes
    fake_dvc.write_text(
        f"#!{sys.executable}\n"
        "import os, sys\n"
        "sys.path.insert(0, os.environ['SRC'])\n"
        "from sentibench.core import faults\n"
        "if os.environ.get('FAIL_INSTEAD') == os.environ.get(faults.VARIABLE): sys.exit(1)\n"
        "faults.stage_name = lambda: 'train'\n"
        "faults.maybe_kill('load')\n"
    )
    fake_dvc.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "SRC": str(REPO / "src")}
    monkeypatch.setattr(reprocheck, "pipeline_env", lambda: {**env, "FAIL_INSTEAD": "prepare:load"})
    monkeypatch.setattr(reprocheck, "run_pipeline", lambda *args: None)
    problems = reprocheck.run_kill_chain(copy, tmp_path / "killed.log", ["train:load", "prepare:load", "train:x"])
    assert problems == [
        "kill point prepare:load: dvc repro failed (exit 1) without being killed there",
        "kill point train:x was never reached (dvc repro finished)",
    ]


def test_a_portable_copy_sets_only_runtime_portable(tmp_path):
    from sentibench.core.profile import overlay_params

    source = tmp_path / "source"  # a checkout whose params turned portable off
    workspace.copy_repo(REPO, source, profile=None)
    (source / "params.yaml").write_text(overlay_params(source / "params.yaml", {"runtime": {"portable": False}}))
    workspace.copy_repo(source, tmp_path / "copy", profile="ci", portable=True)
    workspace.copy_repo(source, tmp_path / "plain", profile="ci")
    portable, plain = (load_params(tmp_path / name / "params.yaml") for name in ("copy", "plain"))
    assert portable.runtime.portable and not plain.runtime.portable
    assert dataclasses.replace(portable, runtime=plain.runtime) == plain
    assert "  path: null" in (tmp_path / "copy" / "params.yaml").read_text()  # nulls stay written as null
