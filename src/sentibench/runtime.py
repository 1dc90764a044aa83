"""Thread count and instruction set: the two machine settings that change the numbers.

The same weights need the same intra-op thread count and the same CPU kernels, so the count
is always set from params (never left to torch's guess) and both are recorded with results.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any


def configure_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def runtime_info() -> dict[str, Any]:
    """What ran the numbers: device, threads, CPU and the kernels torch dispatched to."""
    import torch

    cuda = torch.cuda.is_available()
    return {
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "threads": torch.get_num_threads(),
        "cpu": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch": torch.__version__,
    }
