"""Streaming loader: coverage, determinism, DDP sharding, exact resume, padding."""

import numpy as np
import pytest
import torch

from hepfm.data import EventLoader, collate_block, write_events
from hepfm.data.events import random_block
from hepfm.errors import InputError

N = 1000


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    block = random_block(N, seed=11, max_tokens=12)
    path = tmp_path_factory.mktemp("loader") / "ds"
    write_events(path, block, shard_size=230)
    return path, block


def loader(path, **kw):
    kw = {"batch_size": 32, "chunk_events": 50, "shuffle_chunks": 3, "with_index": True, **kw}
    return EventLoader(path, **kw)


def indices(ld):
    return [b["index"].numpy() for b in ld]


def test_each_event_once_and_batches_hold_the_right_events(data):
    path, block = data
    ld = loader(path, seed=1)
    batches = list(ld)
    assert len(batches) == len(ld) == int(np.ceil(N / 32))
    seen = np.concatenate([b["index"].numpy() for b in batches])
    assert np.array_equal(np.sort(seen), np.arange(N))
    for b in batches[:5] + batches[-1:]:
        ref = collate_block(block.select(b["index"].numpy()))
        for k in ("x", "token_type", "extra", "mask", "event"):
            assert torch.equal(b[k], ref[k]), k
        for k in ("label", "energy"):
            assert torch.equal(b["labels"][k], ref["labels"][k])


def test_order_deterministic_shuffled_and_epoch_dependent(data):
    path, _ = data
    a, b = loader(path, seed=1), loader(path, seed=1)
    first = np.concatenate(indices(a))
    assert np.array_equal(first, np.concatenate(indices(b)))
    assert not np.array_equal(first, np.arange(N))
    a.set_epoch(1)
    second = np.concatenate(indices(a))
    assert not np.array_equal(first, second) and np.array_equal(np.sort(second), np.arange(N))
    assert not np.array_equal(first, np.concatenate(indices(loader(path, seed=2))))
    assert np.array_equal(np.concatenate(indices(loader(path, shuffle=False))), np.arange(N))


@pytest.mark.parametrize("world", [2, 3])
def test_ddp_ranks_disjoint_and_equal_length(data, world):
    path, _ = data
    for epoch in (0, 1):
        per_rank = []
        for r in range(world):
            ld = loader(path, seed=5, rank=r, world_size=world)
            ld.set_epoch(epoch)
            batches = indices(ld)
            assert len(batches) == len(ld) == int(np.ceil((N // world) / 32))
            per_rank.append(np.concatenate(batches))
        assert all(len(p) == N // world for p in per_rank)
        union = np.concatenate(per_rank)
        assert len(np.unique(union)) == len(union) == N - N % world


@pytest.mark.parametrize("start", [0, 1, 4, 5, 13, 15, 16])
def test_resume_mid_epoch_is_exact(data, start):
    path, _ = data
    full = loader(path, seed=7, rank=1, world_size=2)
    full.set_epoch(3)
    reference = list(full)
    resumed = loader(path, seed=7, rank=1, world_size=2)
    resumed.set_epoch(3)
    resumed.skip_batches(start)
    rest = list(resumed)
    assert len(rest) == len(reference) - start
    for got, want in zip(rest, reference[start:]):
        for k in ("index", "x", "mask", "token_type", "extra", "event"):
            assert torch.equal(got[k], want[k])
    assert len(list(resumed)) == len(reference)  # the skip applies to one epoch only
    via_arg = loader(path, seed=7, rank=1, world_size=2, start_batch=start)
    via_arg.set_epoch(3)
    assert all(torch.equal(a["index"], b["index"]) for a, b in zip(via_arg, rest))


def test_padding_mask_and_truncation(data):
    path, block = data
    counts = np.diff(block.offsets)
    for b in loader(path, seed=0, batch_size=64):
        n = counts[b["index"].numpy()]
        assert b["x"].shape[1] == n.max()  # padded to the longest event in the batch
        assert np.array_equal(b["mask"].sum(1).numpy(), n)
        assert np.array_equal(b["mask"].numpy(), np.arange(n.max())[None, :] < n[:, None])  # real tokens first
        pad = ~b["mask"]
        assert (b["x"][pad] == 0).all() and (b["extra"][pad] == 0).all() and (b["token_type"][pad] == 0).all()
    cut = list(loader(path, seed=0, batch_size=64, max_tokens=5))
    for b in cut:
        idx = b["index"].numpy()
        assert b["x"].shape[1] == 5
        assert np.array_equal(b["mask"].sum(1).numpy(), np.minimum(counts[idx], 5))
        first = idx[0]
        keep = min(counts[first], 5)
        expect = block.features[block.offsets[first] : block.offsets[first] + keep]
        assert np.array_equal(b["x"][0, :keep].numpy(), expect)  # the first tokens are kept


def test_drop_last_and_labels_choice(data):
    path, _ = data
    ld = loader(path, batch_size=300, drop_last=True, labels=["energy"])
    batches = list(ld)
    assert len(batches) == len(ld) == 3 and all(b["x"].shape[0] == 300 for b in batches)
    assert set(batches[0]["labels"]) == {"energy"} and batches[0]["labels"]["energy"].dtype == torch.float32
    assert "index" not in next(iter(EventLoader(path, 8)))
    with pytest.raises(InputError, match="loader.labels"):
        EventLoader(path, 8, labels=["nope"])
    with pytest.raises(InputError, match="loader.rank"):
        EventLoader(path, 8, rank=2, world_size=2)


def test_subset_fixed_nested_and_shuffled(data):
    path, block = data
    small = loader(path, subset=100, seed=3)
    picked = np.sort(np.concatenate(indices(small)))
    small.set_epoch(1)
    again = np.concatenate(indices(small))
    assert len(picked) == 100 and np.array_equal(np.sort(again), picked)
    big = np.sort(np.concatenate(indices(loader(path, subset=400, seed=3))))
    assert np.isin(picked, big).all()  # subsets of one seed are nested
    b = next(iter(loader(path, subset=100, seed=3, shuffle=False)))
    assert torch.equal(b["x"], collate_block(block.select(b["index"].numpy()))["x"])
    with pytest.raises(InputError, match="subset"):
        EventLoader(path, 8, subset=N + 1)


def test_in_memory_source_matches_files(data):
    path, block = data
    from_files = list(loader(path, seed=9))
    from_memory = list(loader(block, seed=9, chunk_events=10_000))
    a = np.concatenate([b["index"].numpy() for b in from_memory])
    assert np.array_equal(np.sort(a), np.arange(N))
    assert len(from_files) == len(from_memory)


def test_collate_block_empty_extra_and_event():
    block = random_block(7, seed=1, n_extra=0, n_event=0, num_classes=0, regression=False)
    b = collate_block(block)
    assert b["extra"].shape == (7, b["x"].shape[1], 0) and b["event"].shape == (7, 0) and b["labels"] == {}
    assert b["x"].dtype == torch.float32 and b["token_type"].dtype == torch.int64 and b["mask"].dtype == torch.bool
