"""Event file format: exact round trips, sharding, streaming writer, summaries, splits."""

import json

import h5py
import numpy as np
import pytest

from hepfm.data import EventWriter, open_events, read_all, split_events, summarize, write_events
from hepfm.data.events import EventBlock, random_block
from hepfm.data.io import COMPRESSION
from hepfm.errors import InputError

FIELDS = ("features", "token_type", "extra", "offsets", "event")


def assert_same(a: EventBlock, b: EventBlock) -> None:
    assert a.schema == b.schema
    for name in FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name
    assert a.labels.keys() == b.labels.keys()
    for k in a.labels:
        assert a.labels[k].dtype == b.labels[k].dtype and np.array_equal(a.labels[k], b.labels[k]), k


@pytest.mark.parametrize("name", ["ds", "single.h5"])
def test_round_trip_exact(tmp_path, name):
    block = random_block(500, seed=1)
    write_events(tmp_path / name, block, shard_size=128)
    back = read_all(tmp_path / name)
    assert_same(back, block)
    assert back.schema.provenance["producer"] == "hepfm.data.events.random_block"
    assert back.schema.provenance["hepfm_version"]


def test_layout_matches_spec(tmp_path):
    block = random_block(50, seed=2)
    (path,) = write_events(tmp_path / "one.h5", block)
    with h5py.File(path) as f:
        assert json.loads(f.attrs["hepfm_schema"])["features"] == list(block.schema.features)
        assert f["offsets"].dtype == np.int64 and f["offsets"].shape == (51,)
        assert f["tokens/features"].dtype == np.float32 and f["tokens/features"].shape == block.features.shape
        assert f["tokens/type"].dtype == np.int16
        assert f["tokens/extra"].shape == block.extra.shape
        assert f["events/features"].shape == (50, 2)
        assert f["labels/label"].dtype == np.int64 and f["labels/energy"].dtype == np.float32
        assert f["tokens/features"].chunks is not None
        assert f["tokens/features"].compression == COMPRESSION["compression"]


def test_sharding_index_and_partial_reads(tmp_path):
    block = random_block(1000, seed=3)
    paths = write_events(tmp_path / "ds", block, shard_size=300)
    assert [p.name for p in paths] == [f"part-0000{i}.h5" for i in range(4)]
    index = json.loads((tmp_path / "ds" / "index.json").read_text())
    assert [s["events"] for s in index["shards"]] == [300, 300, 300, 100]
    assert index["events"] == 1000 and index["tokens"] == int(block.offsets[-1])
    data = open_events(tmp_path / "ds")
    assert len(data) == 1000 and data.n_tokens == int(block.offsets[-1])
    assert list(data.counts) == [300, 300, 300, 100]
    assert_same(data.read_block(2, 17, 250), block.slice(617, 850))
    assert len(data.read_block(3, 90, 500)) == 10  # clipped at the shard end
    starts = [s for s, _ in data.iter_blocks(128)]
    assert starts[:4] == [0, 128, 256, 300]
    # glob and list forms see the same shards
    assert_same(read_all(str(tmp_path / "ds" / "part-*.h5")), block)
    assert_same(read_all([tmp_path / "ds" / "part-00000.h5", tmp_path / "ds" / "part-00001.h5"]), block.slice(0, 600))


def test_streaming_writer(tmp_path):
    block = random_block(700, seed=4)
    dest = tmp_path / "stream"
    with EventWriter(dest, block.schema, shard_size=256) as writer:
        for a in range(0, 700, 33):
            writer.append(block.slice(a, a + 33))
            assert len(writer.shards) == min(a + 33, 700) // 256  # shards are written as they fill
        assert not dest.exists()  # nothing at the final path until close
    assert [s["events"] for s in writer.shards] == [256, 256, 188]
    assert_same(read_all(dest), block)


def test_writer_rejects_other_schema(tmp_path):
    a, b = random_block(10, seed=0), random_block(10, seed=0, n_extra=3)
    with pytest.raises(InputError, match="extra"):
        with EventWriter(tmp_path / "x", a.schema) as w:
            w.append(b)
    assert not (tmp_path / "x").exists()


def test_rewrite_replaces_old_shards(tmp_path):
    write_events(tmp_path / "ds", random_block(900, seed=5), shard_size=100)
    small = random_block(150, seed=6)
    write_events(tmp_path / "ds", small, shard_size=100)
    assert sorted(p.name for p in (tmp_path / "ds").iterdir()) == ["index.json", "part-00000.h5", "part-00001.h5"]
    assert_same(read_all(tmp_path / "ds"), small)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]  # no temporaries left


def test_empty_dataset(tmp_path):
    empty = random_block(5, seed=0).slice(0, 0)
    write_events(tmp_path / "empty", empty)
    back = read_all(tmp_path / "empty")
    assert len(back) == 0 and back.features.shape == (0, 4)
    assert summarize(tmp_path / "empty")["events"] == 0


def test_summarize(tmp_path):
    block = random_block(400, seed=7)
    write_events(tmp_path / "ds", block, shard_size=150)
    s = summarize(tmp_path / "ds")
    counts = np.diff(block.offsets)
    assert (s["events"], s["tokens"], s["shards"]) == (400, int(counts.sum()), 3)
    assert s["tokens_per_event"] == {"mean": pytest.approx(counts.mean()), "min": int(counts.min()), "max": int(counts.max())}
    assert s["labels"]["label"]["counts"] == {f"c{i}": int((block.labels["label"] == i).sum()) for i in range(3)}
    assert s["labels"]["energy"]["mean"] == pytest.approx(block.labels["energy"].mean(), rel=1e-6)
    assert s["features"]["log_pt"]["max"] == pytest.approx(block.features[:, 2].max())
    assert s["features"]["deta"]["mean"] == pytest.approx(block.features[:, 0].mean(), rel=1e-5)
    assert s["event"]["g1"]["min"] == pytest.approx(block.event[:, 1].min())
    assert sum(s["token_types"].values()) == s["tokens"]
    json.dumps(s)  # plain JSON types, ready for the CLI


def _all_events(path):
    block = read_all(path)
    return {tuple(block.slice(i, i + 1).features[0]) for i in range(len(block))}, block


def test_split_deterministic_disjoint_and_shard_independent(tmp_path):
    block = random_block(2000, seed=8, max_tokens=5)
    write_events(tmp_path / "a", block, shard_size=300)
    write_events(tmp_path / "b", block, shard_size=1000)
    parts_a = split_events(tmp_path / "a", tmp_path / "split_a", seed=3)
    parts_b = split_events(tmp_path / "b", tmp_path / "split_b", seed=3)
    split_events(tmp_path / "b", tmp_path / "split_c", seed=4)
    seen = []
    for name in ("train", "val", "test"):
        ka, ba = _all_events(parts_a[name])
        kb, bb = _all_events(parts_b[name])
        assert_same(ba, bb)  # same split whatever the input sharding
        seen.append(ka)
        split = ba.schema.provenance["split"]
        assert split["part"] == name and split["seed"] == 3 and split["fractions"] == [0.8, 0.1, 0.1]
    assert sum(len(s) for s in seen) == 2000 and len(set().union(*seen)) == 2000  # disjoint, complete
    assert abs(len(seen[0]) - 1600) < 100 and abs(len(seen[1]) - 200) < 50
    assert _all_events(tmp_path / "split_c" / "val")[0] != seen[1]  # another seed, another split
    assert sorted(p.name for p in (tmp_path / "split_a").iterdir()) == ["test", "train", "val"]


def test_split_rejects_bad_fractions(tmp_path):
    write_events(tmp_path / "a", random_block(10))
    with pytest.raises(InputError, match="split.fractions"):
        split_events(tmp_path / "a", tmp_path / "s", fractions=(0.5, 0.2, 0.2))
    assert not (tmp_path / "s").exists()
