"""hepfm.simulate.jets: physics of the shipped sample, reproducibility, truth structure, errors."""

from __future__ import annotations

import numpy as np
import pytest

from hepfm.data.io import read_all
from hepfm.errors import InputError
from hepfm.simulate import jets as J

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def shipped():
    return read_all(J.sample_path())


@pytest.fixture(scope="module")
def fresh():
    """Full-precision jets made now (the shipped sample stores rounded floats)."""
    return J.generate_jets(6, classes=("q", "tbqq"), seed=11)


@pytest.fixture(params=["shipped", "fresh"])
def any_sample(request):
    return request.getfixturevalue(request.param)


@pytest.fixture
def sample(shipped):
    return shipped


def _column(block, name):
    return block.event[:, block.schema.event.index(name)]


def _of(block, cls):
    return block.labels["label"] == block.schema.label("label").classes.index(cls)


def _mass_mode(masses, width=10.0):
    """Centre of the most populated ``width``-GeV bin of the jet mass, 0-300 GeV."""
    counts, edges = np.histogram(masses, bins=np.arange(0.0, 300.0 + width, width))
    return 0.5 * (edges[counts.argmax()] + edges[counts.argmax() + 1])


# ------------------------------------------------------------------ shipped sample


def test_sample_is_small_complete_and_balanced(sample):
    assert J.sample_path().stat().st_size <= 2_000_000
    sample.check()
    assert sample.schema.provenance["float_mantissa_bits"] == 10
    assert sample.schema.token_types == J.TOKEN_TYPES
    assert sample.schema.extra == J.EXTRA and sample.schema.event == J.EVENT
    assert sample.schema.label("label").classes == J.DEFAULT_CLASSES
    counts = np.bincount(sample.labels["label"], minlength=len(J.DEFAULT_CLASSES))
    assert counts.min() == counts.max() >= 100
    prov = sample.schema.provenance
    assert prov["producer"] == "hepfm.simulate.jets" and prov["seed"] == 2026
    assert prov["pythia_version"].startswith("8.3")
    assert any("HardQCD:all" in s for s in prov["settings"]["qcd"])
    for source, stats in prov["stats"].items():  # every jet in the window is kept or dropped for a reason
        dropped = stats["unmatched"] + stats["shared_parent"] + stats["decay_outside_jet"] + stats["other_flavour"]
        kept = sum(v for k, v in stats.items() if k.startswith("kept_"))
        assert stats["jets_in_window"] == dropped + kept + stats["surplus"], source


def test_sample_jets_in_window_and_tokens_consistent(any_sample):
    sample = any_sample
    cfg = J.JetConfig(**sample.schema.provenance["config"])
    # the shipped sample stores floats rounded to a few mantissa bits (relative error <= eps)
    eps = 2.0 ** -sample.schema.provenance.get("float_mantissa_bits", 20)
    pt, eta, phi, mass, n_const = (_column(sample, c) for c in J.EVENT)
    assert np.all((pt >= cfg.pt_min) & (pt < cfg.pt_max) & (np.abs(eta) < cfg.eta_max))
    n_tok = sample.num_tokens
    assert np.array_equal(n_tok, np.minimum(n_const, cfg.max_constituents))
    deta, dphi, log_pt, log_e = sample.features.T
    assert np.all(np.abs(dphi) <= np.pi)
    first = np.repeat(sample.offsets[:-1], n_tok) == np.arange(len(log_pt))
    assert np.all((np.diff(log_pt) <= 1e-5) | first[1:])  # pT-ordered inside every jet
    jet = np.repeat(np.arange(len(sample)), n_tok)
    extra = dict(zip(J.EXTRA, sample.extra.T))
    np.testing.assert_allclose(extra["delta_r"], np.hypot(deta, dphi), rtol=3 * eps, atol=1e-5)
    np.testing.assert_allclose(extra["log_pt_rel"], log_pt - np.log(pt[jet]), rtol=3 * eps, atol=10 * eps)
    assert set(np.unique(extra["charge"])) <= {-1.0, 0.0, 1.0}
    charged = np.isin(sample.token_type, [1, 2, 3])  # electrons, muons, charged hadrons
    assert np.all((extra["charge"] != 0) == charged)
    # summing the constituents gives back the jet 4-vector (jets that were not truncated);
    # only at full precision: E - |p| cancels catastrophically once log E is stored rounded
    if "float_mantissa_bits" in sample.schema.provenance:
        return
    c_pt, c_e = np.exp(log_pt), np.exp(log_e)
    c_eta, c_phi = deta + eta[jet], dphi + phi[jet]
    p4 = np.stack([c_pt * np.cos(c_phi), c_pt * np.sin(c_phi), c_pt * np.sinh(c_eta), c_e], axis=1)
    total = np.zeros((len(sample), 4))
    np.add.at(total, jet, p4)
    full = n_const <= cfg.max_constituents
    np.testing.assert_allclose(np.hypot(total[full, 0], total[full, 1]), pt[full], rtol=1e-4)
    m = np.sqrt(np.maximum(total[:, 3] ** 2 - (total[:, :3] ** 2).sum(1), 0))
    np.testing.assert_allclose(m[full], mass[full], rtol=2e-3, atol=0.05)


def test_resonance_mass_peaks(sample):
    mass = _column(sample, "jet_mass")
    assert 160 <= _mass_mode(mass[_of(sample, "tbqq")]) <= 185
    for cls in ("wqq", "zqq"):
        assert 70 <= _mass_mode(mass[_of(sample, cls)]) <= 100, cls
    for cls in ("hbb", "hcc", "hgg", "h4q"):
        assert 110 <= _mass_mode(mass[_of(sample, cls)]) <= 140, cls
    # Z is heavier than W
    assert np.median(mass[_of(sample, "zqq")]) > np.median(mass[_of(sample, "wqq")])


def test_gluon_jets_have_more_constituents_than_quark_jets(sample):
    n = _column(sample, "n_constituents")
    assert n[_of(sample, "g")].mean() > 1.3 * n[_of(sample, "q")].mean()


def test_qcd_mass_falls_smoothly_above_peak(sample):
    """QCD (q + g) jet mass in 20 GeV bins up to 280 GeV: above the most populated bin the
    counts fall (Spearman rank correlation with mass below -0.8), no bin exceeds its left
    neighbour by more than 2 sigma, and the last three bins hold < 1/5 of the peak each."""
    mass = _column(sample, "jet_mass")[_of(sample, "q") | _of(sample, "g")]
    counts, _ = np.histogram(mass, bins=np.arange(0.0, 300.0, 20.0))
    tail = counts[counts.argmax():].astype(float)
    assert len(tail) >= 6
    rank = np.argsort(np.argsort(tail))
    spearman = np.corrcoef(np.arange(len(tail)), rank)[0, 1]
    assert spearman < -0.8
    rise = np.diff(tail)
    assert np.all(rise <= 2 * np.sqrt(tail[1:] + tail[:-1]))
    assert np.all(tail[-3:] < tail[0] / 5)


def test_plots_written(sample, tmp_path):
    paths = J.plot_jets(sample, tmp_path)
    assert [p.name for p in paths] == ["jets_mass.png", "jets_multiplicity.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)


# ------------------------------------------------------------------ generation


def _same(a, b):
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("features", "token_type", "extra", "offsets", "event")) and np.array_equal(
        a.labels["label"], b.labels["label"]
    )


def test_shards_reproducible_and_mergeable(tmp_path):
    args = dict(classes=("zqq", "wqq"), seed=7, n_shards=2)
    whole = J.generate_jets(3, **args)
    assert _of(whole, "zqq").sum() == _of(whole, "wqq").sum() == 3 and len(whole) == 6
    assert _same(whole, J.generate_jets(3, **args))  # same seed, same jets
    shard1 = J.generate_jets(3, shard=1, **args)
    parts = [J.generate_jets(3, shard=0, **args), shard1]
    assert _same(whole, type(whole).concat(parts))  # shards made alone merge into the whole
    assert not _same(parts[0], shard1)  # shards differ
    other = J.generate_jets(3, shard=0, **{**args, "seed": 8})
    assert not np.array_equal(other.event, parts[0].event)  # another seed, other jets
    # a shard written by write_jets holds the same jets and its own provenance
    (path,) = J.write_jets(tmp_path / "jets", J.plan_jets(3, shard=1, **args))
    assert path.name == "part-00001.h5"
    written = read_all(tmp_path / "jets")
    assert _same(written, shard1) and written.schema.provenance["shards"] == [1]


def test_workers_do_not_change_output():
    args = dict(classes=("zqq",), seed=3, n_shards=2)
    assert _same(J.generate_jets(2, workers=1, **args), J.generate_jets(2, workers=2, **args))


@pytest.mark.parametrize("source", list(J.SOURCES))
def test_truth_parents_and_decay_products(source):
    cfg = J.JetConfig()
    pythia = J.make_pythia(cfg.pythia_settings(source, 5))
    rec = J._Record.from_batch(pythia.nextBatch(4))
    truth = J._truth(rec, source)
    leaves = np.bincount(truth.leaf_parent, minlength=len(truth.eta))
    expected = {"qcd": (2, 0), "ttbar": (2, 3), "ww": (2, 2), "zz": (2, 2), "hz_4q": (1, 4)}.get(source, (1, 2))
    assert len(truth.eta) == expected[0] * rec.n_events
    assert np.all(leaves == expected[1])
    if source == "qcd":
        assert set(truth.cls) <= {"q", "g", ""}
        return
    # decay products, found again from the flat record: daughters of the decaying copies
    ids = np.abs(rec.id)
    decay = {"hz_bb": {5}, "hz_cc": {4}, "hz_gg": {21}, "zz": {1, 2, 3, 4, 5}, "ww": {1, 2, 3, 4, 5}}
    top = np.flatnonzero((np.abs(rec.status) == 22) & (ids == J.SOURCES[source].target) & (np.abs(rec.status[rec.base + rec.mother1]) == 21))
    parent, kid = rec.daughters(rec.last_copy(top))
    kids = set(ids[kid].tolist())
    if source in decay:
        assert kids <= decay[source]
    elif source == "ttbar":
        assert kids == {5, 24}
    else:
        assert kids == {24}


def test_acceptance_prefilter_keeps_jets():
    """Dropping particles with rapidity |y| > eta_max + 2R leaves every central jet unchanged."""
    cfg = J.JetConfig(pt_min=100.0)  # cluster down to 100 GeV to compare many jets
    pythia = J.make_pythia(J.JetConfig().pythia_settings("qcd", 9))
    rec = J._Record.from_batch(pythia.nextBatch(30))
    vis = np.flatnonzero((rec.status > 0) & ~np.isin(np.abs(rec.id), J.NEUTRINOS))
    near = np.abs(J._rapidity(rec.p[vis])) < cfg.eta_max + 2 * cfg.radius
    all_jets = J._cluster(rec.p[vis], rec.event[vis], rec.n_events, cfg)
    cut_jets = J._cluster(rec.p[vis[near]], rec.event[vis[near]], rec.n_events, cfg)
    central = np.abs(J._eta_phi(all_jets.p)[0]) < cfg.eta_max
    assert central.sum() >= 20
    central_cut = np.abs(J._eta_phi(cut_jets.p)[0]) < cfg.eta_max
    np.testing.assert_allclose(np.sort(all_jets.p[central, 3]), np.sort(cut_jets.p[central_cut, 3]), rtol=1e-9)


def test_bad_arguments_raise_input_error():
    with pytest.raises(InputError, match="classes"):
        J.plan_jets(1, classes=("q", "bogus"))
    with pytest.raises(InputError, match="n_per_class/n_total"):
        J.plan_jets(1, n_total=5)
    with pytest.raises(InputError, match="n_per_class/n_total"):
        J.plan_jets()
    with pytest.raises(InputError, match="shard"):
        J.plan_jets(1, shard=2, n_shards=2)
    with pytest.raises(InputError, match="pt_min"):
        J.plan_jets(1, pt_min=800, pt_max=500)
    with pytest.raises(InputError, match="pythia"):
        J.make_pythia(["NotASetting:at all = 3"])
    job = J.plan_jets(n_total=10, classes=("q", "g", "tbqq"), n_shards=3)
    assert job.counts == {"q": 4, "g": 3, "tbqq": 3}
    assert sum(job.shard_counts(s)["q"] for s in range(3)) == 4
