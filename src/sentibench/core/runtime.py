"""Execution settings that change the numbers: determinism, thread count and instruction set.

Measured with torch 2.13.0 on the CPU: reruns are byte-identical only with the same intra-op
thread count and the same kernels, and AVX2 kernels give other weights than AVX-512 ones. So
the thread count is always set from params, and `portable` (the default) pins the kernels through
ATen's, oneDNN's and MKL's variables. MKL ignores the first two: it picks its GEMM and vector-math
kernels by the CPU it sees, and of its conditional-numerical-reproducibility branches only
`COMPATIBLE` (and `AUTO`, which is no pinning) exists on every vendor's CPU: `MKL_CBWR=AVX2` means
`AUTO` on AMD. So `MKL_CBWR=COMPATIBLE` is what makes MKL's results the same on every x86 CPU
(docs/reproducibility.md has the measurements). All three are read once, when torch loads:
`apply_runtime` must run before the first `import torch` of the process (every stage calls it first).
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any

from sentibench.core.errors import UserError
from sentibench.core.params import RuntimeParams

AVX2_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
PORTABLE_ENV = {**AVX2_ENV, "MKL_CBWR": "COMPATIBLE"}
# Cheaper pinnings that `sentibench levers` measures beside portable's (docs/results.md has which gave the
# same bytes on other CPUs): MKL's AVX2 branch (exists on Intel only), and MKL's own dispatch capped at AVX2.
KERNEL_CANDIDATES = {
    "MKL_CBWR=AVX2": {**AVX2_ENV, "MKL_CBWR": "AVX2"},
    "MKL_ENABLE_INSTRUCTIONS=AVX2": {**AVX2_ENV, "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
}
KERNEL_VARIABLES = sorted({name for pins in (PORTABLE_ENV, *KERNEL_CANDIDATES.values()) for name in pins})
EMULATOR = "SENTIBENCH_EMULATOR"  # set by `repro-check --emulate-cpu`: the command line the stages run under
CUBLAS_WORKSPACE = ":4096:8"


def apply_runtime(params: RuntimeParams) -> None:
    """Set the instruction set, thread count and deterministic algorithms for this process."""
    if params.portable:
        if "torch" in sys.modules and any(os.environ.get(k) != v for k, v in PORTABLE_ENV.items()):
            raise UserError("runtime.portable must be applied before torch is imported (run the stage as a process)")
        os.environ.update(PORTABLE_ENV)
    if params.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    import torch

    torch.set_num_threads(params.threads)
    torch.use_deterministic_algorithms(params.deterministic)
    torch.backends.cudnn.deterministic = params.deterministic
    torch.backends.cudnn.benchmark = not params.deterministic
    if params.deterministic:  # TF32 rounds fp32 matmuls differently on each GPU generation
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False


def _cpuinfo(field: str) -> str | None:
    """A field of the first processor in /proc/cpuinfo (the host's, also under user-mode emulation)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.split(":", 1)[0].strip() == field:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    return _cpuinfo("model name") or platform.processor() or platform.machine()


# The instruction-set extensions that decide which kernels a CPU can run (a VM often names its CPU only
# "Intel Xeon Processor"; these say which generation it behaves as).
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16")


def cpu_identity() -> dict[str, Any]:
    """Vendor, family/model numbers and the ISA extensions present, as /proc/cpuinfo states them."""
    flags = set((_cpuinfo("flags") or "").split())
    return {
        "vendor": _cpuinfo("vendor_id"),
        "family_model": f"{_cpuinfo('cpu family')}/{_cpuinfo('model')}",
        "isa": [flag for flag in ISA_FLAGS if flag in flags],
    }


def cpuid_features() -> list[str]:
    """The CPU features this process itself sees through CPUID (numpy's dispatch probe): under an emulator,
    the emulated CPU's, where /proc/cpuinfo still describes the host."""
    from numpy._core._multiarray_umath import __cpu_features__

    return sorted(name for name, present in __cpu_features__.items() if present)


def kernels_in_use() -> str:
    """The kernels this process runs, in words: ATen's capability and the MKL variables set."""
    import torch

    mkl = [f"{name}={os.environ[name]}" for name in KERNEL_VARIABLES if name.startswith("MKL") and name in os.environ]
    return ", ".join([f"ATen {torch.backends.cpu.get_cpu_capability()}", *mkl])


def slow_lever_notes(portable: bool, bf16: bool) -> list[str]:
    """One line for each setting known to slow training on this CPU, with its measured factor."""
    notes = []
    if portable:
        notes.append(
            "runtime.portable: true (the default) trains at 0.4x-0.6x native speed, for the same bytes on every "
            "x86-64 CPU (docs/results.md#portable-by-default); runtime.portable: false is faster, bytes on this "
            "CPU only"
        )
    isa = cpu_identity()["isa"]
    if bf16 and platform.machine() == "x86_64" and not {"avx512_bf16", "amx_bf16"} & set(isa):
        notes.append("train.bf16: true on a CPU without bf16 instructions trains at about 0.08x (docs/results.md)")
    return notes


def runtime_info() -> dict[str, Any]:
    """The short form recorded beside timings: device, threads, CPU and the kernels torch uses."""
    import torch

    cuda = torch.cuda.is_available()
    return {
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "threads": torch.get_num_threads(),
        "cpu": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch": torch.__version__,
    }
