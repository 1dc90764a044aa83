"""Execution settings that change the numbers: determinism, thread count and instruction set.

Measured with torch 2.13.0 on the CPU: reruns are byte-identical only with the same intra-op
thread count and the same kernels, and AVX2 kernels give other weights than AVX-512 ones. So
the thread count is always set from params, and `portable` (the default) pins the kernels: ATen's and
oneDNN's through their variables, and the matrix products through numpy's OpenBLAS at its Haswell kernels
(portable/gemm.py), which replaces torch's CPU kernels for them, and the elementwise math torch would hand to
MKL's vector math stays out of it (portable/vml.py): a portable training or evaluation step calls MKL not once
(counted under gdb: checks/mklcalls.py). MKL stays pinned to `COMPATIBLE`, its one branch that exists on every
vendor's CPU, for whatever reaches it unseen (`pow(x, 0.5)`'s sqrt). These variables are read once, when torch and
numpy load: `apply_runtime` must run before the first `import torch` of the process (every stage calls it
first), and sentibench must be imported before numpy (its __init__ pins OpenBLAS).
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any

from sentibench.core.errors import UserError
from sentibench.core.params import RuntimeParams
from sentibench.portable import gemm, isa

AVX2_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
PORTABLE_ENV = {**AVX2_ENV, "MKL_CBWR": "COMPATIBLE"}
# Other pinnings that `sentibench levers` measures beside portable's (docs/results.md has which gave the
# same bytes on other CPUs): portable's route before the OpenBLAS products (every product in MKL COMPATIBLE),
# MKL's AVX2 branch (exists on Intel only), and MKL's own dispatch capped at AVX2.
KERNEL_CANDIDATES = {
    "MKL_CBWR=COMPATIBLE": PORTABLE_ENV,
    "MKL_CBWR=AVX2": {**AVX2_ENV, "MKL_CBWR": "AVX2"},
    "MKL_ENABLE_INSTRUCTIONS=AVX2": {**AVX2_ENV, "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
}
# Not a kernel pin (no byte depends on it): torch's OpenMP threads spin for about 300,000 turns after each op
# before they sleep, and that spinning takes the cores from the portable GEMMs' own threads (portable/gemm.py).
# Short spins: 84-86 ms a default step against 116-121 ms, same bytes (docs/results.md). A value the user set
# is kept.
PORTABLE_SPEED_ENV = {"GOMP_SPINCOUNT": "1000"}
KERNEL_VARIABLES = sorted({name for pins in (PORTABLE_ENV, *KERNEL_CANDIDATES.values()) for name in pins})
EMULATOR = "SENTIBENCH_EMULATOR"  # set by `repro-check --emulate-cpu`: the command line the stages run under
CUBLAS_WORKSPACE = ":4096:8"


def unpinned_environment() -> dict[str, str]:
    """This process's environment without the kernel variables or portable's speed settings: what a child
    measuring another pinning starts from (it sets those its own params ask for)."""
    dropped = {*KERNEL_VARIABLES, *PORTABLE_SPEED_ENV}
    return {name: value for name, value in os.environ.items() if name not in dropped}


def pin_kernels(pins: dict[str, str]) -> None:
    """Make `pins` the only kernel variables of this process; say which inherited ones it removed."""
    inherited = {k: v for k, v in os.environ.items() if k in KERNEL_VARIABLES}
    if inherited == pins:
        return
    if "torch" in sys.modules:
        if pins:
            raise UserError("the kernel variables must be set before torch is imported (run the stage as a process)")
        print(
            f"runtime: torch was imported first, so the inherited {', '.join(sorted(inherited))} stay in effect",
            file=sys.stderr,
        )
        return
    removed = sorted(set(inherited) - set(pins))
    for name in removed:
        del os.environ[name]
    os.environ.update(pins)
    if removed:
        print(
            f"runtime: removed the inherited kernel variables {', '.join(removed)} (native kernels asked for)",
            file=sys.stderr,
        )


def apply_runtime(params: RuntimeParams, native_pins: dict[str, str] | None = None) -> None:
    """Set the instruction set, thread count and deterministic algorithms for this process. Kernel variables
    inherited from the parent that these params do not ask for are removed, with a note (runtime.portable:
    false means this CPU's own kernels, or `native_pins` when a benchmark measures a candidate pinning)."""
    missing = isa.missing_for_portable()
    if params.portable and missing:
        raise UserError(
            f"runtime.portable: this CPU lacks {', '.join(missing)}, which the portable kernels need; set "
            "runtime.portable: false in params.yaml (this CPU's own kernels: the committed bytes cannot hold here, "
            "and verify judges the metrics by tolerances.yaml)"
        )
    if params.portable and "torch" not in sys.modules:
        for name, setting in PORTABLE_SPEED_ENV.items():
            os.environ.setdefault(name, setting)
    pin_kernels(PORTABLE_ENV if params.portable else native_pins or {})
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
    if not params.portable:
        gemm.uninstall()
        return
    try:
        gemm.install(params.threads)
    except RuntimeError as error:
        raise UserError(str(error)) from None


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
    products = [gemm.describe()] if gemm.installed() else []
    return ", ".join([f"ATen {torch.backends.cpu.get_cpu_capability()}", *products, *mkl])


def slow_lever_notes(portable: bool, bf16: bool) -> list[str]:
    """One line for each setting known to slow training on this CPU, with its measured factor."""
    notes = []
    if portable:
        notes.append(
            "runtime.portable: true (the default) trains at about 0.8x native speed on an AVX2-only CPU (unpaired, "
            "2026-12-03) and 0.53x-0.55x on an AVX-512 one (paired, 2026-12-06), for the same bytes on every x86-64 "
            "CPU with AVX2 "
            "(docs/results.md#portable-speed, #speed-verdicts); runtime.portable: false is faster, bytes on this "
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
