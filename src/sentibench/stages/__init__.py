"""The pipeline's stage entry points, one module each, run by dvc.yaml: read params, call, write."""
