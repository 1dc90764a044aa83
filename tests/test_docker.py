"""The Docker contract, checked without an engine: lint, pinned bases, locks, entrypoint, run commands."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sentibench.checks.workspace import image_summary, run_pipeline
from sentibench.cli import COMMANDS
from sentibench.core.errors import UserError

REPO = Path(__file__).resolve().parents[1]
DOCKERFILES = [REPO / "docker" / "Dockerfile.cpu", REPO / "docker" / "Dockerfile.cuda"]


def test_hadolint_passes_on_both_dockerfiles() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    done = subprocess.run([str(hadolint), *map(str, DOCKERFILES)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_base_is_pinned_by_digest_and_nothing_is_pulled_for_the_frontend(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    assert re.search(r"^ARG BASE_IMAGE=\S+@sha256:[0-9a-f]{64}$", text, re.MULTILINE)
    assert "# syntax=" not in text  # a syntax line pulls a frontend image from a registry
    assert re.search(r"^USER 1000:1000$", text, re.MULTILINE)


LOCKS = ["runtime.txt --requirement torch-cpu.txt", "runtime.txt --requirement torch-cuda.txt"]  # CPU, CUDA image


def pins(lock: str) -> dict[str, list[str]]:
    """A lock's pins: each package's `name==version` and hash lines, by name."""
    found: dict[str, list[str]] = {}
    for line in (REPO / "requirements" / lock).read_text().splitlines():
        if re.match(r"^[A-Za-z0-9._-]+==", line):
            name = line.split("==")[0].lower()
            found[name] = [line]
        elif line.strip().startswith("--hash="):
            found[name].append(line.strip())
    return found


@pytest.mark.parametrize(("dockerfile", "lock"), list(zip(DOCKERFILES, LOCKS, strict=True)))
def test_each_image_installs_its_locks_hash_checked_from_local_wheels_only(dockerfile: Path, lock: str) -> None:
    text = " ".join(dockerfile.read_text().replace("\\\n", " ").split())
    assert "--no-index --find-links /wheels --require-hashes --no-deps" in text
    assert f"--requirement {lock}" in text


@pytest.mark.parametrize("lock", ["runtime.txt", "torch-cpu.txt", "torch-cuda.txt", "dev.txt", "hub.txt", "uv.txt"])
def test_every_pin_of_every_lock_names_its_files_by_hash(lock: str) -> None:
    found = pins(lock)
    assert found
    for name, lines in found.items():
        assert len(lines) >= 2 and all(h.startswith("--hash=sha256:") for h in lines[1:]), name


def test_the_locks_by_role_add_to_the_runtime_and_never_repin_it() -> None:
    runtime = pins("runtime.txt")
    for lock in ("torch-cpu.txt", "torch-cuda.txt", "dev.txt"):
        assert not set(pins(lock)) & set(runtime), f"{lock} pins again what runtime.txt pins"
    assert {"triton", "nvidia-cudnn-cu13"} <= set(pins("torch-cuda.txt"))
    assert not {"torch", "olah", "fastapi-utils", "pytest", "ruff"} & set(runtime)  # images carry the runtime only
    assert int(runtime["psutil"][0].split("==")[1].split(".")[0]) >= 7  # not held back by the Hub server's pin


def test_the_set_up_installs_with_the_uv_of_the_dev_lock_and_falls_back_to_pip() -> None:
    """uv.txt is dev.txt's uv, pin and hashes (make lock writes both); the set-up installs it first, then every lock
    with it, and pip where uv fails, once per index (no retries)."""
    assert pins("uv.txt") == {"uv": pins("dev.txt")["uv"]}
    makefile = (REPO / "Makefile").read_text()
    assert "--requirement requirements/uv.txt" in makefile and "UV_HTTP_RETRIES=0" in makefile
    assert "--retries 0" in makefile and "uv could not install" in makefile


def test_each_build_of_torch_is_one_hash_pinned_lock() -> None:
    """The CPU build under its local tag with its one wheel; PyPI's build (CUDA 13.0) with its files' hashes.
    pip prefers a file whose hash its index announces, so one pin holding both would take PyPI's build
    wherever PyPI answers: the set-up picks a lock instead (`make setup TORCH=cpu|cuda`)."""
    cpu, cuda = pins("torch-cpu.txt")["torch"], pins("torch-cuda.txt")["torch"]
    assert cpu[0].rstrip(" \\") == "torch==2.13.0+cpu" and len(cpu) == 2
    assert cuda[0].rstrip(" \\") == "torch==2.13.0" and len(cuda) > 2
    assert "TORCH ?= cpu" in (REPO / "Makefile").read_text()


def test_the_cuda_build_refuses_a_torch_without_cuda() -> None:
    assert "assert torch.version.cuda" in DOCKERFILES[1].read_text()
    assert "assert not torch.version.cuda" in DOCKERFILES[0].read_text()


def test_entrypoint_hands_every_cli_command_to_sentibench() -> None:
    script = (REPO / "docker" / "entrypoint.sh").read_text()
    [case] = re.findall(r"^\s*([a-z|-]+)\)\s*$", script, re.MULTILINE)
    assert set(case.split("|")) == set(COMMANDS)


FAKE_DOCKER = """#!/bin/sh
echo "$@" >> "$(dirname "$0")/calls"
case "$1 $2" in
  "image inspect") echo "sha256:0123abcd 2110000000" ;;
esac
"""


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `docker` first on PATH that records its arguments: the commands are checked without an engine."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir / "calls"


@pytest.mark.parametrize("gpus", [False, True])
def test_pipeline_in_a_container_mounts_the_copy_and_records_the_image(
    tmp_path: Path, fake_docker: Path, gpus: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "copy"
    repo.mkdir()
    run_pipeline(repo, tmp_path / "log", image="sentibench:cuda", gpus=gpus)
    run = fake_docker.read_text().splitlines()[-1].split()
    assert run[:2] == ["run", "--rm"]
    assert ("--gpus" in run) is gpus
    assert f"{repo}:/work" in run
    assert "SENTIBENCH_IMAGE_ID=sha256:0123abcd" in run
    assert run[-3:] == ["sentibench:cuda", "dvc", "repro"]
    assert "docker image sentibench:cuda: id sha256:0123abcd, size 2.11 GB" in capsys.readouterr().out


def test_a_missing_image_is_one_clear_error(tmp_path: Path, fake_docker: Path) -> None:
    (fake_docker.parent / "docker").write_text("#!/bin/sh\nexit 1\n")
    with pytest.raises(UserError, match=r"docker image sentibench:cpu not found; build it first"):
        image_summary("sentibench:cpu")
