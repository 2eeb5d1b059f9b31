"""Every kind of bad event file gives one InputError naming the file and the field;
failed writes leave nothing half-written and never clobber existing data."""

import json
import os

import h5py
import numpy as np
import pytest

from hepfm.data import EventLoader, EventWriter, open_events, read_all, validate_file, write_events
from hepfm.data.events import random_block
from hepfm.errors import InputError


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "good.h5"
    write_events(path, random_block(60, seed=1, max_tokens=6))
    return path


def replace(name, fn):
    """Mutation: replace dataset ``name`` by ``fn(old values)``."""

    def mutate(f):
        values = f[name][()]
        del f[name]
        f.create_dataset(name, data=fn(values))

    return mutate


def poke(name, index, value):
    def fn(values):
        values = values.copy()
        values[index] = value
        return values

    return replace(name, fn)


MUTATIONS = {
    "missing schema": (lambda f: f.attrs.__delitem__("hepfm_schema"), "hepfm_schema"),
    "schema not json": (lambda f: f.attrs.__setitem__("hepfm_schema", "{oops"), "hepfm_schema"),
    "unknown schema key": (lambda f: f.attrs.__setitem__("hepfm_schema", json.dumps({"colour": 1})), "hepfm_schema"),
    "missing tokens": (lambda f: f.__delitem__("tokens/type"), "tokens/type"),
    "missing label": (lambda f: f.__delitem__("labels/energy"), "labels/energy"),
    "missing offsets": (lambda f: f.__delitem__("offsets"), "offsets"),
    "feature columns": (replace("tokens/features", lambda v: v[:, :3]), "tokens/features"),
    "type length": (replace("tokens/type", lambda v: v[:-1]), "tokens/type"),
    "extra 1-D": (replace("tokens/extra", lambda v: v[:, 0]), "tokens/extra"),
    "event rows": (replace("events/features", lambda v: v[:-2]), "events/features"),
    "label length": (replace("labels/label", lambda v: v[1:]), "labels/label"),
    "float token types": (replace("tokens/type", lambda v: v.astype(np.float32)), "tokens/type"),
    "offsets not at 0": (poke("offsets", 0, 1), "offsets"),
    "offsets decrease": (poke("offsets", 10, 0), "offsets"),
    "last offset": (replace("offsets", lambda v: np.concatenate([v[:-1], [v[-1] + 5]])), "offsets: last offset"),
    "nan feature": (poke("tokens/features", (5, 2), np.nan), "tokens/features"),
    "inf extra": (poke("tokens/extra", (3, 1), np.inf), "tokens/extra"),
    "nan event": (poke("events/features", (7, 0), np.nan), "events/features"),
    "inf regression": (poke("labels/energy", 4, np.inf), "labels/energy"),  # NaN is allowed: a missing label
    "class label below -1": (poke("labels/label", 2, -2), "labels/label"),
    "token type high": (poke("tokens/type", 9, 3), "tokens/type"),
    "token type negative": (poke("tokens/type", 9, -1), "tokens/type"),
    "class label high": (poke("labels/label", 2, 3), "labels/label"),
}


@pytest.mark.parametrize("case", sorted(MUTATIONS))
def test_corrupt_fields_are_named(good, case):
    mutate, field = MUTATIONS[case]
    with h5py.File(good, "r+") as f:
        mutate(f)
    with pytest.raises(InputError) as err:
        validate_file(good)
    message = str(err.value)
    assert "\n" not in message and str(good) in message and field in message, message


def test_good_file_validates(good):
    assert validate_file(good)["events"] == 60


def test_not_hdf5_and_truncated(tmp_path, good):
    text = tmp_path / "notes.h5"
    text.write_text("this is not HDF5\n" * 100)
    for fn in (validate_file, open_events, lambda p: EventLoader(p, 4)):
        with pytest.raises(InputError, match=f"{text}.*not an HDF5 file"):
            fn(text)
    cut = tmp_path / "cut.h5"
    data = good.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    for fn in (validate_file, read_all):
        with pytest.raises(InputError, match=f"{cut}.*truncated"):
            fn(cut)
    with pytest.raises(InputError, match="no such file"):
        validate_file(tmp_path / "missing")
    with pytest.raises(InputError, match="no .h5 shards"):
        validate_file(tmp_path.joinpath("emptydir").mkdir() or tmp_path / "emptydir")


def test_schema_mismatch_between_shards(tmp_path):
    write_events(tmp_path / "ds" / "part-00000.h5", random_block(20, seed=1))
    write_events(tmp_path / "ds" / "part-00001.h5", random_block(20, seed=2, n_token_types=4))
    for fn in (validate_file, open_events):
        with pytest.raises(InputError, match=r"part-00001\.h5:hepfm_schema.*token_types"):
            fn(tmp_path / "ds")


def test_index_disagreeing_with_shards(tmp_path):
    write_events(tmp_path / "ds", random_block(50, seed=1), shard_size=20)
    index = tmp_path / "ds" / "index.json"
    raw = json.loads(index.read_text())
    raw["shards"][1]["events"] = 7
    index.write_text(json.dumps(raw))
    with pytest.raises(InputError, match="index.json:shards"):
        validate_file(tmp_path / "ds")
    (tmp_path / "ds" / "part-00002.h5").unlink()
    with pytest.raises(InputError, match="index.json:shards.*missing"):
        open_events(tmp_path / "ds")


def test_chunked_validation_finds_late_errors(tmp_path):
    path = tmp_path / "big.h5"
    block = random_block(300, seed=3)
    write_events(path, block)
    with h5py.File(path, "r+") as f:
        f["offsets"][250] = f["offsets"][249] - 1
    with pytest.raises(InputError, match="offsets decrease at event 249"):
        validate_file(path, chunk_rows=16)


def test_bad_block_is_not_written_and_keeps_existing(tmp_path):
    dest = tmp_path / "ds"
    old = random_block(30, seed=4)
    write_events(dest, old, shard_size=10)
    before = {p.name: p.read_bytes() for p in dest.iterdir()}
    bad = random_block(30, seed=5)
    bad.features[17, 1] = np.nan
    with pytest.raises(InputError, match="features"):
        write_events(dest, bad, shard_size=10)
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == before
    with pytest.raises(InputError):
        write_events(tmp_path / "new.h5", bad)
    assert sorted(os.listdir(tmp_path)) == ["ds"]  # no partial file, no temporaries


def test_crash_while_streaming_keeps_existing(tmp_path):
    dest = tmp_path / "ds"
    old = random_block(30, seed=6)
    write_events(dest, old)
    with pytest.raises(RuntimeError, match="generator died"):
        with EventWriter(dest, old.schema, shard_size=5) as w:
            w.append(random_block(20, seed=7))  # four shards already flushed
            raise RuntimeError("generator died")
    back = read_all(dest)
    assert np.array_equal(back.features, old.features)
    assert sorted(os.listdir(tmp_path)) == ["ds"]


def test_loader_rejects_bad_arguments(good):
    for kw, field in [({"batch_size": 0}, "batch_size"), ({"batch_size": 4, "max_tokens": 0}, "max_tokens"),
                      ({"batch_size": 4, "world_size": 0}, "world_size")]:
        with pytest.raises(InputError, match=f"loader.{field}"):
            EventLoader(good, **kw)
