"""Registry of feature backbones for the metrics: ``get_backbone(name, ...)``.

- ``judge``: the domain classifier trained by the judge stage (``backbones/judge.py``):
  penultimate features and class softmax.
- ``inception``: the TF inception-2015-12-05 FID network (``backbones/inception.py``).

Backbones are imported lazily, so asking for one never loads the other's weights or code.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ganbench.backbones.base import Backbone, BackboneOutput
from ganbench.config import BACKBONES, EvalParams

__all__ = ["Backbone", "BackboneOutput", "BACKBONE_NAMES", "get_backbone"]

BACKBONE_NAMES = BACKBONES  # ("judge", "inception"), the params schema's list


def get_backbone(name: str, *, judge_dir: Path, eval_params: EvalParams,
                 device: torch.device) -> Backbone:
    """Build the backbone called ``name`` on ``device``; ValueError for an unknown name."""
    if name == "judge":
        from ganbench.backbones.judge import JudgeBackbone

        return JudgeBackbone(Path(judge_dir), device)
    if name == "inception":
        from ganbench.backbones.inception import InceptionBackbone

        return InceptionBackbone(eval_params.inception_weights, device)
    raise ValueError(f"unknown backbone {name!r}; known backbones: {', '.join(BACKBONE_NAMES)}")
