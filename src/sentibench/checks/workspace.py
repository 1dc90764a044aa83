"""What repro-check and gpu-check share: a fresh copy of the repository, a pipeline run in it (on the
host or in a container), a work folder, and differences between two metrics files put into words."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sentibench.core.contract import NONDETERMINISTIC_OUTPUTS, RAW_DATA, RUN_OUTPUTS
from sentibench.core.errors import UserError
from sentibench.core.git import git_output
from sentibench.core.profile import apply_profile, overlay_params
from sentibench.core.tables import flatten, is_number
from sentibench.portable.runtime import EMULATOR


def is_run_output(name: str) -> bool:
    return any(name == output or name.startswith(f"{output}/") for output in RUN_OUTPUTS)


def copy_repo(
    source: Path, dest: Path, profile: str | None, committed_params: bool = False, portable: bool = False
) -> None:
    """A fresh copy of the repository's code, params and raw data (`data/raw/`, ignored by git or not),
    without any pipeline output, committed. `committed_params` takes params.yaml as HEAD has it;
    `portable` sets runtime.portable after the profile."""
    files = [f for f in git_output(source, "ls-files", "-z", "-co", "--exclude-standard").split("\0") if f]
    raw = [p.relative_to(source).as_posix() for p in (source / RAW_DATA).rglob("*") if p.is_file()]
    for name in sorted({*files, *raw}):
        if is_run_output(name) or not (source / name).is_file():
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, target)
    if committed_params:
        (dest / "params.yaml").write_text(git_output(source, "show", "HEAD:params.yaml"), encoding="utf-8")
    if profile:
        (dest / "params.yaml").write_text(
            apply_profile(profile, dest / "params.yaml", dest / "profiles"), encoding="utf-8"
        )
    if portable:
        overlaid = overlay_params(dest / "params.yaml", {"runtime": {"portable": True}})
        (dest / "params.yaml").write_text(overlaid, encoding="utf-8")
    identity = ["-c", "user.name=sentibench", "-c", "user.email=repro-check@sentibench.invalid"]
    git_output(dest, "init", "-q")
    git_output(dest, "add", "-A")
    git_output(dest, *identity, "commit", "-qm", "repro-check copy")


def lock_outputs(lock_text: str) -> dict[str, str]:
    """The md5 of every output in a dvc.lock, keyed "stage: path", except those that differ run to run."""
    from ruamel.yaml import YAML

    lock = YAML(typ="safe", pure=True).load(lock_text) or {}
    skipped = {p.as_posix() for p in NONDETERMINISTIC_OUTPUTS}
    return {
        f"{stage}: {out['path']}": out.get("md5", "")
        for stage, entry in (lock.get("stages") or {}).items()
        for out in entry.get("outs", [])
        if out["path"] not in skipped
    }


def pipeline_env(emulator: Path | None = None) -> dict[str, str]:
    """The environment `dvc repro` runs in: this interpreter's folder first on PATH, or, with `emulator`,
    the folder whose `python` runs it under CPU emulation (`emulator_bin`) before it."""
    first = emulator or Path(sys.executable).parent
    return {
        **os.environ,
        "PATH": f"{first}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


NUMPY_DISPATCH = "X86_V3,X86_V4,AVX512_ICL,AVX512_SPR"


def emulator_bin(folder: Path, cpu: str) -> Path:
    """A folder holding a `python` that runs this interpreter under `qemu-x86_64 -cpu CPU` (user-mode emulation:
    the same files and libraries, another instruction set), so that DVC runs every stage on the emulated CPU."""
    qemu = shutil.which("qemu-x86_64")
    if qemu is None:
        raise UserError("--emulate-cpu needs qemu-x86_64 on PATH (Debian: apt-get install qemu-user)")
    listed = subprocess.run([qemu, "-cpu", "help"], capture_output=True, text=True, check=False).stdout.split()
    if cpu not in listed:
        raise UserError(f"--emulate-cpu: qemu-x86_64 knows no CPU model {cpu!r} (see qemu-x86_64 -cpu help)")
    folder.mkdir(parents=True)
    command = f"{qemu} -cpu {cpu}"
    shim = folder / "python"
    # The emulated process records the command it runs under (env.json, and its oneDNN probe runs under it too).
    # qemu 7.2 crashes (SIGSEGV) in numpy's AVX2 argsort, which scikit-learn's TF-IDF runs: numpy's own
    # dispatch stays on its baseline kernels under emulation; torch's, the subject of the check, does not.
    shim.write_text(
        f'#!/bin/sh\nexport {EMULATOR}="{command}" NPY_DISABLE_CPU_FEATURES={NUMPY_DISPATCH}\n'
        f'exec {command} {sys.executable} "$@"\n'
    )
    shim.chmod(0o755)
    return folder


def image_summary(image: str) -> tuple[str, str]:
    """The image's id and size, as repro-check reports them; a clear error if it was never built."""
    inspect = ["docker", "image", "inspect", "--format", "{{.Id}} {{.Size}}", image]
    shown = subprocess.run(inspect, capture_output=True, text=True, check=False).stdout.split()
    if len(shown) != 2:
        raise UserError(f"docker image {image} not found; build it first (see the README's Docker section)")
    return shown[0], f"{int(shown[1]) / 1e9:.2f} GB"


def run_pipeline(
    repo: Path, log: Path, image: str | None = None, gpus: bool = False, emulator: Path | None = None
) -> None:
    """`dvc repro` in the copy, on the host, under `emulator` (`emulator_bin`) or, with `image`, inside that
    container as its own user."""
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
        env = pipeline_env(emulator)
        done = subprocess.run(command, cwd=repo, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise UserError(f"dvc repro failed in {repo} (exit {done.returncode}): {tail[0]}; see {log}")


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


@contextlib.contextmanager
def work_folder(keep: Path | None, prefix: str) -> Iterator[Path]:
    """`keep` (made if missing, left for inspection), or a temporary folder removed afterwards; absolute,
    since it is mounted into containers. A non-empty `keep` is refused: the old outputs and dvc.lock of an
    earlier check would let DVC skip every stage, and the check would pass without training."""
    if keep:
        if keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
            raise UserError(f"{keep}: --keep needs a new or empty folder (it holds an earlier run)")
        keep.mkdir(parents=True, exist_ok=True)
        yield keep.resolve()
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)
