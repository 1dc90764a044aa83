"""Portable matrix products: torch's CPU matrix products (`mm`, `addmm`, `bmm`, `baddbmm`, their `out=` and
in-place overloads, so `linear`, `matmul` and eager attention, forward and backward) run in numpy's bundled
OpenBLAS, with its Haswell kernels, single-threaded, on blocks whose bounds depend only on the product's shape.
Every other operator with a CPU kernel that multiplies matrices (`mv`, `dot`, `addbmm`, `addr`, the fused
activation and attention kernels...) is refused with one line: it would compute in MKL, unseen. Which those
are is found by walking torch's registry (`blas_operators`), and a test fails when a torch adds one that is
neither routed nor refused. torch's argument checks are kept, with torch's own messages.

Why this and not MKL: MKL's only branch that gives the same bytes on every vendor's CPU
(`MKL_CBWR=COMPATIBLE`) runs at a quarter to a half of its AVX2 speed (docs/results.md). OpenBLAS picks its
kernel by its core type, which `OPENBLAS_CORETYPE` fixes before the library loads; the Haswell sgemm
kernel sums with FMA, vector adds and multiplies only (all exactly rounded: no approximate reciprocal or
square root), and its K blocking is a constant of the core type (OpenMathLib/OpenBLAS#4510), not read from
the CPU's caches. What still changes its bytes is its own thread count and how a product is split (both
measured: a product computed in two halves gives other bytes than whole). So OpenBLAS always runs with
one thread, on blocks fixed by code (`blocks`), and the blocks are spread over `runtime.threads` Python
threads (ctypes releases the GIL): the bytes depend on neither the thread count, nor the vendor, nor the
caches. The version the proof holds for is `OPENBLAS_VERSION`: another one stops the run (`check_library`)
rather than silently change the bytes. tests/test_portable_kernels.py has the proof.
"""

from __future__ import annotations

import ctypes
import math
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

from sentibench.portable import vml

CORETYPE = "Haswell"  # pinned with one thread for every sentibench process, in sentibench/__init__.py
# numpy 2.4.6's wheel (scipy-openblas64); its Haswell kernels are what the committed bytes were made with.
OPENBLAS_VERSION = "0.3.31.188.0"
BLOCK = 256  # rows (or columns) per single-threaded call: 512 and 1,024 were no faster (docs/results.md)
ALIGN = 16  # block bounds are multiples of this (the Haswell kernels' unroll)
# Every aten operator with a CPU kernel of its own that multiplies matrices (found by walking torch's registry:
# `blas_operators`; tests/test_gemm_contract.py fails when a torch adds one that is in none of these lists):
# those routed here, those refused under runtime.portable (they would run in MKL, outside the pinned
# products, and nothing in the default model calls them), and those that compute no fp32/fp64 product.
ROUTED = ("mm", "mm.out", "addmm", "addmm.out", "addmm_", "bmm", "bmm.out", "baddbmm", "baddbmm.out", "baddbmm_")
REFUSED = (
    *("addbmm", "addbmm.out", "addbmm_", "addmv", "addmv.out", "addmv_", "addr", "addr.out", "dot", "vdot"),
    *("_addmm_activation", "_addmm_activation.out"),
    *("_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention_for_cpu_backward"),
    "_native_multi_head_attention",  # nn.MultiheadAttention's fused path (not BERT's), its products unproven
)
NOT_FLOAT = (  # integer, fp8, packed-quantized and sparse products, and a linear combination that is no product
    *("_int_mm", "_int_mm.out", "_scaled_mm", "_scaled_mm.out", "_scaled_mm_v2", "_scaled_mm_v2.out"),
    *("_weight_int4pack_mm_for_cpu", "_weight_int8pack_mm", "_dyn_quant_matmul_4bit", "sspaddmm.out"),
    *("_compute_linear_combination", "_compute_linear_combination.out"),
)
PRODUCT_WORDS = {  # an operator whose name has one of these words (split at "_") multiplies matrices
    *("mm", "mv", "dot", "vdot", "addr", "ger", "bmm", "addmm", "addbmm", "baddbmm", "addmv", "matmul", "sspaddmm"),
    *("linear", "inner", "outer", "tensordot", "einsum", "attention", "combination"),
}

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
_INT, _PTR = ctypes.c_int64, ctypes.c_void_p


class _State:
    """What `install` set up: the registration (kept alive, or torch drops it), the pool and its process."""

    library: Any = None
    flash_attention = True  # the setting found at install, given back by uninstall
    threads = 1
    computed = 0  # products computed here since the process started: verify reads it from env.json
    pool: ThreadPoolExecutor | None = None
    pool_pid = 0
    lock = threading.Lock()  # held while the pool is made


@cache
def _openblas() -> ctypes.CDLL:
    """numpy's bundled OpenBLAS (the ILP64 build scipy-openblas64, whose symbols carry `scipy_` and `64_`)."""
    import numpy

    folder = Path(numpy.__file__).resolve().parent.parent / "numpy.libs"
    found = sorted(folder.glob("libscipy_openblas64_*.so"))
    if not found:
        raise RuntimeError(f"runtime.portable: numpy's OpenBLAS is not in {folder} (numpy from a wheel is needed)")
    lib = ctypes.CDLL(str(found[0]))
    for name, real in (("sgemm", ctypes.c_float), ("dgemm", ctypes.c_double)):
        function = getattr(lib, f"scipy_cblas_{name}64_")
        function.argtypes = [ctypes.c_int] * 3 + [_INT] * 3 + [real, _PTR, _INT, _PTR, _INT, real, _PTR, _INT]
        function.restype = None
    lib.scipy_openblas_get_corename64_.restype = ctypes.c_char_p
    lib.scipy_openblas_get_config64_.restype = ctypes.c_char_p
    lib.scipy_openblas_set_num_threads64_.argtypes = [ctypes.c_int]
    return lib


def library_identity() -> dict[str, str]:
    """The OpenBLAS numpy loaded: its version and the core type whose kernels it runs."""
    lib = _openblas()
    config = lib.scipy_openblas_get_config64_().decode()
    version = config.split()[1] if config.startswith("OpenBLAS") else config
    return {"version": version, "coretype": lib.scipy_openblas_get_corename64_().decode()}


def check_library() -> None:
    """Stop, naming what differs, unless OpenBLAS is the proven version and runs the pinned core type."""
    seen = library_identity()
    if seen["coretype"] != CORETYPE:
        raise RuntimeError(
            f"runtime.portable: OpenBLAS runs its {seen['coretype']} kernels, not {CORETYPE}: numpy was imported "
            "before sentibench (import sentibench first, or run the stage as a process)"
        )
    if seen["version"] != OPENBLAS_VERSION:
        raise RuntimeError(
            f"runtime.portable: OpenBLAS {seen['version']} is not {OPENBLAS_VERSION}, the version the portable bytes "
            "were proven with (numpy's wheel bundles it: install the numpy of requirements/runtime.txt)"
        )


def blocks(size: int) -> list[tuple[int, int]]:
    """Bounds of the blocks a dimension of `size` is cut into: a function of the size alone. At least two
    from 2 * ALIGN on, so that two threads share even a small output (a weight's gradient: 128 x 128 summed
    over 2,048 tokens)."""
    parts = max(1 if size < 2 * ALIGN else 2, math.ceil(size / BLOCK))
    step = math.ceil(size / parts / ALIGN) * ALIGN
    return [(start, min(start + step, size)) for start in range(0, size, step)]


def _layout(matrices: Any) -> tuple[Any, int, int]:
    """A batch of matrices (copied only if neither they nor their transposes are row-major), their cblas
    transpose flag and leading dimension."""
    _, rows, cols = matrices.shape
    if matrices.stride(2) == 1 and matrices.stride(1) >= max(1, cols):
        return matrices, NO_TRANS, matrices.stride(1)
    if matrices.stride(1) == 1 and matrices.stride(2) >= max(1, rows):
        return matrices, TRANS, matrices.stride(2)
    return matrices.contiguous(), NO_TRANS, max(1, cols)


def _multiply(a: Any, b: Any, out: Any, alpha: float, beta: float) -> None:
    """out[i] = alpha * a[i] @ b[i] + beta * out[i] for a batch (out contiguous), in single-threaded OpenBLAS
    calls: one per matrix of a batch, or, for a batch of one, one per block of the longer side of out. The
    calls are shared out over the threads (one hand-off per thread; ctypes releases the GIL): which thread
    computes a call changes no byte."""
    a, trans_a, lda = _layout(a)
    b, trans_b, ldb = _layout(b)
    count, rows, inner = a.shape
    cols = b.shape[2]
    lib = _openblas()
    gemm = lib.scipy_cblas_sgemm64_ if out.dtype.itemsize == 4 else lib.scipy_cblas_dgemm64_
    size = out.element_size()
    a_at, b_at, c_at = a.data_ptr(), b.data_ptr(), out.data_ptr()
    if count > 1:
        step_a, step_b, step_c = a.stride(0) * size, b.stride(0) * size, rows * cols * size
        calls = [(rows, cols, a_at + i * step_a, b_at + i * step_b, c_at + i * step_c) for i in range(count)]
    elif rows >= cols:
        calls = [
            (stop - start, cols, a_at + start * a.stride(1) * size, b_at, c_at + start * cols * size)
            for start, stop in blocks(rows)
        ]
    else:
        calls = [
            (rows, stop - start, a_at, b_at + start * b.stride(2) * size, c_at + start * size)
            for start, stop in blocks(cols)
        ]

    def run(share: list[tuple[int, int, int, int, int]]) -> None:
        for m, n, a_ptr, b_ptr, c_ptr in share:
            gemm(ROW_MAJOR, trans_a, trans_b, m, n, inner, alpha, a_ptr, lda, b_ptr, ldb, beta, c_ptr, cols)

    shares = min(_State.threads, len(calls))
    if shares == 1:
        run(calls)
        return
    others = [_pool().submit(run, calls[share::shares]) for share in range(1, shares)]
    run(calls[::shares])
    for future in others:
        future.result()


def _pool() -> ThreadPoolExecutor:
    """The pool the blocks are shared out over: one a process (a forked child has no pool threads), made once
    even when several threads compute products at once."""
    with _State.lock:
        if _State.pool is None or _State.pool_pid != os.getpid():
            _State.pool = ThreadPoolExecutor(_State.threads - 1, thread_name_prefix="portable-gemm")
            _State.pool_pid = os.getpid()
        return _State.pool


os.register_at_fork(after_in_child=lambda: setattr(_State, "lock", threading.Lock()))  # never inherited held


# torch's contract, kept: the override raises what torch's own CPU kernel raises for the same mistake, with
# its words (torch 2.13's messages; tests/test_portable_kernels.py runs torch's error cases through both). Left
# unchecked, a mismatched inner size or dtype makes OpenBLAS read past a buffer: garbage or a segfault.
_C_NAMES = {"float32": "float", "float64": "double", "int64": "long int", "int32": "int", "float16": "c10::Half"}


def _c_name(tensor: Any) -> str:
    """A dtype as torch's C++ messages name it in some checks ("float", "double", "long int")."""
    name = str(tensor.dtype).removeprefix("torch.")
    return _C_NAMES.get(name, f"c10::{name}")


def _scalar_name(tensor: Any) -> str:
    """A dtype as its ScalarType ("Float", "Double", "Long"), as other checks name it."""
    return tensor.type().removeprefix("torch.").removesuffix("Tensor")


def _refuse_other_dtypes(*tensors: Any) -> None:
    import torch

    for tensor in tensors:
        if tensor.dtype not in (torch.float32, torch.float64):
            raise RuntimeError(
                f"runtime.portable computes matrix products in fp32 and fp64 only, not {tensor.dtype} "
                "(runtime.portable: false for other types)"
            )


def _check_matrices(a: Any, b: Any, first: str, got: bool) -> None:
    """mm's and addmm's shape checks (addmm says which rank it got: `got`)."""
    for name, tensor in ((first, a), ("mat2", b)):
        if tensor.dim() != 2:
            raise RuntimeError(f"{name} must be a matrix" + (f", got {tensor.dim()}-D tensor" if got else ""))
    if a.shape[1] != b.shape[0]:
        shapes = f"{a.shape[0]}x{a.shape[1]} and {b.shape[0]}x{b.shape[1]}"
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({shapes})")


def _check_batches(a: Any, b: Any) -> None:
    """bmm's and baddbmm's shape checks."""
    for name, tensor in (("batch1", a), ("batch2", b)):
        if tensor.dim() != 3:
            raise RuntimeError(f"{name} must be a 3D tensor")
    if (b.shape[0], b.shape[1]) != (a.shape[0], a.shape[2]):
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: [{a.shape[0]}, {a.shape[2]}] "
            f"but got: [{b.shape[0]}, {b.shape[1]}]."
        )
    if a.dtype != b.dtype:
        raise RuntimeError(f"expected scalar type {_scalar_name(a)} but found {_scalar_name(b)}")


def _start(bias: Any, shape: tuple[int, ...], dtype: Any, beta: float) -> tuple[Any, float]:
    """The output, holding beta * bias when there is one, and the beta the OpenBLAS calls then take."""
    import torch

    if bias is None or beta == 0:
        return torch.empty(shape, dtype=dtype), 0.0
    out = torch.empty(shape, dtype=dtype).copy_(bias.expand(shape))  # twice as fast as .to(copy=True) here
    if beta != 1:
        out.mul_(beta)
    return out, 1.0


def baddbmm(bias: Any, a: Any, b: Any, *, beta: float = 1, alpha: float = 1) -> Any:
    shape = (a.size(0), a.size(1), b.size(2))  # torch's IndexError for too few dimensions, as torch does first
    if bias is not None:
        bias.expand(shape)  # torch's error when the bias does not broadcast
        if bias.dtype != a.dtype:
            names = f"input {_c_name(bias)}, batch1: {_c_name(a)}, batch2: {_c_name(b)}"
            raise RuntimeError(f"Input dtypes must be the same, got: {names}")
    _check_batches(a, b)
    return _baddbmm(bias, a, b, shape, beta, alpha)


def _baddbmm(bias: Any, a: Any, b: Any, shape: tuple[int, int, int], beta: float, alpha: float) -> Any:
    """baddbmm of checked arguments."""
    _refuse_other_dtypes(a, b)
    _State.computed += 1
    out, blas_beta = _start(bias, shape, a.dtype, beta)
    if out.numel() and a.shape[2]:
        _multiply(a, b, out, float(alpha), blas_beta)
    elif out.numel() and blas_beta == 0:
        out.zero_()
    return out


def bmm(a: Any, b: Any) -> Any:
    _check_batches(a, b)
    return _baddbmm(None, a, b, (a.shape[0], a.shape[1], b.shape[2]), 0, 1)


def addmm(bias: Any, a: Any, b: Any, *, beta: float = 1, alpha: float = 1) -> Any:
    _check_matrices(a, b, "mat1", got=True)
    bias = bias.expand(a.shape[0], b.shape[1])  # torch's error when the bias does not broadcast
    if bias.dtype != b.dtype:
        raise RuntimeError(
            f"self and mat2 must have the same dtype, but got {_scalar_name(bias)} and {_scalar_name(b)}"
        )
    if a.dtype != b.dtype:
        raise RuntimeError(f"mat1 and mat2 must have the same dtype, but got {_scalar_name(a)} and {_scalar_name(b)}")
    return _addmm(bias, a, b, beta, alpha)


def _addmm(bias: Any, a: Any, b: Any, beta: float, alpha: float) -> Any:
    """addmm of checked arguments, as a batch of one."""
    shape = (1, a.shape[0], b.shape[1])
    return _baddbmm(None if bias is None else bias[None], a[None], b[None], shape, beta, alpha)[0]


def mm(a: Any, b: Any) -> Any:
    _check_matrices(a, b, "self", got=False)
    if a.dtype != b.dtype:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: {_c_name(a)} != {_c_name(b)}")
    return _addmm(None, a, b, 0, 1)


def _into(out: Any, result: Any) -> Any:
    """An `out=` overload's end: torch's dtype rule, then the result in `out` (resized as torch resizes it)."""
    if out.dtype != result.dtype:
        raise RuntimeError(f"Expected out tensor to have dtype {result.dtype}, but got {out.dtype} instead")
    if out.shape != result.shape:
        out.resize_(result.shape)
    return out.copy_(result)


def _in_place(target: Any, result: Any) -> Any:
    """An in-place overload's end: the result must have the target's own shape (no broadcasting into it)."""
    if target.shape != result.shape:
        raise RuntimeError(
            f"output with shape {list(target.shape)} doesn't match the broadcast shape {list(result.shape)}"
        )
    return target.copy_(result)


def _refuse(name: str, why: str) -> Any:
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"runtime.portable: aten::{name} would compute in MKL, {why}, or runtime.portable: false")

    return refused


REFUSALS = {  # why, for each refused operator
    **{name: "outside the pinned matrix products (portable/gemm.py); use mm, matmul or linear" for name in REFUSED},
    **{name: "whose vector math differs between CPU vendors (portable/vml.py)" for name in vml.REFUSED},
}


KERNELS = {
    "mm": mm,
    "mm.out": lambda a, b, *, out: _into(out, mm(a, b)),
    "addmm": addmm,
    "addmm.out": lambda bias, a, b, *, beta=1, alpha=1, out: _into(out, addmm(bias, a, b, beta=beta, alpha=alpha)),
    "addmm_": lambda self, a, b, *, beta=1, alpha=1: _in_place(self, addmm(self, a, b, beta=beta, alpha=alpha)),
    "bmm": bmm,
    "bmm.out": lambda a, b, *, out: _into(out, bmm(a, b)),
    "baddbmm": baddbmm,
    "baddbmm.out": lambda bias, a, b, *, beta=1, alpha=1, out: _into(out, baddbmm(bias, a, b, beta=beta, alpha=alpha)),
    "baddbmm_": lambda self, a, b, *, beta=1, alpha=1: _in_place(self, baddbmm(self, a, b, beta=beta, alpha=alpha)),
}


def blas_operators() -> list[str]:
    """The aten operators (with overload) that multiply matrices and have a CPU kernel of their own: names
    from torch's registry with a product's word in them, kept when the CPU dispatch key has a kernel for them
    (composite ones, such as matmul, linear or mv, decompose into these)."""
    import torch

    def product(name: str) -> bool:
        base = name.removeprefix("aten::").split(".")[0]
        return name.startswith("aten::") and bool(PRODUCT_WORDS & set(base.split("_")))

    names = (name for name in torch._C._dispatch_get_all_op_names() if product(name))
    return sorted(
        name.removeprefix("aten::") for name in names if torch._C._dispatch_has_kernel_for_dispatch_key(name, "CPU")
    )


def install(threads: int) -> None:
    """Route this process's CPU matrix products to OpenBLAS (once; `threads` Python threads share the blocks),
    and keep its elementwise math out of MKL's VML (portable/vml.py)."""
    _State.threads = threads
    if _State.library is not None:
        return
    check_library()
    _openblas().scipy_openblas_set_num_threads64_(1)
    import torch

    library = torch.library.Library("aten", "IMPL")
    with warnings.catch_warnings():  # torch warns that it replaces its own CPU kernel: that is the point
        warnings.simplefilter("ignore")
        for name, kernel in {**KERNELS, **vml.kernels(_into, _in_place)}.items():
            library.impl(name, kernel, "CPU")
        for name, why in REFUSALS.items():
            library.impl(name, _refuse(name, why), "CPU")
    _State.library = library
    # The fused CPU attention (flash) multiplies inside its own kernel, through MKL: off, attention takes
    # scaled_dot_product_attention's math path, whose products are bmm calls, so they run here too. Measured:
    # 0.90-0.96x of native training speed this way, 0.77-0.83x with flash on MKL COMPATIBLE (docs/results.md).
    if not torch.cuda.is_available():  # despite its name, the switch every device's dispatch reads
        _State.flash_attention = torch.backends.cuda.flash_sdp_enabled()
        torch.backends.cuda.enable_flash_sdp(False)


def uninstall() -> None:
    """Give the products back to torch's own kernels (a native run after a portable one in one process)."""
    if _State.library is not None:
        import torch

        _State.library._destroy()
        _State.library = None
        if not torch.cuda.is_available():
            torch.backends.cuda.enable_flash_sdp(_State.flash_attention)  # as the user had it


def computed() -> int:
    """How many products this process computed in the pinned OpenBLAS: a portable run that computed none did
    not run where its env.json says."""
    return _State.computed


def installed() -> bool:
    return _State.library is not None


def describe() -> str:
    """The kernels in words, for env.json and the levers table."""
    seen = library_identity()
    return f"OpenBLAS {seen['version']} {seen['coretype']} GEMMs (1 thread per {BLOCK}-block)"
