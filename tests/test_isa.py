"""A CPU without AVX2 gets a clear word, not a bare SIGILL: every sentibench process asks the CPU itself (CPUID,
so an emulated CPU answers) before it pins anything; `runtime.portable: true` then stops with one line naming
what is missing and the way out, and `runtime.portable: false` runs on the CPU's own kernels."""

import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import write_params
from sentibench.portable.isa import cpuid, missing_for_portable

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64", reason="CPUID and qemu-x86_64 are x86-64 only")
NEHALEM = ["qemu-x86_64", "-cpu", "Nehalem", sys.executable]  # SSE4.2, no AVX at all
needs_qemu = pytest.mark.skipif(shutil.which("qemu-x86_64") is None, reason="needs qemu-user (installed by .ci/run)")


def test_the_cpu_answers_for_itself():
    info = Path("/proc/cpuinfo").read_text()
    vendor = cpuid(0)
    name = b"".join(register.to_bytes(4, "little") for register in (vendor[1], vendor[3], vendor[2])).decode()
    assert f"vendor_id\t: {name}" in info
    flags = next(line for line in info.splitlines() if line.startswith("flags")).split()
    expected = tuple(n for n, flag in (("AVX2", "avx2"), ("FMA", "fma"), ("AVX", "avx")) if flag not in flags)
    assert missing_for_portable() == expected


@needs_qemu
def test_without_avx2_sentibench_loads_and_portable_says_why_it_cannot(tmp_path):
    loaded = subprocess.run(
        [
            *NEHALEM,
            "-c",
            "import os, sentibench, numpy; print(os.environ.get('OPENBLAS_CORETYPE'), numpy.ones(4) @ numpy.ones(4))",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr[-500:]  # was: exit 132, "Illegal instruction"
    assert loaded.stdout.split() == ["None", "4.0"]  # OpenBLAS keeps its own kernels: Haswell's would be SIGILL
    params = write_params(tmp_path / "params.yaml", {"runtime": {"portable": True, "threads": 1}})
    outputs = [
        "--model-dir",
        "model",
        "--dvclive",
        "live",
        "--metrics",
        "m.json",
        "--timing",
        "t.json",
        "--env",
        "e.json",
    ]
    stopped = subprocess.run(
        [*NEHALEM, "-m", "sentibench.stages.train", "--params", str(params), "--checkpoints", "checkpoints", *outputs],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert stopped.returncode == 2, stopped.stderr[-500:]
    [line] = stopped.stderr.strip().splitlines()
    assert (
        line.startswith("error: runtime.portable: this CPU lacks AVX2, FMA, AVX") and "runtime.portable: false" in line
    )
