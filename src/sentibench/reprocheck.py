"""`sentibench repro-check`: run the pipeline twice from scratch and prove the quality outputs identical.

Each run happens in its own temporary copy of the repository (tracked and unignored files, no
outputs), so nothing is shared but the code. With `--resume` a third copy is killed with SIGKILL
right after its first complete checkpoint and rerun with `dvc repro`; it must end byte-identical
to the uninterrupted run. Differences are printed per file and per metric, with their size.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sentibench.errors import UserError, run_cli
from sentibench.profile import apply_profile
from sentibench.revisions import flatten, is_number

QUALITY_OUTPUTS = (
    "metrics/data.json",
    "metrics/preprocess.json",
    "metrics/train.json",
    "metrics/eval.json",
    "results/predictions.csv",
    "models/final",
    "dvclive",
)
NONDETERMINISTIC_OUTPUTS = ("checkpoints", "metrics/train_timing.json", "metrics/env.json")
RUN_OUTPUTS = ("data", "models", "checkpoints", "dvclive", "results", "metrics", "dvc.lock")


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise UserError(f"{repo}: git {args[0]} failed: {done.stderr.strip().splitlines()[-1:]}")
    return done.stdout


def copy_repo(source: Path, dest: Path, profile: str | None) -> None:
    """A fresh copy of the repository's code and params, without any pipeline output, committed."""
    files = [f for f in _git(source, "ls-files", "-z", "-co", "--exclude-standard").split("\0") if f]
    for name in files:
        if name.split("/", 1)[0] in RUN_OUTPUTS or not (source / name).is_file():
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, target)
    if profile:
        (dest / "params.yaml").write_text(
            apply_profile(profile, dest / "params.yaml", dest / "profiles"), encoding="utf-8"
        )
    identity = ["-c", "user.name=sentibench", "-c", "user.email=repro-check@sentibench.invalid"]
    _git(dest, "init", "-q")
    _git(dest, "add", "-A")
    _git(dest, *identity, "commit", "-qm", "repro-check copy")


def _env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def image_summary(image: str) -> tuple[str, str]:
    """The image's id and size, as repro-check reports them; a clear error if it was never built."""
    inspect = ["docker", "image", "inspect", "--format", "{{.Id}} {{.Size}}", image]
    shown = subprocess.run(inspect, capture_output=True, text=True, check=False).stdout.split()
    if len(shown) != 2:
        raise UserError(f"docker image {image} not found; build it first (see the README's Docker section)")
    return shown[0], f"{int(shown[1]) / 1e9:.2f} GB"


def run_pipeline(repo: Path, log: Path, image: str | None = None, gpus: bool = False) -> None:
    """`dvc repro` in the copy, on the host or, with `image`, inside that container as its own user."""
    command = ["dvc", "repro"]
    if image:
        image_id, size = image_summary(image)
        print(f"docker image {image}: id {image_id}, size {size}", flush=True)
        if os.geteuid() == 0:  # the image runs as uid 1000, which must be able to write the copy
            subprocess.run(["chown", "-R", "1000:1000", str(repo)], check=True)
        command = [
            "docker",
            "run",
            "--rm",
            *(["--gpus", "all"] if gpus else []),
            "-v",
            f"{repo}:/work",
            "-e",
            f"SENTIBENCH_IMAGE_ID={image_id}",
            image,
            *command,
        ]
    with log.open("a") as out:
        done = subprocess.run(command, cwd=repo, env=_env(), stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise UserError(f"dvc repro failed in {repo} (exit {done.returncode}): {tail[0]}; see {log}")


def kill_after_first_checkpoint(repo: Path, log: Path, timeout: float = 1800) -> int:
    """Start `dvc repro`, SIGKILL it (and its stage) once a checkpoint is complete; return that step."""
    from sentibench.train import COMPLETE_MARKER

    with log.open("a") as out:
        proc = subprocess.Popen(
            ["dvc", "repro"], cwd=repo, env=_env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            markers = sorted((repo / "checkpoints").glob(f"checkpoint-*/{COMPLETE_MARKER}"))
            if markers:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return int(markers[0].parent.name.removeprefix("checkpoint-"))
            if proc.poll() is not None:
                raise UserError(f"the run in {repo} ended before any checkpoint could be killed; see {log}")
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        raise UserError(f"no checkpoint appeared in {timeout:.0f} s in {repo}; see {log}")


def value_differences(a: Path, b: Path) -> list[tuple[str, Any, Any]] | None:
    """(key, value in a, value in b) for every flattened key whose values differ; None if either isn't JSON."""
    try:
        left, right = flatten(json.loads(a.read_text())), flatten(json.loads(b.read_text()))
    except ValueError:
        return None
    return [(k, left.get(k), right.get(k)) for k in sorted(set(left) | set(right)) if left.get(k) != right.get(k)]


def describe_difference(name: str, key: str, x: Any, y: Any) -> str:
    delta = f" (delta {y - x:+.3g})" if is_number(x) and is_number(y) else ""
    return f"{name}: {key}: {x!r} vs {y!r}{delta}"


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


def _lock_outputs(repo: Path) -> dict[str, str]:
    from ruamel.yaml import YAML

    lock = YAML(typ="safe", pure=True).load((repo / "dvc.lock").read_text())
    return {
        f"{stage}: {out['path']}": out.get("md5", "")
        for stage, entry in lock.get("stages", {}).items()
        for out in entry.get("outs", [])
        if out["path"] not in NONDETERMINISTIC_OUTPUTS
    }


def compare_runs(a: Path, b: Path) -> tuple[int, list[str]]:
    """Compare every quality output of two runs; return how many files matched and the differences."""
    differences: list[str] = []
    compared = 0
    for output in QUALITY_OUTPUTS:
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
    lock_a, lock_b = _lock_outputs(a), _lock_outputs(b)
    for key in sorted(set(lock_a) | set(lock_b)):
        if lock_a.get(key) != lock_b.get(key):
            differences.append(f"dvc.lock: {key}: md5 {lock_a.get(key)} vs {lock_b.get(key)}")
    return compared, differences


def repro_check(repo: Path, workdir: Path, profile: str | None, resume: bool, image: str | None = None) -> list[str]:
    """Run the scenario and return the differences ([] means reproducible); with `image`, run 2 is in it."""
    runs = ["run1", "run2", *(["resumed"] if resume else [])]
    for name in runs:
        copy = workdir / name
        copy_repo(repo, copy, profile)
        log = workdir / f"{name}.log"
        if name == "resumed":
            step = kill_after_first_checkpoint(copy, log)
            print(f"repro-check: {name}: killed with SIGKILL after checkpoint-{step}; rerunning dvc repro", flush=True)
        else:
            where = f"in docker image {image}" if image and name == "run2" else "on the host"
            print(f"repro-check: {name}: dvc repro from scratch {where}, in {copy}", flush=True)
        started = time.perf_counter()
        run_pipeline(copy, log, image if name == "run2" else None)
        print(f"repro-check: {name}: done in {time.perf_counter() - started:.0f} s", flush=True)
    differences: list[str] = []
    for other in runs[1:]:
        compared, found = compare_runs(workdir / "run1", workdir / other)
        differences += [f"run1 vs {other}: {line}" for line in found]
        print(f"repro-check: run1 vs {other}: {compared} files compared, {len(found)} differences", flush=True)
    if resume:
        timing = json.loads((workdir / "resumed" / "metrics" / "train_timing.json").read_text())
        if not timing.get("resumed_from_step"):
            differences.append("resumed: the rerun did not resume from a checkpoint")
    return differences


@contextlib.contextmanager
def work_folder(keep: Path | None, prefix: str) -> Iterator[Path]:
    """`keep` (made if missing, left for inspection), or a temporary folder removed afterwards; absolute,
    since it is mounted into containers."""
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep.resolve()
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path())
    parser.add_argument("--profile", help="apply profiles/NAME.yaml in the copies (e.g. ci: a small config)")
    parser.add_argument("--resume", action="store_true", help="also kill a run after a checkpoint and resume it")
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it, instead of a temporary one")
    parser.add_argument(
        "--docker", metavar="IMAGE", help="run the second run inside this image (docker/Dockerfile.cpu)"
    )
    args = parser.parse_args(argv)
    with work_folder(args.keep, "sentibench-repro-") as workdir:
        differences = repro_check(args.repo.resolve(), workdir, args.profile, args.resume, args.docker)
    if differences:
        for line in differences:
            print(f"repro-check: DIFFERS {line}")
        raise SystemExit(1)
    print("repro-check: every quality output is byte-identical")


if __name__ == "__main__":
    sys.exit(run_cli(main))
