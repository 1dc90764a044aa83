"""sentibench: a reproducible benchmark for fine-tuning transformer text classifiers."""

__version__ = "0.1.0"
