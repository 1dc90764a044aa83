"""When two runs' environments (their metrics/env.json) let them be compared, by one rule per question.

Timings compare only between runs on the same CPU model, kernels, threads and builds (`env_mismatch`,
used by compare and report). Bytes are expected to match across CPUs of any vendor when both runs report
the portable kernels and the same builds (`not_comparable`, used by verify). Both rules read the same
env.json; keeping them side by side keeps them from drifting apart.
"""

from __future__ import annotations

from typing import Any

from sentibench.core.contract import ENV
from sentibench.core.tables import flatten

# What must match for timings to compare, beyond the library versions: the same CPU model, kernels, threads,
# device, torch build and modes.
TIMING_ENV_FIELDS = (
    "cpu.model",
    "cpu.threads",
    "cpu.aten_capability",
    "cpu.onednn_isa",
    "gpu.name",
    "torch_build.version",
    "torch_build.cuda",
    "runtime.deterministic",
    "runtime.portable",
)


def env_mismatch(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str | None:
    """Why two environment fingerprints make timings incomparable, or None when they match."""
    if a is None or b is None:
        return "no metrics/env.json on " + ("both sides" if a is None and b is None else ("A" if a is None else "B"))
    left, right = flatten(a), flatten(b)
    fields = [*TIMING_ENV_FIELDS, *sorted(k for k in set(left) | set(right) if k.startswith("packages."))]
    diffs = [f"{f} {left.get(f)} vs {right.get(f)}" for f in fields if left.get(f) != right.get(f)]
    return "; ".join(diffs) if diffs else None


# What must match for bytes to be expected, beyond the params: (field in env.json, what it is).
# torch's version is compared without its local tag: `+cpu` and PyPI's `+cu130` of one commit give the same
# CPU bytes (../shared/evidence/cross-vendor.md, recorded in docs/reproducibility.md); the commit decides.
BUILD_FIELDS = (
    ("torch_build.release", "torch"),
    ("torch_build.commit", "torch build (git commit)"),
    ("cpu.matrix_products", "matrix-product kernels"),
    ("torch_build.mkl", "MKL"),
    ("torch_build.cuda", "CUDA"),
    ("cpu.threads", "thread count"),
    ("cpu.openblas", "OpenBLAS (version, kernels, threads: numpy's and the reference's)"),
)
# What a run reports when the portable pins took: (field in env.json, the value, or the start of it).
PORTABLE_KERNELS = (
    ("cpu.aten_capability", "AVX2"),
    ("cpu.onednn_isa", "Intel AVX2"),  # GELU, forward and backward, runs in oneDNN
    ("cpu.mkl_cbwr", "COMPATIBLE"),  # as MKL itself reports it (a portable step calls no MKL: portable/vml.py)
    ("cpu.matrix_products", "OpenBLAS"),
)


def unpinned(env: dict[str, Any]) -> list[str]:
    """The kernels a run reports that are not portable's (flattened env.json): [] when every pin took, and the
    pinned OpenBLAS computed the products (env.json before that count was recorded says nothing of it)."""
    found = [
        f"{field.removeprefix('cpu.')} {env.get(field)}"
        for field, value in PORTABLE_KERNELS
        if not str(env.get(field) or "").startswith(value)
    ]
    if env.get("cpu.matrix_products_computed") == 0:
        found.append("no product computed in the pinned OpenBLAS")
    return found


def not_comparable(expected: dict[str, Any] | None, actual: dict[str, Any] | None) -> list[str]:
    """Why these two machines cannot be expected to give the same bytes ([] when they can)."""
    if expected is None or actual is None:
        return [f"no {ENV} on the {'committed' if expected is None else 'new'} side"]
    left, right = flatten(expected), flatten(actual)
    for env in (left, right):
        env["torch_build.release"] = str(env.get("torch_build.version")).split("+")[0]
        if env.get("cpu.openblas"):  # a set: env.json written before it was sorted lists it in load order
            env["cpu.openblas"] = "; ".join(sorted(str(env["cpu.openblas"]).split("; ")))
    reasons = []
    for side, env in (("committed", left), ("this run", right)):
        if env.get("cpu.machine") != "x86_64":
            reasons.append(f"{side} ran on {env.get('cpu.machine')}, not x86-64 (other instructions, other rounding)")
        if env.get("gpu.name"):
            reasons.append(f"{side} ran on a GPU ({env['gpu.name']}): bytes are promised on the CPU only")
    for field, what in BUILD_FIELDS:
        if left.get(field) != right.get(field):
            reasons.append(f"another {what} ({left.get(field)} vs {right.get(field)})")
    packages = sorted(k for k in set(left) | set(right) if k.startswith("packages.") and left.get(k) != right.get(k))
    reasons += [f"another {k.removeprefix('packages.')} ({left.get(k)} vs {right.get(k)})" for k in packages]
    for side, env in (("committed", left), ("this run", right)):
        if env.get("runtime.portable") and unpinned(env):
            reasons.append(f"{side} asked for runtime.portable, but its pins did not take ({', '.join(unpinned(env))})")
    kernels = ("cpu.aten_capability", "cpu.onednn_isa", "cpu.model", "cpu.family_model")
    if (unpinned(left) or unpinned(right)) and any(left.get(k) != right.get(k) for k in kernels):
        reasons.append("native kernels (not the portable ones) on another CPU: bytes are promised on the same CPU")
    return reasons
