"""The neutrino generator (flux, cross-section tables, channel mixing, shards) end to end."""

from __future__ import annotations

import numpy as np
import pytest

from hepfm.errors import InputError
from hepfm.simulate.neutrino import flux as F
from hepfm.simulate.neutrino.generator import (
    NeutrinoConfig, NeutrinoPhysics, _Pieces, cross_section_summary, format_cross_sections, generate_interactions,
    generate_neutrino, load_physics, plan_neutrino, write_neutrino, xsec_table,
)
from hepfm.simulate.neutrino.record import CHANNELS

# a coarse energy grid keeps the cross-section tables quick to build in tests (the default is 60)
GRID = 24


def _cfg(**kw) -> NeutrinoConfig:
    kw.setdefault("grid_points", GRID)
    return NeutrinoConfig(**kw)


@pytest.fixture(scope="module")
def ch_events():
    """400 CH events with the NuMI-like flux: truth after FSI and the detector-level block."""
    cfg = _cfg()
    return cfg, generate_interactions(400, config=cfg, seed=5), generate_neutrino(400, config=cfg, seed=5)


# --------------------------------------------------------------------------- flux


def test_numi_like_flux_shape():
    f = F.numi_le(14)
    e = np.linspace(0.05, 20, 4000)
    mode = e[np.argmax(F.numi_le_shape(e))]
    assert 2.5 < mode < 3.2  # NuMI LE focusing peak (MINERvA flux: peak bin 2.5-3.5 GeV)
    assert 3.5 < f.mean < 4.6
    s = f.sample(200_000, np.random.default_rng(0))
    assert abs(s.mean() - f.mean) < 0.05
    assert 0.02 < np.mean(s > 10) < 0.12  # the high-energy tail
    # shape anchors of the MINERvA LE numu flux (Aliaga et al. PRD 94 (2016) 092005): flux(10 GeV) / flux(3 GeV)
    # = 0.036 and flux(20 GeV) / flux(3 GeV) = 0.0062, within 30 %
    r10, r20 = F.numi_le_shape(np.array([10.1, 20.2])) / F.numi_le_shape(np.array([3.03]))
    print(f"\nNuMI-like flux: mode {mode:.2f} GeV, mean {f.mean:.2f} GeV, >10 GeV {np.mean(s > 10):.3f}, "
          f"phi(10)/phi(3) {r10:.4f}, phi(20)/phi(3) {r20:.5f}")
    assert 0.7 < r10 / 0.036 < 1.3 and 0.7 < r20 / 0.0062 < 1.3
    assert F.numi_le(-14).mean < f.mean  # the antineutrino tail is weaker
    with pytest.raises(InputError):
        F.numi_le(12)


def test_flux_pdf_and_monoenergetic():
    f = F.from_histogram([0.0, 1.0, 3.0], [2.0, 1.0])  # per GeV: contents 2 and 2
    assert np.allclose(f.pdf(np.array([0.5, 2.0, 5.0])), [0.5, 0.25, 0.0])
    assert f.mean == pytest.approx(1.25)
    m = F.monoenergetic(2.5)
    assert m.is_monoenergetic and m.mean == 2.5
    assert np.all(m.sample(10, np.random.default_rng(0)) == 2.5)
    with pytest.raises(InputError):
        F.monoenergetic(-1.0)


def test_flux_files(tmp_path):
    (tmp_path / "three.csv").write_text("# E_low, E_high, flux\n0,1,1.0\n1,2,3.0\n2,4,0.5\n")
    f3 = F.from_file(tmp_path / "three.csv")
    assert np.allclose(f3.edges, [0, 1, 2, 4]) and np.allclose(f3.content, [1.0, 3.0, 1.0])
    (tmp_path / "two.txt").write_text("E value\n0.5 1\n1.5 3\n2.5 1\n")
    f2 = F.from_file(tmp_path / "two.txt")
    assert np.allclose(f2.edges, [0, 1, 2, 3]) and f2.mean == pytest.approx(1.5)
    np.savez(tmp_path / "h.npz", edges=np.array([0.0, 1.0, 2.0]), values=np.array([1.0, 1.0]))
    assert F.from_file(tmp_path / "h.npz").mean == pytest.approx(1.0)
    uproot = pytest.importorskip("uproot")
    with uproot.recreate(tmp_path / "flux.root") as out:
        out["numu"] = (np.array([1.0, 4.0, 2.0]), np.array([0.0, 1.0, 2.0, 3.0]))
    fr = F.from_file(tmp_path / "flux.root")
    assert np.allclose(fr.content, [1, 4, 2]) and fr.name == "numu"
    assert np.allclose(F.from_file(tmp_path / "flux.root", "numu").content, fr.content)


@pytest.mark.parametrize("text, message", [
    ("0,1,1\n1,2,-3\n", "negative"),
    ("0,1,1\n2,3,1\n", "contiguous"),
    ("0,1,0\n1,2,0\n", "empty"),
    ("1,0,1\n", "E_high"),
    ("# nothing\n", "no data"),
    ("0,1\n1,2,3\n", "2 .* or 3"),
])
def test_bad_flux_files(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        F.from_file(path)


def test_bad_histograms():
    with pytest.raises(InputError, match="sorted"):
        F.from_histogram([0.0, 2.0, 1.0], [1.0, 1.0])
    with pytest.raises(InputError, match="negative"):
        F.from_histogram([0.0, 1.0], [-1.0])
    with pytest.raises(InputError, match="empty"):
        F.from_histogram([0.0, 1.0], [0.0])
    with pytest.raises(InputError, match="not found"):
        F.from_file("/nonexistent/flux.csv")
    with pytest.raises(InputError):
        F.get_flux("no-such-flux")


def test_energy_sampling_is_flux_times_rate():
    # pieces with Φ flat and R linear: the sampled mean must equal ∫ E Φ R / ∫ Φ R (exact integral)
    f = F.from_histogram([0.5, 2.0, 6.0], [1.0, 0.3])
    grid = np.array([0.5, 1.0, 3.0, 6.0])
    rate = np.array([0.0, 1.0, 2.0, 8.0])
    pieces = _Pieces.build(f, grid, rate)
    e = np.linspace(0.5, 6.0, 200_001)
    w = f.pdf(e) * np.interp(e, grid, rate)
    expect = np.sum(e * w) / np.sum(w)
    s = pieces.sample(200_000, np.random.default_rng(1), with_rate=True)
    assert abs(s.mean() - expect) < 4 * s.std() / np.sqrt(len(s))
    u = pieces.sample(200_000, np.random.default_rng(2), with_rate=False)  # flux only, where R > 0
    assert abs(u.mean() - f.mean) < 4 * u.std() / np.sqrt(len(u))


# --------------------------------------------------------------------------- generator


def test_every_channel_appears_and_energy_follows_flux_times_sigma(ch_events):
    cfg, inter, block = ch_events
    assert len(inter) == 400 and len(block) == 400
    for code in CHANNELS.values():
        assert np.any(inter.channel == code)
    assert inter.cc.any() and (~inter.cc).any()
    assert set(np.unique(inter.target_pdg)) == {1000060120, 2212}  # carbon and hydrogen of CH
    flux = cfg.get_flux()
    # sigma grows with E: the interacting spectrum is harder than the flux
    assert inter.e_nu.mean() > flux.mean + 1.0
    # and its mean is the flux x sigma expectation (from the table, exact integral)
    table = xsec_table(cfg)
    e = np.linspace(1e-3, flux.e_max, 100_001)
    w = flux.pdf(e) * table.rate_at(e).sum(axis=1)
    expect = np.sum(e * w) / np.sum(w)
    assert abs(inter.e_nu.mean() - expect) < 4 * inter.e_nu.std() / np.sqrt(len(inter))
    assert np.all(inter.weight == 1)
    assert np.array_equal(block.labels["e_nu"], inter.e_nu.astype(np.float32))
    prov = block.schema.provenance
    assert prov["producer"] == "hepfm.simulate.neutrino" and prov["seed"] == 5
    assert sum(prov["events_per_process"].values()) == 400
    assert prov["xsec_1e-38cm2_per_nucleon"]["total"] > 1.0


def test_antineutrinos_have_fewer_events_per_pot():
    # same flux shape and target: rate per POT = flux x sigma, so the ratio of flux-averaged cross sections
    # is the ratio of event counts; sigma(numubar) / sigma(numu) ~ 0.3-0.5 at a few GeV (PDG review, Fig. 51.2)
    shape = F.numi_le(14)
    nu = cross_section_summary(_cfg(flux=shape), energies=(3.0,))
    nubar = cross_section_summary(_cfg(flux=shape, nu_pdg=-14), energies=(3.0,))
    ratio = nubar["flux_averaged"]["total"] / nu["flux_averaged"]["total"]
    assert 0.25 < ratio < 0.6, ratio
    cc = lambda s: s["flux_averaged"]["qe_cc"] + s["flux_averaged"]["res_cc"] + s["flux_averaged"]["dis_cc"]  # noqa: E731
    assert 0.25 < cc(nubar) / cc(nu) < 0.6


def test_argon_has_more_fsi_than_carbon():
    # same 3 GeV beam on C and Ar: the cascade removes more primary pions and knocks out more nucleons in Ar
    out = {}
    for target in ("C", "Ar"):
        cfg = _cfg(target=target, energy=3.0, physics=NeutrinoPhysics(channels=("res",), include_nc=False))
        prim = generate_interactions(300, config=cfg, seed=3, stage="primary")
        fin = generate_interactions(300, config=cfg, seed=3)
        n_pi = lambda it: np.bincount(it.particle_event[np.isin(it.pdg, (211, -211, 111))], minlength=len(it))  # noqa: E731
        out[target] = (np.mean(n_pi(fin) < n_pi(prim)), len(fin.pdg) / len(prim.pdg))
    assert out["Ar"][0] > out["C"][0] + 0.03, out
    assert out["Ar"][1] > out["C"][1], out


def test_reproducible_and_sharded():
    cfg = _cfg()
    a = generate_neutrino(90, config=cfg, seed=11, n_shards=3)
    b = generate_neutrino(90, config=cfg, seed=11, n_shards=3)
    assert np.array_equal(a.features, b.features) and np.array_equal(a.labels["e_nu"], b.labels["e_nu"])
    c = generate_neutrino(90, config=cfg, seed=12, n_shards=3)
    assert not np.array_equal(a.labels["e_nu"], c.labels["e_nu"])
    # shard 1 made alone equals shard 1 of the full run (events 30..59)
    one = generate_neutrino(90, config=cfg, seed=11, n_shards=3, shard=1)
    full = a.select(np.arange(30, 60))
    assert np.array_equal(one.labels["e_nu"], full.labels["e_nu"])
    assert np.array_equal(one.features, full.features) and np.array_equal(one.offsets, full.offsets)
    truth = generate_interactions(90, config=cfg, seed=11, n_shards=3, shard=1)
    assert np.array_equal(truth.e_nu.astype(np.float32), one.labels["e_nu"])


def test_weighted_generation_is_consistent():
    # weighted events (E from the flux, w = sigma(E)/<sigma>) reproduce the unweighted E spectrum
    cfg = _cfg(physics=NeutrinoPhysics(channels=("qe", "res")))
    unw = generate_interactions(1500, config=cfg, seed=21, stage="primary")
    wcfg = _cfg(physics=NeutrinoPhysics(channels=("qe", "res")), weighted=True)
    wtd = generate_interactions(1500, config=wcfg, seed=22, stage="primary")
    assert abs(wtd.weight.mean() - 1.0) < 0.1
    assert not np.allclose(wtd.weight, 1.0)
    m_w = np.sum(wtd.weight * wtd.e_nu) / wtd.weight.sum()
    err = np.hypot(unw.e_nu.std() / np.sqrt(len(unw)), np.sqrt(np.sum(wtd.weight**2)) / wtd.weight.sum() * wtd.e_nu.std())
    assert abs(m_w - unw.e_nu.mean()) < 4 * err
    block = generate_neutrino(50, config=wcfg, seed=22)
    assert "weight" in block.labels and block.schema.label("weight").kind == "regression"


def test_cross_section_table():
    cfg = _cfg()
    s = cross_section_summary(cfg)
    assert set(s["flux_averaged"]) == {"qe_cc", "qe_nc", "res_cc", "res_nc", "dis_cc", "dis_nc", "total"}
    parts = [v for k, v in s["flux_averaged"].items() if k != "total"]
    assert s["flux_averaged"]["total"] == pytest.approx(sum(parts))
    assert sum(s["event_fraction"].values()) == pytest.approx(1.0)
    i10 = s["energies_gev"].index(10.0)
    cc10 = sum(s["at_energy"][k][i10] for k in ("qe_cc", "res_cc", "dis_cc"))
    # inclusive numu CC on an isoscalar-ish target: sigma/E = 0.68e-38 cm^2/GeV at high energy (PDG
    # review "Neutrino cross-section measurements", Fig. 51.1); CH has 7/13 protons, hence the wide band
    assert 0.55 < cc10 / 10.0 < 0.85, cc10
    text = format_cross_sections(s)
    assert "total" in text and "qe_cc" in text


def test_physics_overrides():
    phys = load_physics(overrides=["qe.m_a=1.2", "fsi.scale_pi_abs=0.5", "include_nc=false", "k_fermi=0.23"])
    assert phys.qe.m_a == 1.2 and phys.fsi.scale_pi_abs == 0.5 and not phys.include_nc and phys.k_fermi == 0.23
    cfg = _cfg(physics=phys)
    assert cfg.get_target().components[0][0].k_fermi == 0.23
    with pytest.raises(InputError, match="unknown key"):
        load_physics(overrides=["qe.no_such_parameter=1"])
    with pytest.raises(InputError):
        NeutrinoPhysics(channels=("qe", "coherent"))
    with pytest.raises(InputError):
        NeutrinoConfig(nu_pdg=12)
    with pytest.raises(InputError):
        NeutrinoConfig(target="unobtainium")


def test_write_shards_and_resume(tmp_path):
    from hepfm.data.io import read_all

    job = plan_neutrino(60, config=_cfg(), seed=4, n_shards=2)
    paths = write_neutrino(tmp_path / "nu", job)
    assert sorted(p.name for p in paths) == ["part-00000.h5", "part-00001.h5"]
    block = read_all(tmp_path / "nu")
    assert len(block) == 60
    prov = block.schema.provenance
    assert prov["config"]["target"] == "CH" and "shard_seeds" in prov
    assert write_neutrino(tmp_path / "nu", job) == []  # both shards exist: nothing to redo
