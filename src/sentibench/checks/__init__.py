"""Whole-pipeline checks in fresh copies of the repository: repro-check and gpu-check."""
