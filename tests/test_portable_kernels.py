"""Portable mode, op by op: one training step of the default shape gives the same bytes on this CPU and on
emulated CPUs of another vendor and generation (forward of every module, every gradient, the optimizer
step), every matrix product of it runs in the pinned OpenBLAS (portable/gemm.py), and those bytes depend on
neither the thread count nor MKL.

repro-check compares whole pipelines on an emulated Haswell in CI; this names the op that breaks when one
does, on an emulated AMD EPYC (AVX2, no AVX-512, another vendor string: MKL takes its non-Intel paths) and
an emulated Intel Haswell (other CPUID, other cache sizes).
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from sentibench.portable import gemm
from sentibench.portable.runtime import PORTABLE_ENV, unpinned_environment

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64", reason="AVX2 and qemu-x86_64 are x86-64 only")


def start_fingerprint(
    *prefix: str, kernels: str = "portable", env: dict[str, str] | None = None, **flags: str
) -> subprocess.Popen[str]:
    """One training step's fingerprint (checks/kernels.py) in a process of its own, started."""
    environment = {**unpinned_environment(), **(env or {}), "PYTHONPATH": str(REPO / "src")}
    command = [*prefix, sys.executable, "-m", "sentibench.checks.kernels", "--shape", "default", "--kernels", kernels]
    command += [item for name, value in flags.items() for item in (f"--{name}", value)]
    return subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen[str]) -> dict:
    stdout, stderr = process.communicate()
    assert process.returncode == 0, stderr[-2000:]
    return json.loads(stdout)


def fingerprint(*prefix: str, kernels: str = "portable", env: dict[str, str] | None = None, **flags: str) -> dict:
    return finish(start_fingerprint(*prefix, kernels=kernels, env=env, **flags))


def differing(a: dict[str, str], b: dict[str, str]) -> list[str]:
    return [name for name in a if a[name] != b.get(name)]


@pytest.fixture(scope="module")
def native_portable() -> dict[str, str]:
    return fingerprint()


def test_the_fingerprint_covers_forward_backward_and_the_step(native_portable):
    kinds = {name.split(" ", 1)[0] for name in native_portable}
    assert kinds == {"forward", "loss", "grad", "step", "eval"}
    assert "forward bert.encoder.layer.1.attention.self" in native_portable
    assert len([n for n in native_portable if n.startswith("step ")]) == 41  # every parameter tensor


def test_nothing_moves_whatever_mkl_does(native_portable):
    """With MKL left to its own kernels (MKL_CBWR unset, ATen still at AVX2) no output of the portable step moves:
    its products run in OpenBLAS and its tanh outside MKL's VML (portable/vml.py; before, BertPooler's tanh moved
    here on an Intel CPU with AVX-512, and everything after it). Without the OpenBLAS products, the same MKL
    change does change them, so the comparison could fail. (On an AMD CPU MKL runs one kernel whatever MKL_CBWR
    says: tests/test_mkl_calls.py counts the calls instead, on any vendor.)"""
    avx2_only = {k: v for k, v in PORTABLE_ENV.items() if k != "MKL_CBWR"}
    code = (
        "import json, torch; from sentibench.portable import gemm; from sentibench.checks.kernels import fingerprint;"
        "torch.set_num_threads(2); torch.use_deterministic_algorithms(True); gemm.install(2);"
        "print(json.dumps(fingerprint('default')))"
    )
    environment = {**unpinned_environment(), **avx2_only, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True)
    assert not differing(native_portable, json.loads(done.stdout))
    mkl_own = fingerprint(kernels="environment", env=avx2_only)
    assert differing(mkl_own, fingerprint(kernels="environment", env=PORTABLE_ENV))


def test_the_thread_count_changes_only_the_layer_norm_gradients(native_portable):
    """Every output of the step compared at 1 and 3 threads against 2: the products are thread-invariant (OpenBLAS
    runs one thread per block of a fixed size), and so is every forward output; what moves is ATen's own
    reduction of LayerNorm's weight and bias gradients over the rows, and what follows from it (those
    parameters after the step, the logits evaluated with them). docs/reproducibility.md#threads."""
    for threads in ("1", "3"):
        moved = differing(native_portable, fingerprint(threads=threads))
        assert moved, threads  # else the comparison could not fail
        follows = [name for name in moved if name != "eval logits"]
        assert all(name.startswith(("grad ", "step ")) and ".LayerNorm." in name for name in follows), moved


def test_native_kernels_differ_on_an_avx512_cpu(native_portable):
    """Pinning changes what an AVX-512 CPU computes, so the emulated comparison below could fail; reruns agree."""
    if "avx512f" not in Path("/proc/cpuinfo").read_text().split():
        pytest.skip("this CPU has no AVX-512: its native kernels are AVX2 already")
    native = fingerprint(kernels="native")
    assert differing(native, native_portable)
    assert not differing(native, fingerprint(kernels="native"))


def test_a_native_run_differs_from_portable(native_portable):
    """Native kernels (MKL's own GEMMs, the fused attention) give other bytes than portable on any CPU."""
    assert differing(fingerprint(kernels="native"), native_portable)


def test_openblas_is_the_version_the_bytes_were_proven_with():
    """An upgrade of numpy (which bundles OpenBLAS) fails here and stops portable runs (check_library), instead of
    silently changing the bytes."""
    assert gemm.library_identity()["version"] == gemm.OPENBLAS_VERSION
    assert gemm.library_identity()["coretype"] == gemm.CORETYPE


def test_another_openblas_stops_a_portable_run(monkeypatch):
    monkeypatch.setattr(gemm, "library_identity", lambda: {"version": "0.3.32", "coretype": gemm.CORETYPE})
    with pytest.raises(RuntimeError, match=r"OpenBLAS 0\.3\.32 is not 0\.3\.31"):
        gemm.check_library()
    monkeypatch.setattr(gemm, "library_identity", lambda: {"version": gemm.OPENBLAS_VERSION, "coretype": "SkylakeX"})
    with pytest.raises(RuntimeError, match="SkylakeX kernels"):
        gemm.check_library()


@pytest.mark.skipif(shutil.which("qemu-x86_64") is None, reason="needs qemu-user (installed by .ci/run)")
def test_portable_step_is_identical_on_emulated_cpus_of_another_vendor_and_generation(native_portable):
    """An AMD EPYC and an Intel Haswell, emulated side by side: each took about 90 s alone on 2 cores, most of it
    the emulated interpreter importing torch and Transformers, one core's work."""
    started = {model: start_fingerprint("qemu-x86_64", "-cpu", model) for model in ("EPYC", "Haswell")}
    emulated = {model: finish(process) for model, process in started.items()}
    differences = {model: differing(native_portable, found) for model, found in emulated.items()}
    assert differences == {"EPYC": [], "Haswell": []}
