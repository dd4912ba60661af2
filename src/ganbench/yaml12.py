"""Read YAML as DVC does: YAML 1.2 numbers, and no duplicate keys.

PyYAML implements YAML 1.1, where a float needs a dot (``1.0e-4``): ``lr_g: 1e-4`` would load
as the string ``'1e-4'``. DVC reads and writes params.yaml with ruamel (YAML 1.2), so
``dvc exp run -S variants.dcgan.lr_g=3e-4`` writes ``lr_g: 0.0003`` or ``1e-07`` style
numbers that must read back as numbers here too.

PyYAML also keeps the last of two equal keys in a mapping without a word, where DVC's ruamel
refuses the file ("found duplicate key"). ``load_yaml`` refuses it too, naming the key and
its line, so ``ganbench check-params`` and ``dvc repro`` accept the same files. Merge keys
(``<<: *defaults``) may still be overridden by the mapping's own keys, as in ruamel.
"""

from __future__ import annotations

import re
from typing import Any

import yaml


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping names the same key twice."""


class Yaml12Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` plus YAML 1.2's exponent-without-dot floats (``1e-4``, ``-2E+3``),
    refusing duplicate keys."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:
                    continue  # the base class reports unhashable keys
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise DuplicateKeyError(
                        None, None, f"duplicate key {key!r} on lines {seen[key]} and {line} "
                        "(keys must be unique; DVC refuses the file too)", key_node.start_mark)
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` with YAML 1.2 floats and no duplicate keys."""
    return yaml.load(text, Loader=Yaml12Loader)  # noqa: S506 (a SafeLoader subclass)
