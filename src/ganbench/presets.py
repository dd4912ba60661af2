"""Named variant presets: data in ``presets.yaml`` beside this module.

``variants: {mine: {preset: stylegan, epochs: 20}}`` starts from the ``stylegan`` preset and
overrides its ``epochs``. ``resolve`` does the merge; ``ganbench.config`` validates the result
like any variant (so a preset can never hold a key or value a variant could not).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ganbench.yaml12 import load_yaml

PRESETS_FILE = Path(__file__).with_name("presets.yaml")


def _load() -> dict[str, dict]:
    data = load_yaml(PRESETS_FILE.read_text())
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise RuntimeError(f"{PRESETS_FILE}: must map preset names to variant settings")
    return data


PRESETS: dict[str, dict] = _load()
PRESET_NAMES: tuple[str, ...] = tuple(PRESETS)


def resolve(spec: dict[str, Any]) -> dict[str, Any]:
    """The variant's settings with its ``preset`` (if any) filled in beneath its own keys."""
    name = spec.get("preset")
    if name is None or name not in PRESETS:  # an unknown name is the schema's error to give
        return dict(spec)
    return {**PRESETS[name], **spec}
