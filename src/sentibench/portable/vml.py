"""Portable elementwise math: the aten operators whose CPU kernel hands fp32 and fp64 tensors to MKL's vector
math library (VML) are kept out of it under runtime.portable. VML picks its code path by the CPU it finds, and
some paths refine approximate instructions (rcp, rsqrt) in software, whose results differ between vendors: its
sqrt gave other bytes on a real AMD CPU than on qemu's on 495,186 of 3.9M values. `MKL_CBWR=COMPATIBLE` cannot
hold it: on an AMD CPU MKL ignores the setting.

Which operators reach VML is not read from torch's source but observed: checks/mklcalls.py counts MKL's entry
points under gdb while each single-tensor aten operator runs (tests/test_mkl_calls.py fails when a torch adds
one that is neither routed nor refused here). torch 2.13 sends 16 there. One is routed: `tanh`, the only one
the default model computes (BertPooler's activation), through `expm1` and exactly rounded arithmetic in fp64,
which ATen computes in Sleef's polynomial (FMA, adds and multiplies: the same bytes on every CPU at ATen's
pinned AVX2). The others are refused in one line under runtime.portable. `pow(x, 0.5)` reaches VML's sqrt
inside pow's own kernel, past the dispatcher, so it cannot be refused here: the MKL call count of a portable
training and evaluation step (zero, tested) is what would show it.
"""

from __future__ import annotations

from typing import Any

ROUTED = ("tanh", "tanh.out", "tanh_")
# The operators whose fp32/fp64 CPU kernel calls VML, found by checks/mklcalls.py's probe (torch 2.13.0).
VML_OPERATORS = (
    *("exp", "log", "log2", "log10", "sqrt", "erf", "erfc", "erfinv"),
    *("sin", "cos", "tan", "asin", "acos", "atan", "tanh", "trunc"),
)
REFUSED = tuple(overload for name in VML_OPERATORS if name != "tanh" for overload in (name, f"{name}.out", f"{name}_"))


def tanh(x: Any) -> Any:
    """tanh(x) = -expm1(-2|x|) / (2 + expm1(-2|x|)), with x's sign, in fp64 (so an fp32 result is rounded once
    from an error of about 1e-16: within one unit of torch's own in its last place). No cancellation: expm1 is
    accurate near 0, and 2 + expm1(..) lies in (1, 2]."""
    import torch

    if x.is_complex():
        raise RuntimeError("runtime.portable computes tanh of real tensors only (runtime.portable: false for complex)")
    dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
    wide = x.to(torch.float64)
    small = torch.expm1(wide.abs().mul_(-2))
    return torch.copysign(small.neg().div_(small.add(2)), wide).to(dtype)


def kernels(into: Any, in_place: Any) -> dict[str, Any]:
    """The routed overloads, their out= and in-place ends given by the registration (portable/gemm.py)."""
    return {
        "tanh": tanh,
        "tanh.out": lambda x, *, out: into(out, tanh(x)),
        "tanh_": lambda x: in_place(x, tanh(x)),
    }
