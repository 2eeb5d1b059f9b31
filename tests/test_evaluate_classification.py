import json

import numpy as np
import pytest
from sklearn import metrics as skm

from hepfm.errors import InputError
from hepfm.evaluate import (
    accuracy,
    background_rejection,
    classification_report,
    confusion_matrix,
    one_vs_rest_auc,
    roc_auc,
    roc_curve,
    working_point,
)

# Hand-made example: 4 signal, 4 background.
SCORES = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1])
IS_SIG = np.array([1, 1, 0, 1, 0, 1, 0, 0])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 7, 3000) / 7.0  # heavy ties
    is_sig = rng.random(3000) < 0.2 + 0.6 * scores
    assert roc_auc(scores, is_sig) == pytest.approx(skm.roc_auc_score(is_sig, scores), abs=1e-12)
    continuous = rng.normal(size=500).astype(np.float32)
    labels = rng.integers(0, 2, 500)
    assert roc_auc(continuous, labels) == pytest.approx(skm.roc_auc_score(labels, continuous), abs=1e-12)


def test_roc_curve_matches_sklearn_and_integrates_to_auc():
    rng = np.random.default_rng(3)
    scores = np.round(rng.normal(size=2000), 1)
    is_sig = rng.random(2000) < 1 / (1 + np.exp(-2 * scores))
    eff_s, eff_b, thr = roc_curve(scores, is_sig)
    fpr, tpr, sk_thr = skm.roc_curve(is_sig, scores, drop_intermediate=False)
    np.testing.assert_allclose(eff_s, tpr)
    np.testing.assert_allclose(eff_b, fpr)
    np.testing.assert_allclose(thr[1:], sk_thr[1:])
    assert np.trapezoid(eff_s, eff_b) == pytest.approx(roc_auc(scores, is_sig), abs=1e-12)


def test_perfect_inverted_and_constant_classifiers():
    y = np.array([0, 0, 0, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    assert roc_auc(s, y) == 1.0
    assert roc_auc(-s, y) == 0.0
    assert roc_auc(np.ones(5), y) == 0.5


@pytest.mark.parametrize(
    "scores, is_sig",
    [
        ([0.1, 0.2], [1, 1]),  # one class only
        ([0.1, np.nan], [0, 1]),  # NaN score
        ([0.1, 0.2, 0.3], [0, 1]),  # length mismatch
        ([0.1, 0.2], [0, 2]),  # not a 0/1 label
        ([[0.1, 0.2]], [0, 1]),  # wrong shape
    ],
)
def test_auc_bad_input(scores, is_sig):
    with pytest.raises(InputError):
        roc_auc(scores, is_sig)


def test_working_point_at_threshold():
    wp = working_point(SCORES, IS_SIG, threshold=0.5)
    assert (wp.signal_efficiency, wp.background_efficiency, wp.purity, wp.background_rejection) == (0.75, 0.25, 0.75, 4.0)
    nothing = working_point(SCORES, IS_SIG, threshold=2.0)
    assert nothing.signal_efficiency == 0 and np.isnan(nothing.purity) and nothing.background_rejection == np.inf
    assert nothing.to_dict()["purity"] is None


def test_working_point_at_target_efficiency_and_optima():
    wp = working_point(SCORES, IS_SIG, signal_efficiency=0.5)
    assert wp.threshold == 0.8 and wp.signal_efficiency == 0.5 and wp.purity == 1.0
    assert working_point(SCORES, IS_SIG, signal_efficiency=0.6).threshold == 0.6
    # eps_S - eps_B peaks at 0.5 first for threshold 0.8; eps_S * purity peaks at 4/6 for 0.3
    assert working_point(SCORES, IS_SIG).threshold == 0.8
    best = working_point(SCORES, IS_SIG, maximize="efficiency_purity")
    assert best.threshold == 0.3 and best.purity == pytest.approx(4 / 6)
    with pytest.raises(InputError):
        working_point(SCORES, IS_SIG, threshold=0.5, signal_efficiency=0.5)
    with pytest.raises(InputError):
        working_point(SCORES, IS_SIG, signal_efficiency=1.5)


def test_background_rejection_interpolates_along_roc():
    # ROC points: (.25,0) (.5,0) (.5,.25) (.75,.25) (.75,.5) (1,.5) ...
    assert background_rejection(SCORES, IS_SIG, 0.625) == pytest.approx(4.0)
    assert background_rejection(SCORES, IS_SIG, 0.875) == pytest.approx(2.0)
    assert background_rejection(SCORES, IS_SIG, 0.5) == np.inf
    np.testing.assert_allclose(background_rejection(SCORES, IS_SIG, [0.625, 0.875]), [4.0, 2.0])
    with pytest.raises(InputError):
        background_rejection(SCORES, IS_SIG, 0.0)


def test_background_rejection_at_signal_quantile():
    rng = np.random.default_rng(5)
    sig, bkg = rng.normal(1.0, 1.0, 1000), rng.normal(0.0, 1.0, 5000)
    scores, is_sig = np.r_[sig, bkg], np.r_[np.ones(1000), np.zeros(5000)]
    cut = np.sort(sig)[::-1][499]  # 500 of 1000 signal events pass: eps_S = 0.5 exactly
    assert background_rejection(scores, is_sig, 0.5) == pytest.approx(1 / np.mean(bkg >= cut))


def test_confusion_accuracy_and_one_vs_rest():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 3, 400)
    probs = rng.dirichlet([1, 1, 1], 400) + 0.5 * np.eye(3)[labels]
    probs /= probs.sum(1, keepdims=True)
    pred = probs.argmax(1)
    np.testing.assert_array_equal(confusion_matrix(labels, pred, 3), skm.confusion_matrix(labels, pred))
    norm = confusion_matrix(labels, pred, 3, normalize=True)
    np.testing.assert_allclose(norm.sum(1), 1.0)
    assert accuracy(probs, labels) == pytest.approx(skm.accuracy_score(labels, pred))
    expected = [skm.roc_auc_score(labels == c, probs[:, c]) for c in range(3)]
    np.testing.assert_allclose(one_vs_rest_auc(probs, labels), expected)
    # a class that never occurs: NaN row / NaN AUC, not an error
    assert np.isnan(confusion_matrix([0, 1], [0, 1], 3, normalize=True)[2]).all()
    assert np.isnan(one_vs_rest_auc(np.full((2, 3), 1 / 3), [0, 1])[2])
    with pytest.raises(InputError):
        accuracy(probs, np.full(400, 3))


def test_classification_report_binary_is_json_and_consistent():
    rng = np.random.default_rng(11)
    labels = rng.integers(0, 2, 1000)
    p1 = np.clip(0.5 + 0.3 * (labels - 0.5) + 0.2 * rng.normal(size=1000), 0, 1)
    probs = np.stack([1 - p1, p1], axis=1)
    rep = classification_report(probs, labels, ["bkg", "sig"])
    json.dumps(rep, allow_nan=False)
    assert rep["signal"]["class"] == "sig" and rep["signal"]["background"] == ["bkg"]
    assert rep["signal"]["auc"] == pytest.approx(skm.roc_auc_score(labels, p1))
    assert rep["auc"]["sig"] == pytest.approx(rep["signal"]["auc"])
    assert rep["signal"]["rejection"]["0.5"] == pytest.approx(background_rejection(p1, labels, 0.5))
    assert rep["signal"]["at_efficiency"]["0.3"]["signal_efficiency"] >= 0.3
    assert rep["class_counts"] == np.bincount(labels).tolist()
    assert sum(map(sum, rep["confusion"])) == 1000


def test_classification_report_signal_vs_subset_of_backgrounds():
    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6], [0.5, 0.4, 0.1], [0.1, 0.1, 0.8], [0.3, 0.1, 0.6]])
    labels = np.array([0, 1, 1, 2, 0])
    rep = classification_report(probs, labels, ["H", "QCD", "top"], signal="H", background=["QCD"])
    # events of class H or QCD only, score p_H / (p_H + p_QCD)
    score = probs[[0, 1, 2, 4], 0] / probs[[0, 1, 2, 4], :2].sum(1)
    assert rep["signal"]["auc"] == pytest.approx(skm.roc_auc_score([1, 0, 0, 1], score))
    assert "signal" not in classification_report(probs, labels)  # >2 classes: no default signal
    with pytest.raises(InputError):
        classification_report(probs, labels, ["H", "QCD", "top"], signal="W")
    with pytest.raises(InputError):
        classification_report(probs, labels, ["H", "QCD"])
