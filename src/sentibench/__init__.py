"""sentibench: a reproducible benchmark for fine-tuning transformer text classifiers.

numpy's OpenBLAS reads its core type and thread count once, when numpy first loads, which in a stage
happens on import, before params are read. So every sentibench process pins them here, before anything
can import numpy: the Haswell kernels and one thread, on every CPU that has them (AVX2 and FMA, asked of
the CPU itself: core/isa.py). Portable runs compute torch's matrix products with them (core/gemm.py);
every run's TF-IDF reference and numpy work use them too, so those bytes do not depend on the CPU or its
core count either. A CPU without them keeps OpenBLAS's own kernels (pinning Haswell there ends the process
with SIGILL), and `runtime.portable: true` then stops with one line (core/runtime.py).
"""

import os

from sentibench.core.isa import missing_for_portable

os.environ["OPENBLAS_NUM_THREADS"] = "1"
if not missing_for_portable():
    os.environ["OPENBLAS_CORETYPE"] = "Haswell"
elif os.environ.get("OPENBLAS_CORETYPE") == "Haswell":  # a parent process's pin, made on a CPU that has them
    del os.environ["OPENBLAS_CORETYPE"]

__version__ = "0.1.0"
