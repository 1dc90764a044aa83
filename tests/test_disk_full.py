"""A disk that fills up while a stage writes: one line naming the output and the free space, nothing
half-written, and the next run, with space again, identical to a clean one. A real full filesystem (a
small tmpfs), not a mocked error: each writer (Python, pyarrow, safetensors, torch.save) reports it its own way."""

import errno
import subprocess

import pytest

from conftest import write_params
from sentibench.core import errors
from sentibench.core.atomic import UNFINISHED_CHECKPOINT
from sentibench.core.errors import run_cli
from sentibench.stages import prepare, train


@pytest.fixture
def small_disk(tmp_path):
    """A 32 MB tmpfs; `fill(leave)` writes a ballast file so that only `leave` bytes stay free."""
    mount = tmp_path / "disk"
    mount.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount)]
    done = subprocess.run(command, capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
    ballast = mount / "ballast"

    def fill(leave):
        import shutil

        ballast.write_bytes(b"\0" * (shutil.disk_usage(mount).free - leave))

    yield mount, fill, ballast
    subprocess.run(["umount", "--lazy", str(mount)], check=True)  # lazy: a failed writer may hold a file open


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_prepare_on_a_full_disk_is_one_line_then_reruns_clean(small_disk, tmp_path, capsys):
    mount, fill, ballast = small_disk
    params = write_params(tmp_path / "params.yaml")
    out = mount / "run"

    def run(root):
        args = ["--params", str(params), "--out", str(root / "prepared"), "--metrics", str(root / "data.json")]
        return run_cli(prepare.main, args)

    fill(20_000)
    assert run(out) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "the disk is full" in err and str(out / "prepared") in err
    assert [p.name for p in mount.rglob("*") if p.is_file()] == ["ballast"]  # nothing half-written
    ballast.unlink()
    assert run(out) == 0 and run(tmp_path / "clean") == 0
    assert _files(out) == _files(tmp_path / "clean")


def test_a_training_checkpoint_on_a_full_disk_is_one_line(small_disk, tiny_run, tmp_path, capsys):
    mount, fill, _ = small_disk
    root = tiny_run
    fill(2_000_000)  # room for the run record, not for a checkpoint (about 17 MB)
    args = ["--params", str(root / "params.yaml"), "--tokenized", str(root / "tokenized")]
    args += ["--checkpoints", str(mount / "checkpoints"), "--model-dir", str(mount / "model")]
    args += ["--dvclive", str(tmp_path / "dvclive"), "--metrics", str(mount / "train.json")]
    args += ["--timing", str(mount / "timing.json"), "--env", str(mount / "env.json"), "--pretrained", str(tmp_path)]
    assert run_cli(train.main, args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("error:")]  # the progress bar closes after it
    assert len(errors) == 1 and errors[0].startswith(f"error: {mount / 'checkpoints'}: the disk is full (")
    assert UNFINISHED_CHECKPOINT in errors[0] and "nothing was written" not in errors[0]
    assert "Traceback" not in "".join(err)
    assert not (mount / "model").exists() and not (mount / "train.json").exists()


@pytest.mark.parametrize(
    ("error", "full"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), True),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), True),
        (RuntimeError("safetensors: No space left on device (os error 28)"), True),
        (OSError(errno.EIO, "Input/output error"), False),
        (ValueError("a bug, on a nearly full disk"), False),
        (RuntimeError("[enforce fail at inline_container.cc:778] . PytorchStreamWriter failed writing file"), False),
    ],
)
def test_only_an_out_of_space_error_is_called_a_full_disk(tmp_path, monkeypatch, error, full):
    """On a nearly full disk, a real bug keeps its traceback; torch.save's errno-less failed write counts only when
    space is really gone (`TORCH_WRITE_FAILED` below), not any error raised then."""
    monkeypatch.setattr(errors, "free_space", lambda _: 10)  # as good as full
    assert errors.is_disk_full(error, tmp_path) is full
    failed_write = RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")
    assert errors.is_disk_full(failed_write, tmp_path)
    monkeypatch.setattr(errors, "free_space", lambda _: 10**9)
    assert not errors.is_disk_full(failed_write, tmp_path)


def test_the_full_disk_line_says_what_was_left_behind(tmp_path):
    assert "nothing was written" in str(errors.disk_full(tmp_path))
    assert str(errors.disk_full(tmp_path, UNFINISHED_CHECKPOINT)).endswith(
        f"{UNFINISHED_CHECKPOINT}: free some space and rerun"
    )
