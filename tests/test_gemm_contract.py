"""The portable products keep torch's contract: every mistake torch's own CPU kernel rejects is rejected with the
same kind of error and the same words (left unchecked, OpenBLAS read past a buffer: garbage, or a segfault), and
uninstalling gives back the attention setting the user had."""

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from sentibench.portable import gemm

F32, F64 = torch.float32, torch.float64


def ones(*shape, dtype=F32):
    return torch.ones(*shape, dtype=dtype)


# torch's own error cases for the four products: ranks, inner and batch sizes, dtypes, biases that do not fit.
MISTAKES = {
    "mm: other dtypes": lambda: torch.mm(ones(2, 3), ones(3, 2, dtype=F64)),
    "mm: a double first": lambda: torch.mm(ones(1, 4096, dtype=F64), ones(4096, 4096)),
    "mm: inner sizes": lambda: torch.mm(ones(8, 65536), ones(1024, 8)),
    "mm: a vector": lambda: torch.mm(ones(3), ones(3, 2)),
    "mm: a vector second": lambda: torch.mm(ones(2, 3), ones(3)),
    "mm: a batch": lambda: torch.mm(ones(1, 2, 3), ones(3, 2)),
    "matmul: inner sizes": lambda: torch.matmul(ones(4, 3), ones(4, 2)),
    "linear: inner sizes": lambda: torch.nn.functional.linear(ones(4, 3), ones(5, 4), ones(5)),
    "addmm: a vector": lambda: torch.addmm(ones(2, 2), ones(3), ones(3, 2)),
    "addmm: a vector second": lambda: torch.addmm(ones(2, 2), ones(2, 3), ones(3)),
    "addmm: a batch": lambda: torch.addmm(ones(2, 2), ones(1, 2, 3), ones(3, 2)),
    "addmm: inner sizes": lambda: torch.addmm(ones(2, 2), ones(2, 3), ones(4, 2)),
    "addmm: a double bias": lambda: torch.addmm(ones(2, 2, dtype=F64), ones(2, 3), ones(3, 2)),
    "addmm: a double mat2": lambda: torch.addmm(ones(2, 2), ones(2, 3), ones(3, 2, dtype=F64)),
    "addmm: a double mat1": lambda: torch.addmm(ones(2, 2), ones(2, 3, dtype=F64), ones(3, 2)),
    "addmm: a bias that does not fit": lambda: torch.addmm(ones(3, 3), ones(2, 3), ones(3, 2)),
    "addmm: a bias of three dimensions": lambda: torch.addmm(ones(1, 2, 2), ones(2, 3), ones(3, 2)),
    "bmm: batches of 2 and 3": lambda: torch.bmm(ones(2, 3, 4), ones(3, 4, 5)),
    "bmm: inner sizes": lambda: torch.bmm(ones(2, 3, 4), ones(2, 5, 5)),
    "bmm: a matrix": lambda: torch.bmm(ones(2, 3), ones(2, 3, 4)),
    "bmm: a matrix second": lambda: torch.bmm(ones(2, 3, 4), ones(4, 5)),
    "bmm: other dtypes": lambda: torch.bmm(ones(2, 3, 4), ones(2, 4, 5, dtype=F64)),
    "bmm: a double first": lambda: torch.bmm(ones(2, 3, 4, dtype=F64), ones(2, 4, 5)),
    "baddbmm: a double bias": lambda: torch.baddbmm(ones(2, 3, 5, dtype=F64), ones(2, 3, 4), ones(2, 4, 5)),
    "baddbmm: a double batch1": lambda: torch.baddbmm(ones(2, 3, 5), ones(2, 3, 4, dtype=F64), ones(2, 4, 5)),
    "baddbmm: a double batch2": lambda: torch.baddbmm(ones(2, 3, 5), ones(2, 3, 4), ones(2, 4, 5, dtype=F64)),
    "baddbmm: a bias that does not fit": lambda: torch.baddbmm(ones(2, 3, 6), ones(2, 3, 4), ones(2, 4, 5)),
    "baddbmm: inner sizes": lambda: torch.baddbmm(ones(2, 3, 5), ones(2, 3, 4), ones(2, 5, 5)),
    "baddbmm: a matrix": lambda: torch.baddbmm(ones(3, 5), ones(3, 4), ones(2, 4, 5)),
    "baddbmm: a matrix second": lambda: torch.baddbmm(ones(2, 3, 5), ones(2, 3, 4), ones(4, 5)),
}


def raised(call):
    try:
        call()
    except Exception as error:
        return type(error), str(error).splitlines()[0]
    return None


@pytest.fixture
def portable():
    gemm.install(2)
    yield
    gemm.uninstall()


def test_every_mistake_torch_rejects_is_rejected_with_torch_s_words():
    native = {name: raised(call) for name, call in MISTAKES.items()}
    assert all(native.values()), [name for name, found in native.items() if not found]  # torch rejects each
    gemm.install(2)
    try:
        portable = {name: raised(call) for name, call in MISTAKES.items()}
    finally:
        gemm.uninstall()
    assert portable == native


def test_checked_products_still_compute_and_uninstall_keeps_the_user_s_attention_setting(portable):
    a, b, bias = torch.randn(5, 7, dtype=F64), torch.randn(7, 3, dtype=F64), torch.randn(3, dtype=F64)
    expected = torch.from_numpy(a.numpy() @ b.numpy())
    assert gemm.installed() and torch.allclose(torch.mm(a, b), expected)
    assert torch.allclose(torch.addmm(bias, a, b, beta=0.5), expected + 0.5 * bias)
    assert torch.allclose(torch.bmm(a[None], b[None])[0], expected)
    gemm.uninstall()
    torch.backends.cuda.enable_flash_sdp(False)  # the user's own choice
    gemm.install(2)
    gemm.uninstall()
    assert not torch.backends.cuda.flash_sdp_enabled()
    torch.backends.cuda.enable_flash_sdp(True)
    gemm.install(2)


def test_every_product_torch_can_run_on_the_cpu_is_routed_refused_or_no_float_product():
    """Walks torch's registry: a torch that adds an operator multiplying matrices with a CPU kernel of its own
    fails here until gemm.py routes it, refuses it or says it computes no fp32/fp64 product."""
    found = set(gemm.blas_operators())
    listed = {*gemm.ROUTED, *gemm.REFUSED, *gemm.NOT_FLOAT}
    assert found <= listed, f"neither routed nor refused: {sorted(found - listed)}"
    assert listed <= found, f"listed but gone from torch: {sorted(listed - found)}"


def test_out_and_in_place_products_run_here_and_the_rest_is_refused(portable, monkeypatch):
    calls = []
    multiply = gemm._multiply
    monkeypatch.setattr(gemm, "_multiply", lambda *args: calls.append(1) or multiply(*args))
    a, b, c = torch.randn(4, 3), torch.randn(3, 5), torch.randn(4, 5)
    expected = torch.from_numpy(a.numpy() @ b.numpy())
    out = torch.empty(0)
    assert torch.mm(a, b, out=out) is out and torch.allclose(out, expected) and out.shape == (4, 5)
    assert torch.allclose(torch.addmm(c, a, b, out=torch.empty(4, 5)), c + expected)
    assert torch.allclose(c.clone().addmm_(a, b, beta=2), 2 * c + expected)
    assert torch.allclose(torch.bmm(a[None], b[None], out=torch.empty(1, 4, 5))[0], expected)
    assert torch.allclose(torch.baddbmm(c[None], a[None], b[None], out=torch.empty(1, 4, 5))[0], c + expected)
    assert torch.allclose(c[None].clone().baddbmm_(a[None], b[None])[0], c + expected)
    assert len(calls) == 6  # every one of them in the pinned OpenBLAS
    with pytest.raises(RuntimeError, match=r"Expected out tensor to have dtype torch\.float32, but got torch\.float64"):
        torch.mm(a, b, out=torch.empty(4, 5, dtype=F64))
    for refused, call in {
        "addmv": lambda: torch.mv(a, b[:, 0]),
        "dot": lambda: torch.dot(a[0], a[1]),
        "addbmm": lambda: torch.addbmm(c, a[None], b[None]),
        "addr": lambda: torch.addr(c, a[:, 0], b[0]),
    }.items():
        with pytest.raises(RuntimeError, match=rf"runtime\.portable: aten::{refused}_? would compute in MKL"):
            call()


def test_threads_computing_products_at_once_make_one_pool(portable, monkeypatch):
    """The pool the blocks are shared over is made under a lock: eight threads whose first products start
    together make one, and their products are right. Making a pool waits (up to half a second) for a second
    thread to be making one too: without the lock one always is, and two pools are made."""
    made = []
    together = threading.Barrier(2, timeout=0.5)

    def counted(*args, **kwargs):
        made.append(args)
        with contextlib.suppress(threading.BrokenBarrierError):
            together.wait()
        return ThreadPoolExecutor(*args, **kwargs)

    monkeypatch.setattr(gemm, "ThreadPoolExecutor", counted)
    monkeypatch.setattr(gemm._State, "pool", None)
    a, b = torch.randn(64, 96), torch.randn(96, 512)  # 512 columns: two blocks, so the pool is used
    expected = torch.from_numpy(a.numpy() @ b.numpy())
    start = threading.Barrier(8)

    def product() -> bool:
        start.wait()
        return torch.allclose(torch.mm(a, b), expected, atol=1e-4)

    with ThreadPoolExecutor(8) as callers:
        assert all(callers.map(lambda _: product(), range(8)))
    assert len(made) == 1
