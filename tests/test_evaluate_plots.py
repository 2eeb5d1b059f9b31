import matplotlib
import matplotlib.image
import numpy as np
import pytest

from hepfm.errors import InputError
from hepfm.evaluate import curve_band, metric_curve, plot_confusion, plot_curves, plot_response, plot_roc


def assert_png(path):
    assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 200 and image.shape[1] > 200
    assert image[..., :3].std() > 0.01  # something was drawn
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []  # no temporaries


def test_plots_write_pngs(tmp_path):
    rc_before = dict(matplotlib.rcParams)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    good, weak = y + rng.normal(0, 0.5, 2000), y + rng.normal(0, 1.5, 2000)
    assert_png(plot_roc({"pretrained": (good, y), "scratch": (weak, y)}, tmp_path / "roc.png", title="test"))
    counts = np.array([[50, 3, 2], [5, 40, 5], [0, 0, 0]])
    assert_png(plot_confusion(counts, ["CC1pi", "CC1pi0", "CCNpi"], tmp_path / "confusion.png"))
    assert_png(plot_confusion(counts, ["a", "b", "c"], tmp_path / "counts.png", normalize=False))
    true = rng.uniform(1, 10, 3000)
    results = {"model A": (true * (1.1 + 0.2 * rng.normal(size=3000)), true), "model B": (true * (1 + 0.3 * rng.normal(size=3000)), true)}
    assert_png(plot_response(results, tmp_path / "response.png", bins=6, xlabel=r"$E_\mathrm{avail}$ [GeV]"))
    assert dict(matplotlib.rcParams) == rc_before  # style applied locally only


def test_plot_curves_groups_of_runs(tmp_path):
    rng = np.random.default_rng(1)

    def run(offset, n=30):
        flops = np.r_[0.0, np.cumsum(rng.uniform(1e9, 2e9, n))]  # starts at 0: skipped on log x
        auc = 0.9 - 0.3 * np.exp(-flops / 1e10) + offset
        auc[5] = np.nan  # a missing value is skipped, not fatal
        return list(zip(flops, auc))

    groups = {"pretrained": [run(0.02), run(0.03), run(0.01)], "random init": [run(0.0), run(-0.01)], "single": [run(0.005)]}
    assert_png(plot_curves(groups, "FLOPs", "validation AUC", tmp_path / "auc_vs_flops.png"))
    assert_png(plot_curves(groups, "wall time [s]", "AUC", tmp_path / "auc_vs_time.png", logx=False, band="std"))
    with pytest.raises(InputError):
        plot_curves({"empty": [[]]}, "x", "y", tmp_path / "empty.png")
    with pytest.raises(InputError):
        plot_curves({"bad": [[(1, 2, 3)]]}, "x", "y", tmp_path / "bad.png")
    assert not (tmp_path / "empty.png").exists() and not (tmp_path / "bad.png").exists()


def test_curve_band_interpolates_on_common_range():
    a = (np.array([1.0, 2.0, 4.0]), np.array([0.0, 1.0, 3.0]))
    b = (np.array([0.5, 3.0]), np.array([1.0, 1.0]))
    x, mean, low, high = curve_band([a, b], logx=False, n_points=3)
    np.testing.assert_allclose(x, [1.0, 2.0, 3.0])  # overlap of [1, 4] and [0.5, 3]
    np.testing.assert_allclose(low, [0.0, 1.0, 1.0])
    np.testing.assert_allclose(high, [1.0, 1.0, 2.0])
    np.testing.assert_allclose(mean, [0.5, 1.0, 1.5])
    x, mean, low, high = curve_band([a, b], logx=False, band="std", n_points=3)
    np.testing.assert_allclose(high - mean, [0.5, 0.0, 0.5])
    # log x: interpolation is linear in log(x), so y = log2(x) is reproduced exactly
    c = (np.array([1.0, 16.0]), np.array([0.0, 4.0]))
    x, mean, _, _ = curve_band([c, c], logx=True, n_points=5)
    np.testing.assert_allclose(mean, np.log2(x), atol=1e-12)
    assert curve_band([(np.array([1.0, 2.0]), np.zeros(2)), (np.array([3.0, 4.0]), np.zeros(2))]) is None
    single = curve_band([a])
    assert single[0] is a[0] and single[2] is a[1]


def test_metric_curve_from_training_records():
    records = [
        {"step": 0, "flops": 0.0, "wall_time": 0.1, "train_loss": None},
        {"step": 10, "flops": 2e9, "wall_time": 1.5, "train_loss": 0.9, "val_loss": 0.8},
        {"step": 20, "flops": 4e9, "wall_time": 3.0, "train_loss": 0.7},
        {"step": 30, "flops": 6e9, "wall_time": 4.5, "train_loss": 0.6, "val_loss": 0.5},
    ]
    assert metric_curve(records) == [(2e9, 0.8), (6e9, 0.5)]
    assert metric_curve(records, "wall_time", "train_loss") == [(1.5, 0.9), (3.0, 0.7), (4.5, 0.6)]
