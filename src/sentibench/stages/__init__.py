"""The pipeline's stages (one module each, run by dvc.yaml) and the helpers only stages use."""
