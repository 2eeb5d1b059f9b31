import json

import numpy as np
import pytest
from sklearn import metrics as skm

from hepfm.errors import InputError
from hepfm.evaluate import binned_residual_stats, regression_report, residual_stats, residuals


def smeared(n=20000, bias=0.1, sigma=0.2, seed=0):
    rng = np.random.default_rng(seed)
    true = rng.uniform(0.5, 20.0, n)
    return true * (1 + bias + sigma * rng.standard_normal(n)), true


def test_gaussian_smearing_bias_and_resolution_recovered():
    pred, true = smeared()
    rep = regression_report(pred, true, bins=5)
    json.dumps(rep, allow_nan=False)
    overall = rep["overall"]
    assert overall["bias_mean"] == pytest.approx(0.1, abs=0.006)
    assert overall["bias_median"] == pytest.approx(0.1, abs=0.006)
    assert overall["resolution_std"] == pytest.approx(0.2, abs=0.006)
    assert overall["resolution_q68"] == pytest.approx(0.2, abs=0.006)
    binned = rep["binned"]
    assert binned["n"] == [4000] * 5  # equal-population bins
    for key, value in [("bias_mean", 0.1), ("bias_median", 0.1), ("resolution_std", 0.2), ("resolution_q68", 0.2)]:
        np.testing.assert_allclose(binned[key], value, atol=0.015)
    assert np.all(np.diff(binned["centers"]) > 0)
    assert rep["mse"] == pytest.approx(skm.mean_squared_error(true, pred))
    assert rep["mae"] == pytest.approx(skm.mean_absolute_error(true, pred))


def test_robust_estimates_ignore_outliers():
    pred, true = smeared(seed=1)
    pred[:400] = true[:400] * 8.0  # 2 % catastrophic outliers
    stats = residual_stats(residuals(pred, true))
    assert stats["bias_mean"] > 0.2 and stats["resolution_std"] > 0.5
    assert stats["bias_median"] == pytest.approx(0.1, abs=0.01)
    assert stats["resolution_q68"] == pytest.approx(0.2, abs=0.015)


def test_explicit_edges_absolute_residuals_and_empty_bins():
    true = np.array([1.0, 2.0, 3.0, 3.5, 10.0, -5.0])
    pred = true + np.array([0.1, 0.1, 0.3, 0.3, 9.0, 9.0])
    st = binned_residual_stats(pred, true, bins=[0.0, 2.5, 4.0, 6.0], relative=False)
    np.testing.assert_array_equal(st["n"], [2, 2, 0])  # 10 and -5 lie outside the edges
    np.testing.assert_allclose(st["bias_mean"][:2], [0.1, 0.3])
    np.testing.assert_allclose(st["centers"], [1.5, 3.25, 5.0])  # mean true value; middle if empty
    assert np.isnan(st["bias_median"][2])
    rep = regression_report(pred, true, bins=[0.0, 2.5, 4.0, 6.0], relative=False)
    assert rep["residual"] == "absolute" and rep["binned"]["bias_mean"][2] is None


def test_last_edge_is_inclusive():
    st = binned_residual_stats([1.0, 2.0], [1.0, 2.0], bins=[1.0, 1.5, 2.0])
    np.testing.assert_array_equal(st["n"], [1, 1])


@pytest.mark.parametrize(
    "pred, true, kwargs",
    [
        ([1.0, 2.0], [0.0, 1.0], {}),  # relative residual with zero truth
        ([1.0, np.inf], [1.0, 1.0], {}),
        ([1.0, 2.0, 3.0], [1.0, 2.0], {}),
        ([1.0, 2.0], [1.0, 2.0], {"bins": [2.0, 1.0]}),
        ([1.0, 2.0], [1.0, 2.0], {"bins": 0}),
    ],
)
def test_bad_regression_input(pred, true, kwargs):
    with pytest.raises(InputError):
        regression_report(pred, true, **kwargs)
