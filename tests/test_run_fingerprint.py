"""verify reads the run, not the environment: env.json's kernels are what the process that trained saw (oneDNN's
ISA from that process, MKL's branch from MKL itself, the products the pinned OpenBLAS computed), and a portable
run whose kernels say otherwise is not held to the portable promise."""

import json
import os
import subprocess
import sys
from pathlib import Path

from sentibench.core.tables import flatten
from sentibench.portable.comparability import unpinned

PROBE = (
    "import json, torch, sentibench; from sentibench.portable import environment as e, gemm; gemm.install(2);"
    "torch.mm(torch.ones(4, 4), torch.ones(4, 4));"
    "print(json.dumps([e.onednn_isa(), e.mkl_branch(), gemm.computed()]))"
)


def probe(**pins):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MKL_", "ONEDNN_"))} | pins
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_fingerprint_asks_onednn_and_mkl_in_the_process_itself():
    isa, branch, products = probe(MKL_CBWR="COMPATIBLE", ONEDNN_MAX_CPU_ISA="AVX2")
    assert (isa, branch, products) == ("Intel AVX2", "COMPATIBLE", 1)
    isa, branch, _ = probe()
    assert branch is None  # nothing pinned: MKL says so itself
    if "avx512f" in Path("/proc/cpuinfo").read_text().split():
        assert "AVX-512" in isa  # oneDNN's own choice on this CPU, not a guess from the variables


def test_a_portable_run_whose_kernels_say_otherwise_is_unpinned():
    pinned = flatten(
        {
            "cpu": {
                "aten_capability": "AVX2",
                "onednn_isa": "Intel AVX2",
                "mkl_cbwr": "COMPATIBLE",
                "matrix_products": "OpenBLAS 0.3.31.188.0 Haswell GEMMs (1 thread per 256-block)",
                "matrix_products_computed": 4000,
            }
        }
    )
    assert unpinned(pinned) == []
    assert unpinned({**pinned, "cpu.onednn_isa": "Intel AVX-512"}) == ["onednn_isa Intel AVX-512"]
    assert unpinned({**pinned, "cpu.matrix_products_computed": 0}) == ["no product computed in the pinned OpenBLAS"]
    assert unpinned({**pinned, "cpu.mkl_cbwr": "AUTO"}) == ["mkl_cbwr AUTO"]  # what MKL ran, not what was asked
