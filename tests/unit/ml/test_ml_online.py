"""Online rates and their intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ml.online import mean_interval, wilson


def test_wilson_interval_holds_the_rate_and_stays_in_bounds() -> None:
    rate = wilson(30, 100)
    assert rate.value == 0.3
    assert rate.low is not None and rate.high is not None
    assert 0.21 < rate.low < 0.3 < rate.high < 0.40
    none, every = wilson(0, 20), wilson(20, 20)
    assert none.low == 0.0 and none.high is not None and 0 < none.high < 0.2
    assert every.high == 1.0 and every.low is not None and 0.8 < every.low < 1.0


def test_wilson_interval_covers_the_true_rate_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(7)
    true, n, runs = 0.12, 400, 2000
    hits = rng.binomial(n, true, size=runs)
    covered = 0
    for k in hits:
        rate = wilson(int(k), n)
        assert rate.low is not None and rate.high is not None
        covered += rate.low <= true <= rate.high
    assert 0.93 <= covered / runs <= 0.97


def test_no_trials_and_impossible_counts() -> None:
    assert wilson(0, 0).value is None
    with pytest.raises(ValueError):
        wilson(5, 3)


def test_mean_interval() -> None:
    rate = mean_interval(4.0, 1.0, 100)
    assert rate.low is not None and rate.high is not None
    assert math.isclose(rate.high - rate.low, 2 * 1.959963984540054 * 0.1)
    assert mean_interval(4.0, None, 1).low is None
    assert mean_interval(None, None, 0).value is None
