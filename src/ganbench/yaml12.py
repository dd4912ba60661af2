"""Read YAML as DVC does: YAML 1.2 numbers, so ``1e-4`` is a float, not a string.

PyYAML implements YAML 1.1, where a float needs a dot (``1.0e-4``): ``lr_g: 1e-4`` would load
as the string ``'1e-4'``. DVC reads and writes params.yaml with ruamel (YAML 1.2), so
``dvc exp run -S variants.dcgan.lr_g=3e-4`` writes ``lr_g: 0.0003`` or ``1e-07`` style
numbers that must read back as numbers here too.
"""

from __future__ import annotations

import re
from typing import Any

import yaml


class Yaml12Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` plus YAML 1.2's exponent-without-dot floats (``1e-4``, ``-2E+3``)."""


Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` with YAML 1.2 floats."""
    return yaml.load(text, Loader=Yaml12Loader)  # noqa: S506 (a SafeLoader subclass)
