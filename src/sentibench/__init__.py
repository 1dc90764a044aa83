"""sentibench: a reproducible benchmark for fine-tuning transformer text classifiers.

numpy's OpenBLAS reads its core type and thread count once, when numpy first loads, which in a stage
happens on import, before params are read. So every sentibench process pins them here, before anything
can import numpy: the Haswell kernels and one thread, on every CPU that has them (AVX2 and FMA, asked of
the CPU itself: portable/isa.py). Portable runs compute torch's matrix products with them (portable/gemm.py);
every run's TF-IDF reference and numpy work use them too, so those bytes do not depend on the CPU or its
core count either. A CPU without them keeps OpenBLAS's own kernels (pinning Haswell there ends the process
with SIGILL), and `runtime.portable: true` then stops with one line (portable/runtime.py).
"""

from sentibench.portable.isa import pin_openblas

pin_openblas()

__version__ = "0.1.0"
