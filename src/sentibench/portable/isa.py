"""Whether this CPU can run the portable kernels (AVX2 and FMA), asked of the CPU itself, before anything is pinned.

sentibench/__init__.py pins numpy's OpenBLAS to its Haswell kernels before numpy loads, and `runtime.portable`
pins ATen to AVX2: on a CPU without AVX2 both end the process with a bare SIGILL. So every sentibench process
asks first, with the CPUID instruction: /proc/cpuinfo would not do, since it describes the host even to a
process run under an emulator (`qemu-x86_64 -cpu Nehalem`), and numpy's own CPU probe cannot be imported
before the pin it decides. The instruction runs from a few bytes of machine code in an executable page
(ctypes); that is x86-64 only: elsewhere (aarch64) nothing is pinned and the portable kernels are refused.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import platform
from functools import cache

# push rbx; mov eax, edi; mov ecx, esi; mov r8, rdx; cpuid; mov [r8], eax; mov [r8+4], ebx; mov [r8+8], ecx;
# mov [r8+12], edx; pop rbx; ret  (System V: leaf, subleaf, a pointer to four 32-bit registers)
_CPUID = bytes.fromhex("53 89f8 89f1 4989d0 0fa2 418900 41895804 41894808 4189500c 5b c3")
# (leaf, register, bit) of each instruction-set extension the portable kernels use
NEEDED = {"AVX2": (7, 1, 5), "FMA": (1, 2, 12), "AVX": (1, 2, 28)}


def cpuid(leaf: int, subleaf: int = 0) -> tuple[int, int, int, int]:
    """EAX, EBX, ECX and EDX of the CPUID instruction, run by this process (so an emulated CPU answers)."""
    page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    try:
        page.write(_CPUID)
        function = ctypes.CFUNCTYPE(None, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_void_p)(
            ctypes.addressof(ctypes.c_char.from_buffer(page))
        )
        registers = (ctypes.c_uint32 * 4)()
        function(leaf, subleaf, ctypes.addressof(registers))
        result = tuple(registers)
        del function
        return result  # type: ignore[return-value]
    finally:
        page.close()


@cache
def missing_for_portable() -> tuple[str, ...]:
    """What this CPU lacks of what the portable kernels need (empty: it can run them)."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return (f"x86-64 (this is {platform.machine()})",)
    highest = cpuid(0)[0]
    missing = []
    for name, (leaf, register, bit) in NEEDED.items():
        if leaf > highest or not cpuid(leaf)[register] >> bit & 1:
            missing.append(name)
    return tuple(missing)


def pin_openblas() -> None:
    """numpy's OpenBLAS at one thread, and at its Haswell kernels where the CPU has them; a Haswell pin
    inherited from a parent process on another CPU is dropped (it would end this one with SIGILL)."""
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    if not missing_for_portable():
        os.environ["OPENBLAS_CORETYPE"] = "Haswell"
    elif os.environ.get("OPENBLAS_CORETYPE") == "Haswell":
        del os.environ["OPENBLAS_CORETYPE"]
