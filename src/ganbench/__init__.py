"""ganbench: a reproducible GAN comparison pipeline (DVC stages, MLflow tracking, metrics, report)."""

__version__ = "0.1.0"
