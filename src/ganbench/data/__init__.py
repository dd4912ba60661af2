"""Datasets: per-source loaders (``sources``), the ``prepare`` stage's work (``prepare``) and
reading its outputs back (``prepared``)."""

from ganbench.data.prepared import PREPARED_DIR, Prepared, load_meta, load_prepared

__all__ = ["PREPARED_DIR", "Prepared", "load_meta", "load_prepared"]
