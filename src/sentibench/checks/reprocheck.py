"""`sentibench repro-check`: run the pipeline twice from scratch and prove the quality outputs identical.

Each run happens in its own temporary copy of the repository (tracked and unignored files, no
outputs), so nothing is shared but the code. With `--resume` a third copy is killed with SIGKILL
right after its first complete checkpoint and rerun with `dvc repro`; it must end byte-identical
to the uninterrupted run. With `--emulate-cpu` the second run happens on another (emulated) CPU
model, which with `--portable` must still give the same bytes. Differences are printed per file and
per metric, with their size.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from sentibench.checks.workspace import (
    NUMPY_DISPATCH,
    copy_repo,
    describe_difference,
    emulator_bin,
    lock_outputs,
    pipeline_env,
    run_pipeline,
    value_differences,
    work_folder,
)
from sentibench.core.contract import (
    CHECKPOINTS,
    COMPLETE_MARKER,
    ENV,
    QUALITY_OUTPUTS,
    TRAIN_TIMING,
)
from sentibench.core.errors import UserError, run_cli
from sentibench.core.faults import RECORD, VARIABLE
from sentibench.core.git import git_output


def kill_after_first_checkpoint(repo: Path, log: Path, timeout: float = 1800) -> int:
    """Start `dvc repro`, SIGKILL it (and its stage) once a checkpoint is complete; return that step."""
    with log.open("a") as out:
        proc = subprocess.Popen(
            ["dvc", "repro"], cwd=repo, env=pipeline_env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            markers = sorted((repo / CHECKPOINTS).glob(f"checkpoint-*/{COMPLETE_MARKER}"))
            if markers:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return int(markers[0].parent.name.removeprefix("checkpoint-"))
            if proc.poll() is not None:
                raise UserError(f"the run in {repo} ended before any checkpoint could be killed; see {log}")
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        raise UserError(f"no checkpoint appeared in {timeout:.0f} s in {repo}; see {log}")


def _json_differences(name: str, a: Path, b: Path) -> list[str]:
    found = value_differences(a, b)
    if found is None:
        return [f"{name}: differs (not valid JSON)"]
    return [describe_difference(name, *entry) for entry in found] or [f"{name}: same values, different bytes"]


def _csv_differences(name: str, a: Path, b: Path) -> list[str]:
    left = list(csv.reader(a.open(encoding="utf-8")))
    right = list(csv.reader(b.open(encoding="utf-8")))
    differing = [i for i, (x, y) in enumerate(zip(left, right, strict=False)) if x != y]
    first = f", first at line {differing[0] + 1}" if differing else ""
    return [f"{name}: {len(differing)} rows differ{first}; {len(left)} vs {len(right)} lines"]


def _safetensors_differences(name: str, a: Path, b: Path) -> list[str]:
    from safetensors.numpy import load_file

    left, right = load_file(str(a)), load_file(str(b))
    if set(left) != set(right):
        return [f"{name}: different tensor names"]
    deltas = {}
    for key in left:
        if left[key].shape != right[key].shape:
            return [f"{name}: {key} has shape {left[key].shape} vs {right[key].shape}"]
        diff = abs(left[key].astype("float64") - right[key].astype("float64")).max() if left[key].size else 0.0
        if diff > 0 or left[key].tobytes() != right[key].tobytes():
            deltas[key] = float(diff)
    if not deltas:
        return [f"{name}: same tensors, different bytes"]
    worst = max(deltas, key=deltas.__getitem__)
    return [f"{name}: {len(deltas)} of {len(left)} tensors differ, max |delta| {deltas[worst]:.3g} ({worst})"]


def file_differences(name: str, a: Path, b: Path) -> list[str]:
    """Why two files differ, in the most useful terms for their type; [] when byte-identical."""
    if not a.is_file() or not b.is_file():
        return [f"{name}: missing in run {'1' if not a.is_file() else '2'}"]
    if a.read_bytes() == b.read_bytes():
        return []
    if a.suffix == ".json":
        return _json_differences(name, a, b)
    if a.suffix == ".csv":
        return _csv_differences(name, a, b)
    if a.suffix == ".safetensors":
        return _safetensors_differences(name, a, b)
    return [f"{name}: bytes differ"]


def compare_runs(a: Path, b: Path) -> tuple[int, list[str]]:
    """Compare every quality output of two runs; return how many files matched and the differences."""
    differences: list[str] = []
    compared = 0
    for output in (p.as_posix() for p in QUALITY_OUTPUTS):
        left, right = a / output, b / output
        if left.is_dir() or right.is_dir():
            names = sorted(
                {p.relative_to(left).as_posix() for p in left.rglob("*") if p.is_file()}
                | {p.relative_to(right).as_posix() for p in right.rglob("*") if p.is_file()}
            )
            pairs = [(f"{output}/{n}", left / n, right / n) for n in names]
        else:
            pairs = [(output, left, right)]
        for name, x, y in pairs:
            compared += 1
            differences += file_differences(name, x, y)
    lock_a, lock_b = (lock_outputs((run / "dvc.lock").read_text(encoding="utf-8")) for run in (a, b))
    for key in sorted(set(lock_a) | set(lock_b)):
        if lock_a.get(key) != lock_b.get(key):
            differences.append(f"dvc.lock: {key}: md5 {lock_a.get(key)} vs {lock_b.get(key)}")
    return compared, differences


# One pipeline, killed with SIGKILL (SIGTERM where marked) at each of these points in turn (each run
# resumes the one before), then finished: during load, during compute (mid-pretraining, mid-training),
# during each stage's writes, between the two renames of a folder output, and during the final model save.
KILL_CHAIN = (
    "prepare:write-prepared",
    "preprocess:load",
    "preprocess:write-tokenized",
    "pretrain:step-25",
    "pretrain:write-pretrained",
    "train:load",
    "train:step-35",
    "train:step-45@TERM",
    "train:write-trained",
    "train:write-train.json",
    "evaluation:write-predictions.csv",
    "evaluation:write-eval.json@TERM",
    "package:write-final",
)
STRAY = re.compile(r"^\..+\.(tmp|old)$")


def run_kill_chain(copy: Path, log: Path, chain: Sequence[str]) -> list[str]:
    """Kill `dvc repro` at each point of `chain` in turn, then let it finish; return the problems seen
    (a point never reached, a run that failed otherwise, temporary files left behind). A point counts as
    reached only when the stage wrote it to the kill record and then died: a run that failed for another
    reason is a problem, not a kill."""
    problems = []
    record = log.with_name(f"{log.stem}-kills.txt")
    for point in chain:
        record.unlink(missing_ok=True)
        env = {**pipeline_env(), VARIABLE: point, RECORD: str(record)}
        with log.open("a") as out:
            print(f"== kill at {point}", file=out, flush=True)
            done = subprocess.run(
                ["dvc", "repro"], cwd=copy, env=env, stdout=out, stderr=subprocess.STDOUT, check=False
            )
        killed = record.is_file() and record.read_text(encoding="utf-8").split() == [point]
        if done.returncode == 0:
            problems.append(f"kill point {point} was never reached (dvc repro finished)")
        elif not killed:
            problems.append(f"kill point {point}: dvc repro failed (exit {done.returncode}) without being killed there")
        else:
            print(f"repro-check: kill-anywhere: killed at {point}", flush=True)
    run_pipeline(copy, log)
    # DVC's scratch folder is not the user's: a temporary there waits for its target's next write
    stray = sorted(
        p.relative_to(copy).as_posix()
        for p in copy.rglob(".*")
        if STRAY.match(p.name) and ".git" not in p.parts and ".dvc" not in p.parts
    )
    problems += [f"left behind: {name}" for name in stray]
    return problems


def instruction_sets(copies: dict[str, Path], emulated: str) -> list[str]:
    """Print the kernels each run used (from its env.json); a difference when emulation changed nothing."""
    seen, emulators, features = {}, {}, {}
    for name in ("run1", "run2"):
        cpu = json.loads((copies[name] / ENV).read_text(encoding="utf-8"))["cpu"]
        seen[name], emulators[name] = (cpu["aten_capability"], cpu["onednn_isa"]), cpu.get("emulator")
        # numpy's own dispatch is turned down under emulation (workspace.NUMPY_DISPATCH): not a CPU difference
        features[name] = set(cpu.get("cpuid_features") or ()) - set(NUMPY_DISPATCH.split(","))
        where = f"emulated {emulated}" if name == "run2" else f"native {cpu['model']}"
        print(f"repro-check: {name} ({where}): ATen {cpu['aten_capability']}, oneDNN {cpu['onednn_isa']}", flush=True)
    run1, run2 = seen["run1"], seen["run2"]
    if not emulators["run2"] or emulators["run1"]:
        return [f"run2: the stages did not run under the emulator (env.json records {emulators['run2']!r})"]
    if run2[0] is None or "512" in str(run2[0]) or ("512" in str(run1[1]) and run1[1] == run2[1]):
        return [f"run2: the emulated {emulated} still dispatched to {run2}: the emulation did not take effect"]
    if run1 == run2 and features["run1"] == features["run2"]:
        return [
            f"run2: cannot tell whether emulating {emulated} changed anything: this host's CPU shows the same CPUID "
            f"features and kernels ({run1[0]}, oneDNN {run1[1]}), so the two runs are not evidence of another CPU; "
            "run it on a host with AVX-512, or emulate a CPU with other features"
        ]
    return []


def same_copy(first_run: Path, copy: Path) -> None:
    """Stop unless `first_run` was copied from the same code, params and data as `copy` (the same git tree) and
    ran (a dvc.lock; outputs a run that stopped early lacks show up as differences in the comparison)."""
    if not (first_run / "dvc.lock").is_file():
        raise UserError(f"--first-run {first_run}: not a finished run (no dvc.lock); give verify --keep's run folder")
    trees = [git_output(folder, "rev-parse", "HEAD^{tree}").strip() for folder in (first_run, copy)]
    if trees[0] != trees[1]:
        raise UserError(
            f"--first-run {first_run}: copied from other code, params or data than this check's runs; run verify "
            "--keep again on this checkout and profile"
        )


def repro_check(
    repo: Path,
    workdir: Path,
    profile: str | None,
    resume: bool,
    image: str | None = None,
    kill_chain: Sequence[str] = (),
    emulate: str | None = None,
    portable: bool = False,
    first_run: Path | None = None,
) -> list[str]:
    """Run the scenario and return the differences ([] means reproducible); with `image` run 2 is in that
    container, with `emulate` it runs under that emulated CPU. `first_run`, a finished run from scratch of the
    same copy (`verify --keep`), is run 1 instead of running it again."""
    runs = ["run1", "run2", *(["resumed"] if resume else []), *(["killed"] if kill_chain else [])]
    copies = {name: workdir / name for name in runs} | ({"run1": first_run} if first_run else {})
    emulator = emulator_bin(workdir / f"emulate-{emulate}", emulate) if emulate else None
    differences: list[str] = []
    for name in runs:
        copy = copies[name]
        if name == "run1" and first_run:
            print(f"repro-check: run1: the finished run in {first_run}, not run again", flush=True)
            continue
        copy_repo(repo, copy, profile, portable=portable)
        if first_run and name == "run2":
            same_copy(first_run, copy)
        log = workdir / f"{name}.log"
        if name == "killed":
            started = time.perf_counter()
            differences += [f"killed: {line}" for line in run_kill_chain(copy, log, kill_chain)]
            print(
                f"repro-check: killed: {len(kill_chain)} kills, then finished in {time.perf_counter() - started:.0f} s"
            )
            continue
        if name == "resumed":
            step = kill_after_first_checkpoint(copy, log)
            print(f"repro-check: {name}: killed with SIGKILL after checkpoint-{step}; rerunning dvc repro", flush=True)
        else:
            where = "on the host"
            if name == "run2" and image:
                where = f"in docker image {image}"
            elif name == "run2" and emulate:
                where = f"on an emulated {emulate} CPU (qemu-x86_64 user mode)"
            print(f"repro-check: {name}: dvc repro from scratch {where}, in {copy}", flush=True)
        started = time.perf_counter()
        second = name == "run2"
        run_pipeline(copy, log, image if second else None, emulator=emulator if second else None)
        print(f"repro-check: {name}: done in {time.perf_counter() - started:.0f} s", flush=True)
    if emulate:
        differences += instruction_sets(copies, emulate)
    for other in runs[1:]:
        compared, found = compare_runs(copies["run1"], copies[other])
        differences += [f"run1 vs {other}: {line}" for line in found]
        print(f"repro-check: run1 vs {other}: {compared} files compared, {len(found)} differences", flush=True)
    if resume:
        timing = json.loads((copies["resumed"] / TRAIN_TIMING).read_text())
        if not timing.get("resumed_from_step"):
            differences.append("resumed: the rerun did not resume from a checkpoint")
    return differences


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path())
    parser.add_argument("--profile", help="apply profiles/NAME.yaml in the copies (e.g. ci: a small config)")
    parser.add_argument("--resume", action="store_true", help="also kill a run after a checkpoint and resume it")
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it, instead of a temporary one")
    parser.add_argument(
        "--kill-anywhere",
        action="store_true",
        help="also run once killed with SIGKILL at each KILL_CHAIN point in turn (load, compute, writes, final save)",
    )
    parser.add_argument(
        "--docker", metavar="IMAGE", help="run the second run inside this image (docker/Dockerfile.cpu)"
    )
    parser.add_argument(
        "--emulate-cpu",
        metavar="CPU",
        help="run the second run under qemu-x86_64 emulating this CPU model (e.g. Haswell: AVX2, no AVX-512)",
    )
    parser.add_argument(
        "--portable", action="store_true", help="set runtime.portable: true in every copy (after the profile)"
    )
    parser.add_argument(
        "--first-run",
        type=Path,
        metavar="DIR",
        help="a finished run from scratch of the same checkout and profile to use as run 1 (verify --keep K: K/run)",
    )
    args = parser.parse_args(argv)
    if args.docker and args.emulate_cpu:
        raise UserError("--docker and --emulate-cpu both choose where the second run happens: give one")
    with work_folder(args.keep, "sentibench-repro-") as workdir:
        chain = KILL_CHAIN if args.kill_anywhere else ()
        differences = repro_check(
            args.repo.resolve(),
            workdir,
            args.profile,
            args.resume,
            args.docker,
            chain,
            emulate=args.emulate_cpu,
            portable=args.portable,
            first_run=args.first_run.resolve() if args.first_run else None,
        )
    if differences:
        for line in differences:
            print(f"repro-check: DIFFERS {line}")
        raise SystemExit(1)
    print("repro-check: every quality output is byte-identical")


if __name__ == "__main__":
    sys.exit(run_cli(main))
