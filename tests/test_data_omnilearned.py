"""OmniLearned layout: exact round trip, format expectations, foreign files, and reading
our export with OmniLearned's own dataloader (in its own venv, when installed)."""

import json
import subprocess
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from hepfm.data import export_omnilearned, import_omnilearned, read_all, split_events, write_events
from hepfm.data.events import random_block
from hepfm.data.omnilearned import LOG_PT_NUDGE
from hepfm.errors import InputError

OMNILEARNED_PYTHON = Path("/tmp/olvenv/v/bin/python")


def same_events(a, b):
    assert a.schema == b.schema
    for name in ("features", "token_type", "extra", "offsets", "event"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert np.array_equal(a.labels["label"], b.labels["label"])


def test_round_trip_exact(tmp_path):
    block = random_block(300, seed=1, max_tokens=15, regression=False)
    write_events(tmp_path / "ds", block, shard_size=100)
    split_events(tmp_path / "ds", tmp_path / "split", seed=1)
    out = export_omnilearned(tmp_path / "split", tmp_path / "ol", "custom", shard_size=64)
    assert sorted(out) == ["test", "train", "val"]
    back = import_omnilearned(tmp_path / "ol", tmp_path / "back", name="custom", has_pid_column=True)
    for part in ("train", "val", "test"):
        same_events(read_all(back[part]), read_all(tmp_path / "split" / part))
    assert read_all(back["train"]).schema.provenance["imported_from"]["format"] == "omnilearned"


def test_export_format(tmp_path):
    block = random_block(40, seed=2, max_tokens=9)
    write_events(tmp_path / "ds", block)
    export_omnilearned(tmp_path / "ds", tmp_path / "ol", "custom", max_tokens=12)
    files = sorted((tmp_path / "ol" / "custom" / "train").glob("*.h5"))
    assert [f.name for f in files] == ["part-00000.h5"]
    with h5py.File(files[0]) as f:
        data, pid, glob = f["data"][()], f["pid"][()], f["global"][()]
    assert data.dtype == np.float32 and data.shape == (40, 12, 4 + 1 + 2)
    assert pid.dtype == np.int64 and np.array_equal(pid, block.labels["label"])
    assert glob.dtype == np.float32 and np.array_equal(glob, block.event)
    counts = np.diff(block.offsets)
    real = data[:, :, 2] != 0  # OmniLearned's padding rule
    assert np.array_equal(real.sum(1), counts)
    assert (data[~real] == 0).all()
    first = data[0, : counts[0]]
    assert np.array_equal(first[:, :4], block.features[: counts[0]])
    assert np.array_equal(first[:, 4], block.token_type[: counts[0]] + 1.0)  # pid code = token type + 1
    assert np.array_equal(first[:, 5:], block.extra[: counts[0]])


def test_export_nudges_zero_log_pt_and_truncates(tmp_path):
    block = random_block(20, seed=3, max_tokens=8, regression=False)
    block.features[block.offsets[4] + 0, 2] = 0.0  # a real token at exactly log pT = 0
    write_events(tmp_path / "ds", block)
    with pytest.warns(UserWarning, match="log pT exactly 0"):
        export_omnilearned(tmp_path / "ds", tmp_path / "ol", "custom")
    back = read_all(import_omnilearned(tmp_path / "ol" / "custom", tmp_path / "b", has_pid_column=True)["train"])
    assert np.array_equal(back.offsets, block.offsets)  # no token lost
    assert back.features[block.offsets[4], 2] == LOG_PT_NUDGE
    with pytest.warns(UserWarning) as caught:
        export_omnilearned(tmp_path / "ds", tmp_path / "ol3", "custom", max_tokens=3)
    assert any("kept the first 3" in str(w.message) for w in caught)
    cut = read_all(import_omnilearned(tmp_path / "ol3" / "custom", tmp_path / "b3", has_pid_column=True)["train"])
    assert np.array_equal(np.diff(cut.offsets), np.minimum(np.diff(block.offsets), 3))


def test_import_foreign_files(tmp_path):
    """Files as OmniLearned ships them: no hepfm attributes, padding anywhere, float codes."""
    rng = np.random.default_rng(4)
    n, m = 30, 6
    data = np.zeros((n, m, 4 + 1 + 1), np.float32)
    real = rng.random((n, m)) < 0.6
    real[:, 0] = True
    k = int(real.sum())
    data[real, :4] = rng.normal(size=(k, 4)) + np.array([0, 0, 3, 3])  # log pT far from 0
    data[real, 4] = rng.integers(1, 5, size=k)  # pid codes 1..4
    data[real, 5] = rng.normal(size=k)
    split = tmp_path / "src" / "mine" / "train"
    split.mkdir(parents=True)
    with h5py.File(split / "a.h5", "w") as f:
        f["data"], f["pid"], f["global"] = data[:20], np.arange(20) % 2, rng.normal(size=(20, 3))
    with h5py.File(split / "b.hdf5", "w") as f:
        f["data"], f["pid"], f["global"] = data[20:], np.arange(10) % 2, rng.normal(size=(10, 3))
    out = import_omnilearned(tmp_path / "src", tmp_path / "out", name="mine", has_pid_column=True, class_names=("q", "g"))
    back = read_all(out["train"])
    s = back.schema
    assert s.features == ("deta", "dphi", "log_pt", "log_e") and s.extra == ("extra0",) and s.event == ("global0", "global1", "global2")
    assert s.token_types == ("pid1", "pid2", "pid3", "pid4") and s.labels[0].classes == ("q", "g")
    assert np.array_equal(np.diff(back.offsets), real.sum(1))
    assert np.array_equal(back.features, data[real][:, :4])  # row-major order keeps token order
    assert np.array_equal(back.token_type, data[real][:, 4].astype(int) - 1)
    regression = import_omnilearned(split / "a.h5", tmp_path / "reg.h5", has_pid_column=False, label_name="e", label_kind="regression")
    reg = read_all(regression["all"])
    assert reg.schema.labels[0].kind == "regression" and reg.extra.shape[1] == 2  # pid column taken as extra
    data[3, 0, 4] = 0  # a real token with the padding pid code
    with h5py.File(split / "a.h5", "w") as f:
        f["data"], f["pid"] = data[:20], np.arange(20) % 2
    with pytest.raises(InputError, match=r"a\.h5:data\[\.\.\., 4\].*pid_offset"):
        import_omnilearned(split / "a.h5", tmp_path / "bad", has_pid_column=True, token_type_names=("a", "b", "c", "d"))
    assert not (tmp_path / "bad").exists()
    with h5py.File(split / "a.h5", "w") as f:
        f["data"] = data[:20]
    with pytest.raises(InputError, match=r"a\.h5:pid: missing dataset"):
        import_omnilearned(split / "a.h5", tmp_path / "bad", has_pid_column=True)


READER = """
import json, sys, numpy as np
from omnilearned.dataloader import load_data
root, num_add = sys.argv[1], int(sys.argv[2])
loader = load_data("custom", root, batch=16, dataset_type="train", use_cond=True, use_pid=True, pid_idx=4,
                   use_add=True, num_add=num_add, num_workers=0, shuffle=False, distributed=False)
out = {k: [] for k in ("X", "y", "pid", "add_info", "cond")}
for batch in loader:
    for k in out:
        out[k].append(batch[k].numpy())
np.savez(sys.argv[3], **{k: np.concatenate(v) for k, v in out.items()})
"""


@pytest.mark.skipif(not OMNILEARNED_PYTHON.exists(), reason="OmniLearned venv not installed")
def test_omnilearned_reads_our_export(tmp_path):
    block = random_block(50, seed=5, max_tokens=10)
    write_events(tmp_path / "ds", block, shard_size=20)
    export_omnilearned(tmp_path / "ds", tmp_path / "ol", "custom", shard_size=20)
    script = tmp_path / "read.py"
    script.write_text(textwrap.dedent(READER))
    subprocess.run([str(OMNILEARNED_PYTHON), str(script), str(tmp_path / "ol"), "2", str(tmp_path / "got.npz")],
                   check=True, capture_output=True, timeout=120, cwd=tmp_path)
    got = np.load(tmp_path / "got.npz")
    # OmniLearned lists files with an unordered glob: match its events to ours by label + global
    with h5py.File(sorted((tmp_path / "ol" / "custom" / "train").glob("*.h5"))[0]) as f:
        assert json.loads(f.attrs["hepfm_omnilearned"])["pid_column"] is True
    order = np.lexsort(got["cond"].T[::-1])
    ref = np.lexsort(block.event.T[::-1])
    x, pid, add, y = got["X"][order], got["pid"][order], got["add_info"][order], got["y"][order]
    assert len(x) == 50 and np.array_equal(got["cond"][order], block.event[ref])
    assert np.array_equal(y, block.labels["label"][ref])
    counts = np.diff(block.offsets)[ref]
    mask = x[:, :, 2] != 0
    assert np.array_equal(mask.sum(1), counts)
    sel = block.select(ref)
    assert np.array_equal(x[mask], sel.features)
    assert np.array_equal(pid[mask], sel.token_type + 1) and (pid[~mask] == 0).all()
    assert np.array_equal(add[mask], sel.extra)
