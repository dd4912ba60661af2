"""Mode-collapse diagnostics (ganbench.metrics.modes) on cases whose answer is known."""

import math

import numpy as np
import pytest

from ganbench.metrics.modes import class_histogram, mode_kl, modes_covered


def test_samples_of_a_single_class_cover_one_mode_and_kl_is_log_k():
    balanced = class_histogram(np.arange(1000) % 10, 10)
    collapsed = class_histogram(np.full(500, 3), 10)
    assert modes_covered(collapsed) == 1
    assert mode_kl(collapsed, balanced) == pytest.approx(math.log(10))


def test_a_class_balanced_real_set_covers_every_class_with_kl_zero():
    labels = np.random.RandomState(0).permutation(np.arange(2000) % 10)
    hist = class_histogram(labels, 10)
    assert modes_covered(hist) == 10
    assert mode_kl(hist, class_histogram(np.arange(1000) % 10, 10)) == pytest.approx(0, abs=1e-12)


def test_kl_matches_a_hand_computed_value():
    p, q = np.array([0.5, 0.5, 0.0]), np.array([0.25, 0.25, 0.5])
    assert mode_kl(p, q) == pytest.approx(math.log(2))  # 2 * 0.5 * log(0.5 / 0.25)


def test_the_coverage_threshold_is_a_share_of_a_balanced_share():
    # 10 classes, threshold 0.25 / 10 = 2.5% of the samples: 25 of 1000 counts, 24 does not
    predictions = np.concatenate([np.zeros(951), np.ones(25), np.full(24, 2)]).astype(int)
    hist = class_histogram(predictions, 10)
    assert modes_covered(hist, 0.25) == 2
    assert modes_covered(hist, 0.245) == 2
    assert modes_covered(hist, 0.2) == 3


@pytest.mark.parametrize("predictions, k", [(np.array([0, 10]), 10), (np.array([]), 10),
                                            (np.array([-1]), 3), (np.array([0]), 0)])
def test_bad_predictions_are_refused(predictions, k):
    with pytest.raises(ValueError):
        class_histogram(predictions, k)
