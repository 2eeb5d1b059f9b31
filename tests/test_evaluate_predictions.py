import h5py
import numpy as np
import pytest
import torch

from hepfm.errors import InputError
from hepfm.evaluate import read_predictions, write_predictions


def sample(n=50, seed=0):
    rng = np.random.default_rng(seed)
    outputs = {"channel": rng.dirichlet([1, 1, 1], n).astype(np.float32), "e_avail": rng.uniform(0, 5, n).astype(np.float32)}
    labels = {"channel": rng.integers(0, 3, n), "e_avail": rng.uniform(0, 5, n).astype(np.float32)}
    return outputs, labels, rng.permutation(10 * n)[:n]


def test_round_trip(tmp_path):
    outputs, labels, ids = sample()
    meta = {"model": "pet-tiny", "data": ["a.h5"], "seed": 3}
    path = write_predictions(tmp_path / "sub" / "pred.h5", outputs, labels, ids, meta=meta)
    got = read_predictions(path)
    assert len(got) == 50 and got.meta == meta
    np.testing.assert_array_equal(got.event_ids, ids)
    assert set(got.outputs) == set(outputs) and set(got.labels) == set(labels)
    for k in outputs:
        np.testing.assert_array_equal(got.outputs[k], outputs[k])
        assert got.outputs[k].dtype == outputs[k].dtype
        np.testing.assert_array_equal(got.labels[k], labels[k])
    assert [p.name for p in path.parent.iterdir()] == ["pred.h5"]  # no temporary left behind


def test_defaults_and_torch_inputs(tmp_path):
    probs = torch.softmax(torch.randn(7, 2), dim=1)
    got = read_predictions(write_predictions(tmp_path / "p.h5", {"cls": probs}))
    np.testing.assert_array_equal(got.event_ids, np.arange(7))
    np.testing.assert_allclose(got.outputs["cls"], probs.numpy())
    assert got.labels == {}


@pytest.mark.parametrize(
    "change",
    [
        lambda o, l, i: o["e_avail"].__setitem__(3, np.nan),
        lambda o, l, i: l.__setitem__("channel", l["channel"][:-1]),
        lambda o, l, i: o.__setitem__("bad/name", o["e_avail"]),
        lambda o, l, i: o.clear(),
    ],
)
def test_bad_input_leaves_existing_file_untouched(tmp_path, change):
    path = tmp_path / "pred.h5"
    outputs, labels, ids = sample()
    write_predictions(path, outputs, labels, ids)
    before = path.read_bytes()
    outputs, labels, ids = sample(seed=1)
    change(outputs, labels, ids)
    with pytest.raises(InputError):
        write_predictions(path, outputs, labels, ids)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["pred.h5"]


def test_bad_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_predictions(tmp_path / "missing.h5")
    text = tmp_path / "text.h5"
    text.write_text("not hdf5")
    with pytest.raises(InputError, match="not an HDF5"):
        read_predictions(text)
    good = write_predictions(tmp_path / "good.h5", *sample(n=20000))
    truncated = tmp_path / "trunc.h5"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(InputError):
        read_predictions(truncated)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(InputError, match="hepfm_predictions"):
        read_predictions(other)
    with h5py.File(good, "a") as f:
        del f["labels/channel"]
    with pytest.raises(InputError, match="labels/channel"):
        read_predictions(good)
