"""hepfm.simulate.neutrino.detector / labels: energy loss, response, merging, labels, tasks, file format."""

from __future__ import annotations


import numpy as np
import pytest

from hepfm.data.io import read_all, write_events
from hepfm.data.validate import validate_file
from hepfm.errors import InputError
from hepfm.simulate.neutrino import detector as D
from hepfm.simulate.neutrino import energy_loss as E
from hepfm.simulate.neutrino import labels as L
from hepfm.simulate.neutrino.constants import MASSES, pdg_charge
from hepfm.simulate.neutrino.kinematics import four_vector, mass, random_directions
from hepfm.simulate.neutrino.record import CHANNELS, make_interactions

MU, PROTON, PION, OTHER, EM, NEUTRAL, AGG = range(7)


def p4_of(pdg: int, p3) -> np.ndarray:
    return four_vector(np.asarray(p3, dtype=float).reshape(-1, 3), MASSES[abs(pdg)])


def direction(theta: float, phi: float = 0.0) -> np.ndarray:
    return np.array([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)])


def momentum(pdg: int, t: float) -> float:
    m = MASSES[abs(pdg)]
    return float(np.sqrt(t * (t + 2 * m)))


def events(parts, n: int = 1, lepton=(13, (0.3, 0.0, 3.0)), cc: bool = True, channel: str = "res"):
    """``n`` copies of one event: ``parts`` is a list of (pdg, p3) final-state particles."""
    pdg = np.tile([p for p, _ in parts], n).astype(np.int32)
    p4 = np.tile(np.concatenate([p4_of(p, q) for p, q in parts]) if parts else np.zeros((0, 4)), (n, 1))
    return make_interactions(
        n, pdg=pdg, p4=p4, offsets=np.arange(n + 1) * len(parts), lepton_pdg=np.full(n, lepton[0]),
        lepton_p4=np.repeat(p4_of(lepton[0], lepton[1]), n, axis=0), cc=np.full(n, cc),
        channel=np.full(n, CHANNELS[channel]), e_nu=np.full(n, 5.0), q2=np.full(n, 0.5), w=np.full(n, 1.2))


def nc(parts, n: int = 1):
    return events(parts, n, lepton=(14, (0.3, 0.0, 3.0)), cc=False)


def tokens_of(block, ttype):
    """Per-event count of tokens of ``ttype`` and the rows of those tokens."""
    ev = np.repeat(np.arange(len(block)), block.num_tokens)
    rows = np.flatnonzero(block.token_type == ttype)
    return np.bincount(ev[rows], minlength=len(block)), rows


def energy(block, rows):
    return np.exp(block.features[rows, 3].astype(np.float64))


def column(block, name, rows):
    return block.extra[rows, D.EXTRA.index(name)]


def random_sample(n: int, k: int = 4, seed: int = 0, nc_fraction: float = 0.3):
    """``n`` events with a lepton and ``k`` hadrons of a realistic mix, isotropic, exponential momenta."""
    rng = np.random.default_rng(seed)
    codes = np.array([2212, 2112, 211, -211, 111, 22, 321, 3122, 310, 130, 221])
    pdg = rng.choice(codes, size=n * k, p=[.3, .24, .15, .1, .12, .02, .02, .02, .01, .01, .01])
    p3 = random_directions(n * k, rng) * rng.exponential(0.4, n * k)[:, None]
    p4 = four_vector(p3, np.array([MASSES[abs(c)] for c in pdg]))
    is_nc = rng.random(n) < nc_fraction
    lep = four_vector(random_directions(n, rng) * np.array([0.3, 0.3, 1.0]) * rng.uniform(0.5, 8, n)[:, None],
                      MASSES[13])
    return make_interactions(n, pdg=pdg, p4=p4, offsets=np.arange(n + 1) * k, lepton_pdg=np.where(is_nc, 14, 13),
                             lepton_p4=lep, cc=~is_nc, channel=rng.integers(1, 4, n), e_nu=rng.uniform(1, 10, n))


# ----------------------------------------------------------------------------- energy loss


def test_stopping_power_and_range_match_pdg_and_pstar():
    # PDG "Atomic and nuclear properties": polystyrene <-dE/dx>_min = 1.936 MeV cm^2/g
    assert E.min_ionization() / E.POLYSTYRENE.density == pytest.approx(1.936, rel=0.005)
    # NIST PSTAR CSDA ranges of protons in liquid water [g/cm^2] at 50, 100, 200 MeV
    got = E.csda_range(np.array([0.05, 0.1, 0.2]), MASSES[2212], E.WATER)
    np.testing.assert_allclose(got, [2.227, 7.718, 25.96], rtol=0.01)
    t = np.array([0.01, 0.1, 0.5, 3.0])
    for m in (MASSES[2212], MASSES[211], MASSES[13]):
        np.testing.assert_allclose(E.kinetic_from_range(E.csda_range(t, m), m), t, rtol=1e-6)
    # range scales with the mass at fixed beta*gamma (R/M is a function of beta*gamma, up to W_max)
    m_p, m_pi = MASSES[2212], MASSES[211]
    r_p, r_pi = E.csda_range(np.array([0.2 * m_p]), m_p), E.csda_range(np.array([0.2 * m_pi]), m_pi)
    assert r_p / r_pi == pytest.approx(m_p / m_pi, rel=0.01)


def test_charge_from_pdg():
    pdg = np.array([11, -11, 13, 22, 111, 211, -211, 321, -321, 311, 130, 310, 2212, -2212, 2112, 3122, 3222, 3112,
                    3312, 221, 2224, 1000060120])
    want = [-1, 1, -1, 0, 0, 1, -1, 1, -1, 0, 0, 0, 1, -1, 0, 0, 1, -1, -1, 0, 2, 6]
    np.testing.assert_array_equal(pdg_charge(pdg), want)


# ----------------------------------------------------------------------------- decays


def test_pi0_decays_isotropic_to_two_photons():
    rng = np.random.default_rng(1)
    n = 20000
    pi0 = p4_of(111, np.tile([0.2, 0.0, 1.0], (n, 1)))
    par = D._Particles(np.full(n, 111), pi0, np.arange(n), np.zeros((n, 3)), np.zeros(n))
    out = D._decay_all(par, rng)
    assert np.all(out.pdg == 22) and len(out.pdg) == 2 * n
    order = np.argsort(out.event, kind="stable")
    g = out.p4[order].reshape(n, 2, 4)
    np.testing.assert_allclose(mass(g.sum(1)), MASSES[111], atol=1e-9)
    np.testing.assert_allclose(g.sum(1), pi0, atol=1e-9)
    # isotropy in the rest frame: photon energies are uniform between E(1 -+ beta)/2, mean E/2, variance (E beta)^2/12
    e, beta = pi0[0, 3], np.linalg.norm(pi0[0, :3]) / pi0[0, 3]
    e1 = g[:, 0, 3]
    assert e1.min() >= e * (1 - beta) / 2 - 1e-9 and e1.max() <= e * (1 + beta) / 2 + 1e-9
    assert e1.mean() == pytest.approx(e / 2, rel=0.01)
    assert e1.var() == pytest.approx((e * beta) ** 2 / 12, rel=0.05)


def test_lambda_flight_and_three_body_eta():
    rng = np.random.default_rng(2)
    n = 20000
    lam = p4_of(3122, np.tile([0.0, 0.0, 1.0], (n, 1)))
    out = D._decay_all(D._Particles(np.full(n, 3122), lam, np.arange(n), np.zeros((n, 3)), np.zeros(n)), rng)
    proton = out.pdg == 2212
    # Lambda -> p pi- 64.1 %, n pi0 35.9 % (PDG 2024); flight distance beta gamma c tau, c tau = 7.89 cm
    assert proton.sum() / n == pytest.approx(0.641, abs=0.015)
    flight = np.linalg.norm(out.pos[proton], axis=1)
    assert flight.mean() == pytest.approx(1.0 / MASSES[3122] * 7.89, rel=0.04)
    eta = p4_of(221, np.tile([0.3, 0.0, 0.5], (n, 1)))
    out = D._decay_all(D._Particles(np.full(n, 221), eta, np.arange(n), np.zeros((n, 3)), np.zeros(n)), rng)
    assert set(np.unique(out.pdg)) <= {22, 211, -211}  # pi0 decayed further
    total = np.zeros((n, 4))
    np.add.at(total, out.event, out.p4)
    np.testing.assert_allclose(total, eta, atol=1e-9)


# ----------------------------------------------------------------------------- response


@pytest.fixture(scope="module")
def hand_built():
    """mu- (3 GeV) + p (T = 0.2 GeV) + pi+ (T = 0.1 GeV) + pi0 (1 GeV), 2000 detector draws."""
    parts = [(2212, momentum(2212, 0.2) * direction(0.6, 1.0)), (211, momentum(211, 0.1) * direction(0.9, 3.0)),
             (111, np.sqrt(1.0 - MASSES[111] ** 2) * direction(0.5, -1.6))]
    inter = events(parts, n=2000, lepton=(13, 3.0 * direction(0.1, 0.2)))
    return inter, D.detector_response(inter, rng=3)


def test_hand_built_event(hand_built):
    inter, b = hand_built
    b.check()
    n_mu, mu = tokens_of(b, MU)
    assert np.all(n_mu == 1)
    # MINOS by range below 5 GeV: sigma_p / p = 5 %
    p_mu = np.sqrt(energy(b, mu) ** 2 - MASSES[13] ** 2)
    assert np.mean(p_mu / 3.0) == pytest.approx(1.0, abs=0.01)
    assert np.std(p_mu / 3.0) == pytest.approx(0.05, rel=0.15)
    n_p, prow = tokens_of(b, PROTON)
    assert np.mean(n_p == 1) > 0.85
    t_p = energy(b, prow) - MASSES[2212]
    assert np.median(t_p) == pytest.approx(0.2, rel=0.03)  # stopping protons: energy from range
    assert np.median(column(b, "pid_proton", prow)) > 0.99
    n_pi, pirow = tokens_of(b, PION)
    assert np.mean(n_pi == 1) > 0.8
    assert np.median(energy(b, pirow) - MASSES[211]) == pytest.approx(0.1, rel=0.05)
    n_em, emrow = tokens_of(b, EM)
    assert np.all(n_em <= 2) and np.mean(n_em == 2) > 0.9  # opening angle >= 0.27 rad, threshold 30 MeV
    ev = np.repeat(np.arange(len(b)), b.num_tokens)
    e_em = np.bincount(ev[emrow], weights=energy(b, emrow), minlength=len(b))
    assert np.median(e_em[n_em == 2]) == pytest.approx(1.0, rel=0.03)
    # photons convert away from the vertex: mean conversion distance 9/7 X0 = 53 cm (less where they leave the tracker)
    assert 25 < np.mean(column(b, "vertex_dist", emrow)) < 55
    n_agg, agg = tokens_of(b, AGG)
    assert np.all(n_agg == 1) and np.all(agg == b.offsets[1:] - 1)  # aggregate: always one, last
    assert np.all(b.token_type[b.offsets[:-1]] == MU)  # muon first
    assert np.all(b.features[mu, 1] == 0)  # azimuths are measured from the muon
    e_avail = L.e_available(inter)
    assert e_avail[0] == pytest.approx(0.2 + 0.1 + 1.0, abs=1e-9)


def test_thresholds_drop_low_energy_protons_into_the_aggregate():
    low = D.detector_response(nc([(2212, momentum(2212, 0.08) * direction(0.3))], n=500), rng=4)
    high = D.detector_response(nc([(2212, momentum(2212, 0.12) * direction(0.3))], n=500), rng=4)
    assert not np.isin(low.token_type, (PROTON, PION, OTHER)).any()
    _, agg = tokens_of(low, AGG)
    assert np.mean(energy(low, agg)) == pytest.approx(0.08, rel=0.05)
    n_p, _ = tokens_of(high, PROTON)
    assert np.mean(n_p) > 0.85  # 97 % tracking efficiency, some lost to PID
    slow_pion = D.detector_response(nc([(211, momentum(211, 0.04) * direction(0.3))], n=300), rng=4)
    assert not np.isin(slow_pion.token_type, (PROTON, PION, OTHER)).any()  # pi+- threshold T > 50 MeV


def test_photon_and_prong_merging():
    e = 0.5
    close = [(22, e * direction(0.40)), (22, e * direction(0.45))]
    apart = [(22, e * direction(0.40)), (22, e * direction(0.80))]
    n_close = tokens_of(D.detector_response(nc(close, 300), rng=5), EM)
    n_apart = tokens_of(D.detector_response(nc(apart, 300), rng=5), EM)
    assert n_close[0].max() == 1 and np.mean(n_close[0] == 1) > 0.97
    assert np.mean(n_apart[0] == 2) > 0.93  # em_efficiency = 0.98 per photon
    b = D.detector_response(nc(close, 300), rng=5)
    assert np.median(energy(b, n_close[1])) == pytest.approx(2 * e, rel=0.03)
    p = momentum(2212, 0.2)
    two = [(2212, p * direction(0.50)), (2212, 1.3 * p * direction(0.52))]  # 0.02 rad apart: one track
    split = [(2212, p * direction(0.50)), (2212, 1.3 * p * direction(1.00))]
    prongs = lambda blk: np.bincount(np.repeat(np.arange(len(blk)), blk.num_tokens),  # noqa: E731
                                     np.isin(blk.token_type, (PROTON, PION, OTHER)), minlength=len(blk))
    merged, separate = D.detector_response(nc(two, 300), rng=6), D.detector_response(nc(split, 300), rng=6)
    assert prongs(merged).max() == 1 and np.mean(prongs(merged)) > 0.9
    assert np.mean(prongs(separate) == 2) > 0.85
    # the merged track is measured calorimetrically: T = 0.2 + 0.318 GeV within the 30 %/sqrt(E) resolution
    rows = np.flatnonzero(np.isin(merged.token_type, (PROTON, PION, OTHER)))
    t_reco = energy(merged, rows) - np.where(merged.token_type[rows] == PROTON, MASSES[2212], MASSES[211])
    assert np.median(t_reco) == pytest.approx(0.518, rel=0.15)


def test_muon_acceptance():
    inside = D.detector_response(events([], 200, lepton=(13, 3.0 * direction(0.2))), rng=7)
    wide = D.detector_response(events([], 200, lepton=(13, 3.0 * direction(0.6))), rng=7)
    slow = D.detector_response(events([], 200, lepton=(13, 1.0 * direction(0.1))), rng=7)
    assert np.all(tokens_of(inside, MU)[0] == 1)
    assert tokens_of(wide, MU)[0].sum() == 0 and tokens_of(slow, MU)[0].sum() == 0
    # a muon outside MINOS is still a track, identified as a minimum-ionising (pion-like) prong
    assert np.mean(tokens_of(wide, PION)[0]) > 0.85
    assert np.all(wide.event[:, D.EVENT.index("has_muon")] == 0)
    charge = inside.event[:, D.EVENT.index("mu_charge")]
    assert np.mean(charge == -1) > 0.98


def test_pid_and_michel_of_stopping_tracks():
    pip = D.detector_response(nc([(211, momentum(211, 0.07) * direction(0.4))], 2000), rng=8)
    pim = D.detector_response(nc([(-211, momentum(211, 0.07) * direction(0.4))], 2000), rng=8)
    n_pi, rows = tokens_of(pip, PION)
    assert np.mean(n_pi) > 0.9
    # a stopped pi+ always decays (-> mu+ -> e+): found with efficiency 0.6 (or faked at 1 %); it stops unless it
    # interacts first, probability exp(-R / lambda_pi); a stopped pi- is captured
    cfg = D.DetectorConfig()
    stops = np.exp(-E.csda_range(np.array([0.07]), MASSES[211])[0] / cfg.pion_lambda_cm)
    want = stops * (1 - (1 - cfg.michel_efficiency) * (1 - cfg.michel_fake_rate))
    assert np.mean(column(pip, "michel", rows)) == pytest.approx(want, abs=0.03)
    assert np.mean(column(pim, "michel", tokens_of(pim, PION)[1])) < 0.03
    assert np.mean(pip.event[:, D.EVENT.index("n_michel")]) == pytest.approx(want, abs=0.03)


def test_neutron_blobs_interaction_length_and_time_of_flight():
    t = 0.3
    b = D.detector_response(nc([(2112, momentum(2112, t) * direction(0.2))], 3000), rng=9)
    n_blob, rows = tokens_of(b, NEUTRAL)
    assert 0.5 < np.mean(n_blob) < 0.9
    dist, tof = column(b, "vertex_dist", rows), column(b, "time", rows)
    beta = momentum(2112, t) / (t + MASSES[2112])
    assert np.mean(tof - dist / (beta * D.C_CM_PER_NS)) == pytest.approx(0.0, abs=0.15)
    # visible energy: Beta(2, 3) fraction of T, mean 0.4
    assert np.mean(energy(b, rows)) / t == pytest.approx(0.4, rel=0.1)
    assert not np.isin(b.token_type, (MU, PROTON, PION, OTHER, EM)).any()


def test_detached_decay_products():
    b = D.detector_response(nc([(3122, [0.0, 0.3, 1.5])], 2000), rng=10)
    _, rows = tokens_of(b, PROTON)
    # flight distance beta gamma c tau = |p| / m * 7.89 cm ~ 10.8 cm (minus what leaves the detector)
    assert 6.0 < np.mean(column(b, "vertex_dist", rows)) < 12.0


def test_features_finite_sorted_and_reproducible():
    inter = random_sample(3000, seed=1)
    a = D.detector_response(inter, rng=11)
    b = D.detector_response(inter, rng=11)
    for name in ("features", "extra", "event"):
        assert np.all(np.isfinite(getattr(a, name)))
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert np.all(np.abs(a.features[:, 1]) <= np.pi + 1e-6) and np.all(np.abs(a.features[:, 0]) <= 7.7)
    assert np.all(a.token_type[a.offsets[1:] - 1] == AGG)
    assert set(np.unique(a.token_type)) == set(range(7))
    types = a.event[:, [D.EVENT.index(f"n_{t}") for t in D.TOKEN_TYPES[:AGG]]]
    np.testing.assert_array_equal(types.sum(1) + 1, a.num_tokens)
    other = D.detector_response(inter, rng=12)
    assert not np.array_equal(other.features, a.features)


# ----------------------------------------------------------------------------- labels and tasks


def test_e_available_convention():
    parts = [(2212, momentum(2212, 0.2) * direction(0.3)), (2112, momentum(2112, 0.3) * direction(0.5)),
             (211, momentum(211, 0.1) * direction(0.7)), (111, [0.0, 0.3, 0.4]), (22, [0.05, 0, 0]),
             (321, momentum(321, 0.1) * direction(1.0)), (-2212, momentum(2212, 0.05) * direction(2.0)),
             (11, [0.0, 0.0, 0.02]), (3122, [0.0, 0.0, 1.0]), (130, [0.0, 0.5, 0.0])]
    e_pi0 = np.sqrt(0.25 + MASSES[111] ** 2)
    want = 0.2 + 0.1 + e_pi0 + 0.05 + 0.1 + 0.05 + np.hypot(0.02, MASSES[11])  # n, Lambda, K0_L excluded
    assert L.e_available(events(parts))[0] == pytest.approx(want, abs=1e-9)
    assert np.isnan(L.e_available(nc(parts))[0])
    labels = L.compute_labels(nc(parts))
    assert labels["cc"][0] == 0 and np.isnan(labels["p_mu"][0]) and np.isnan(labels["theta_mu"][0])


@pytest.mark.parametrize("parts, cc, want", [
    ([2212, 211], True, (1, 0, 0)),
    ([2212, -211, 2112, 22], True, (1, 0, 0)),
    ([2212, 111], True, (0, 1, 0)),
    ([211, -211, 2212], True, (0, 0, 1)),
    ([211, 211, 111], True, (0, 0, 1)),
    ([211, 321], True, (0, 0, 0)),       # another meson
    ([211, 111], True, (0, 0, 0)),
    ([111, 221], True, (0, 0, 0)),
    ([111, 111], True, (0, 0, 0)),
    ([2212], True, (0, 0, 0)),
    ([211], False, (0, 0, 0)),           # NC is background for every task
    ([111], False, (0, 0, 0)),
])
def test_task_labels(parts, cc, want):
    inter = events([(p, [0.1, 0.0, 0.5]) for p in parts], cc=cc)
    labels = L.compute_labels(inter)
    assert (labels["cc1pi_charged"][0], labels["cc1pi0"][0], labels["ccnpi_charged"][0]) == want
    assert labels["n_pi_charged"][0] == sum(abs(p) == 211 for p in parts)
    assert labels["n_pi0"][0] == parts.count(111)
    assert labels["n_protons"][0] == parts.count(2212) and labels["n_neutrons"][0] == parts.count(2112)
    assert labels["channel"][0] == L.channel_classes().index("res")


def test_tasks_and_schema():
    schema = L.neutrino_schema({"seed": 1})
    assert schema.token_types == D.TOKEN_TYPES and schema.extra == D.EXTRA and schema.event == D.EVENT
    assert set(TASK.label for TASK in L.TASKS.values()) <= {s.name for s in schema.labels}
    for task in L.TASKS.values():
        spec = schema.label(task.label)
        assert spec.kind == task.kind and spec.classes == task.classes
        ts = task.spec()
        assert ts.name == task.label and ts.out_dim == (2 if task.kind == "class" else 1)
    assert L.TASKS["e_available"].kind == "regression"
    assert schema.from_json(schema.to_json()) == schema


def test_block_validates_and_round_trips(tmp_path):
    inter = random_sample(2000, seed=2, nc_fraction=0.0)
    block = D.detector_response(inter, rng=13)
    path = tmp_path / "nu.h5"
    write_events(path, block)
    summary = validate_file(path)
    assert summary["events"] == 2000 and summary["tokens"] == int(block.offsets[-1])
    back = read_all(path)
    np.testing.assert_array_equal(back.features, block.features)
    np.testing.assert_array_equal(back.labels["cc1pi0"], block.labels["cc1pi0"])
    assert back.schema == block.schema and back.schema.provenance["detector"]["minos_p_min"] == 1.5



def test_block_with_nc_events_validates(tmp_path):
    block = D.detector_response(random_sample(500, seed=3, nc_fraction=0.3), rng=14)
    write_events(tmp_path / "nu.h5", block)
    validate_file(tmp_path / "nu.h5")


def test_bad_input():
    with pytest.raises(InputError, match="track_efficiency"):
        D.DetectorConfig(track_efficiency=1.5)
    with pytest.raises(InputError, match="plane_pitch_cm"):
        D.DetectorConfig(plane_pitch_cm=-1.0)
    inter = events([(2212, [0.0, 0.0, 0.5])])
    inter.channel[:] = 0
    with pytest.raises(InputError, match="channel"):
        L.compute_labels(inter)
    broken = events([(2212, [0.0, 0.0, 0.5])])
    broken.offsets = np.array([0, 2])
    with pytest.raises(InputError, match="interactions"):
        D.detector_response(broken, rng=0)
