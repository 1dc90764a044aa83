"""Nothing of a portable step computes in MKL, counted on any vendor's CPU (checks/mklcalls.py: breakpoints on
MKL's entry points under gdb); every aten operator that would hand its math to MKL's vector math is routed or
refused (portable/vml.py); the routed tanh is tanh."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import torch

from conftest import REPO
from sentibench.checks import mklcalls
from sentibench.core.errors import UserError
from sentibench.portable import gemm, vml
from sentibench.portable.runtime import unpinned_environment

needs_gdb = pytest.mark.skipif(shutil.which("gdb") is None, reason="needs gdb (installed by .ci/run)")


def step_calls(kernels: str) -> dict[str, int]:
    """MKL's computing calls in a process that runs one training step and one evaluation (checks/kernels.py)."""
    command = [sys.executable, "-m", "sentibench.checks.kernels", "--shape", "ci", "--kernels", kernels]
    calls, _ = mklcalls.count(command, env={**unpinned_environment(), "PYTHONPATH": str(REPO / "src")})
    return mklcalls.computing(calls)


@needs_gdb
def test_a_portable_training_and_evaluation_step_calls_no_mkl():
    """Before portable/vml.py, BertPooler's tanh called vmsTanh in every step and every evaluation."""
    assert step_calls("portable") == {}


@needs_gdb
def test_the_count_sees_mkl_where_it_computes():
    native = step_calls("native")
    assert native.get("vmsTanh", 0) >= 2  # the pooler, in training and in evaluation
    assert any("gemm" in name.lower() for name in native), native


@needs_gdb
def test_every_operator_that_reaches_mkls_vector_math_is_routed_or_refused():
    """Found by running every single-tensor aten operator under the count: a torch that sends another one (or
    one fewer) to MKL fails here until portable/vml.py lists it."""
    reached = mklcalls.reaching_operators()
    assert all(name.startswith(("vms", "vmd")) for entries in reached.values() for name in entries), reached
    assert sorted(reached) == sorted(vml.VML_OPERATORS)
    covered = {*vml.ROUTED, *vml.REFUSED}
    assert all(name in covered for name in reached)


def test_mkls_entry_points_are_read_from_the_library():
    entries = set(mklcalls.mkl_entry_points(mklcalls.torch_library()).values())
    assert {"vsTanh", "vmsTanh", "sgemm", "cblas_sgemm_batch"} <= entries
    assert not any(name.startswith(("Sleef_", "pthreadpool", "_Z")) for name in entries)


def test_no_gdb_is_one_line(monkeypatch):
    monkeypatch.setattr(mklcalls.shutil, "which", lambda name: None)
    with pytest.raises(UserError, match="needs gdb"):
        mklcalls.count([sys.executable, "-c", "pass"])
    done = subprocess.run(
        [sys.executable, "-m", "sentibench.checks.mklcalls"], capture_output=True, text=True, cwd=REPO
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 2  # argparse's usage and its one line


@pytest.fixture
def portable():
    gemm.install(2)
    yield
    gemm.uninstall()


def test_the_routed_tanh_is_tanh_rounded_once(portable):
    """fp32: equal to fp64's tanh rounded to fp32 (torch's own, in MKL, is one unit off on about 1%); fp64: within
    two units; signs, zeros, infinities and NaN as tanh has them; gradients, out= and in-place as torch's."""
    values = torch.randn(100_000, generator=torch.Generator().manual_seed(0)) * 4
    gemm.uninstall()
    wide = torch.tanh(values.double())
    gemm.install(2)
    assert torch.equal(torch.tanh(values), wide.float())
    assert ((torch.tanh(values.double()) - wide).abs() <= 4.5e-16 * wide.abs()).all()
    special = torch.tensor([0.0, -0.0, 1e-30, -1e-30, float("inf"), -float("inf"), 20.0, -20.0])
    assert torch.equal(torch.tanh(special), torch.tensor([0.0, -0.0, 1e-30, -1e-30, 1.0, -1.0, 1.0, -1.0]))
    assert torch.tanh(special).signbit().tolist() == special.signbit().tolist()
    assert torch.tanh(torch.tensor([float("nan")])).isnan().all()
    leaf = values[:10].clone().requires_grad_()
    torch.tanh(leaf).sum().backward()
    assert torch.allclose(leaf.grad, 1 - torch.tanh(values[:10]) ** 2, atol=1e-6)
    out = torch.empty(3)
    assert torch.tanh(torch.ones(3), out=out) is out and torch.equal(out, torch.tanh(torch.ones(3)))
    assert torch.ones(3).tanh_().tolist() == torch.tanh(torch.ones(3)).tolist()
    assert torch.tanh(torch.arange(3)).dtype == torch.float32


def test_the_other_vector_math_is_refused_in_one_line(portable):
    for call in (lambda: torch.exp(torch.ones(2)), lambda: torch.ones(2).sqrt_(), lambda: torch.erf(torch.ones(2))):
        with pytest.raises(RuntimeError, match=r"aten::\w+ would compute in MKL, whose vector math differs"):
            call()
