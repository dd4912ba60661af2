"""Sample-quality metrics as pure functions: features -> statistics -> metric (as torch-fidelity).

- ``fid``: Fréchet Inception Distance (Heusel et al. 2017).
- ``inception_score``: Inception Score (Salimans et al. 2016).
- ``kid``: Kernel Inception Distance (Bińkowski et al. 2018).
- ``prdc``: precision/recall (Kynkäänniemi et al. 2019), density/coverage (Naeem et al. 2020).
- ``tstr``: train on synthetic, test on real (Esteban et al. 2017).

They take backbone features (``ganbench.backbones``) as numpy arrays and compute in float64.
"""

from ganbench.metrics.fid import (fid_features_to_statistics, fid_statistics_to_metric,
                                  frechet_distance)
from ganbench.metrics.inception_score import (inception_score_from_logits,
                                              inception_score_from_probs)
from ganbench.metrics.kid import kid
from ganbench.metrics.prdc import prdc
from ganbench.metrics.tstr import tstr

__all__ = [
    "fid_features_to_statistics", "fid_statistics_to_metric", "frechet_distance",
    "inception_score_from_logits", "inception_score_from_probs", "kid", "prdc", "tstr",
]
