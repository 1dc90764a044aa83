"""sentibench: a reproducible benchmark for fine-tuning transformer text classifiers.

numpy's OpenBLAS reads its core type and thread count once, when numpy first loads, which in a stage
happens on import, before params are read. So every sentibench process pins them here, before anything
can import numpy: the Haswell kernels and one thread, on every CPU. Portable runs compute torch's matrix
products with them (core/gemm.py); every run's TF-IDF reference and numpy work use them too, so those
bytes do not depend on the CPU or its core count either.
"""

import os

os.environ.update({"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_NUM_THREADS": "1"})

__version__ = "0.1.0"
