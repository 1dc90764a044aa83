"""What makes bytes portable and how that is judged: the CPU's instruction set asked first (isa), the runtime pins
(runtime), the matrix products in pinned OpenBLAS (gemm), the environment fingerprint of a run (environment) and
the rules for which runs compare (comparability)."""
