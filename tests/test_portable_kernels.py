"""Portable mode, op by op: one training step of the default shape gives the same bytes on this CPU and on an
emulated CPU of another vendor and generation (forward of every module, every gradient, the optimizer step).

repro-check compares whole pipelines on an emulated Haswell in CI; this names the op that breaks when one
does, on an emulated AMD EPYC (AVX2, no AVX-512, another vendor string: MKL takes its non-Intel paths).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from sentibench.core.runtime import KERNEL_VARIABLES, PORTABLE_ENV

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64", reason="AVX2 and qemu-x86_64 are x86-64 only")


def fingerprint(pinned: dict[str, str], *prefix: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in KERNEL_VARIABLES}
    env.update(pinned, PYTHONPATH=str(REPO / "src"))
    command = [*prefix, sys.executable, "-m", "sentibench.checks.kernels", "--shape", "default"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def differing(a: dict[str, str], b: dict[str, str]) -> list[str]:
    return [name for name in a if a[name] != b.get(name)]


@pytest.fixture(scope="module")
def native_portable() -> dict[str, str]:
    return fingerprint(PORTABLE_ENV)


def test_the_fingerprint_covers_forward_backward_and_the_step(native_portable):
    kinds = {name.split(" ", 1)[0] for name in native_portable}
    assert kinds == {"forward", "loss", "grad", "step"}
    assert "forward bert.encoder.layer.1.attention.self" in native_portable
    assert len([n for n in native_portable if n.startswith("step ")]) == 41  # every parameter tensor


def test_pinning_changes_what_an_avx512_cpu_computes(native_portable):
    """The kernels portable mode pins are the ones that matter: natively, AVX-512 kernels give other bytes
    (so the emulated comparison below could fail)."""
    if "avx512f" not in Path("/proc/cpuinfo").read_text().split():
        pytest.skip("this CPU has no AVX-512: its native kernels are AVX2 already")
    native = fingerprint({})
    assert differing(native, native_portable)
    assert not differing(native, fingerprint({}))  # and reruns are identical


@pytest.mark.skipif(shutil.which("qemu-x86_64") is None, reason="needs qemu-user (installed by .ci/run)")
def test_portable_step_is_identical_on_an_emulated_cpu_of_another_vendor(native_portable):
    """About 3 minutes: the emulated interpreter imports torch and Transformers at a tenth of the speed."""
    emulated = fingerprint(PORTABLE_ENV, "qemu-x86_64", "-cpu", "EPYC")
    assert differing(native_portable, emulated) == []
