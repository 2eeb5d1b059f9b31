"""Hadronisation of the DIS hadronic system: AGKY/KNO at low W, Pythia 8 string fragmentation above.

Everything here works in the hadronic rest frame with z along the momentum transfer q; the
caller rotates and boosts to the lab.

Low W (AGKY, T. Yang, C. Andreopoulos, H. Gallagher, K. Hofmann, P. Kehayias, Eur. Phys. J. C63
(2009) 1; parameters from GENIE's AGKYLowW2019.xml): ⟨n_ch⟩ = a + b ln W², ⟨n⟩ = 1.5 ⟨n_ch⟩, the
total multiplicity from KNO scaling ⟨n⟩P(n) = f(n/⟨n⟩) with the Levy function
f(z) = 2 e^-c c^(cz+1)/Γ(cz+1), n < 2 forced to 2; a nucleon chosen with GENIE/NeuGEN's charge
probabilities, π± to balance the charge, then π⁰ or π⁰π⁰ / π⁺π⁻ pairs (1 : 2); the nucleon's
x_F and p_T² from the AGKY parametrisations, the other hadrons by N-body phase space
(Raubold–Lynch / GENBOD, F. James CERN 68-15, with rejection on the phase-space weight).

High W: the struck quark and the target remnant (a diquark, or — for a struck sea (anti)quark —
the sea partner plus a spectator nucleon) as colour-singlet strings fragmented by Pythia 8. Many
systems go into one Pythia event record (each colour singlet fragments independently); systems
light enough to need Pythia's mini-string treatment (which may borrow recoil from other
particles) are fragmented one per event, with the spectator nucleon present as recoiler.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from hepfm.errors import InputError
from hepfm.simulate.neutrino import kinematics as kin
from hepfm.simulate.neutrino.constants import M_NEUTRON, M_PI0, M_PI_CHARGED, M_PROTON, NEUTRON, PROTON

_PYTHIA_BASE = ("ProcessLevel:all = off", "Print:quiet = on", "Next:numberCount = 0", "111:mayDecay = off",
                "ParticleDecays:limitTau0 = on")
_CHUNK = 1000  # string systems per Pythia event record
_SAFE_MARGIN = 0.05  # GeV above m1 + m2 + mStringMin: ordinary string fragmentation, no recoil borrowed
_TRIES = 20  # Pythia attempts for a lone low-mass system before it goes to the AGKY model
_STRING_EXCESS = 0.3  # GeV; sea strings must be this much heavier than their two ends


@dataclass(frozen=True)
class AGKYParams:
    """AGKY low-W parameters (EPJ C63 (2009) 1, GENIE AGKYLowW2019.xml); vp = ν p, vbn = ν̄ n, …"""

    alpha_vp: float = 0.40
    alpha_vn: float = -0.20
    alpha_vbp: float = 0.02
    alpha_vbn: float = 0.80
    beta_vp: float = 1.42
    beta_vn: float = 1.42
    beta_vbp: float = 1.28
    beta_vbn: float = 0.95
    levy_c_vp: float = 7.93
    levy_c_vn: float = 5.22
    levy_c_vbp: float = 5.22
    levy_c_vbn: float = 7.93
    pi0_pair_fraction: float = 1.0 / 3.0  # P(π0π0)/(P(π0π0)+P(π+π-)), GENIE 0.3133 : 0.6267 (kaon pairs dropped)
    baryon_xf_pt2: bool = True  # nucleon x_F, p_T² from the AGKY fits (else pure phase space)

    def __post_init__(self) -> None:
        if not (0.0 <= self.pi0_pair_fraction <= 1.0) or min(
                self.beta_vp, self.beta_vn, self.beta_vbp, self.beta_vbn, self.levy_c_vp, self.levy_c_vn,
                self.levy_c_vbp, self.levy_c_vbn) <= 0:
            raise InputError("AGKYParams", "KNO slopes, Levy c must be > 0 and pi0_pair_fraction in [0, 1]")

    def coefficients(self, nu_pdg: int, nucleon_pdg: int) -> tuple[float, float, float]:
        """(a, b, c) for ⟨n_ch⟩ = a + b ln W² and the Levy c of this probe/nucleon pair."""
        key = ("v" if nu_pdg > 0 else "vb") + ("p" if nucleon_pdg == PROTON else "n")
        return getattr(self, f"alpha_{key}"), getattr(self, f"beta_{key}"), getattr(self, f"levy_c_{key}")


def mean_charged_multiplicity(w: np.ndarray, nu_pdg: int, nucleon_pdg: int, p: AGKYParams) -> np.ndarray:
    """AGKY ⟨n_ch⟩ = a + b ln W²."""
    a, b, _ = p.coefficients(nu_pdg, nucleon_pdg)
    return a + b * np.log(np.asarray(w) ** 2)


# ----------------------------------------------------------------------------- phase space


def _first(cand: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Events with an accepted candidate and the row of their first one (``cand`` sorted by event)."""
    ev, first = np.unique(cand[ok], return_index=True)
    return ev, np.flatnonzero(ok)[first]


def _copies(todo: np.ndarray, eff: float) -> np.ndarray:
    """Candidate rows for an accept-reject round: ~2/eff per pending event, at most ~2e5 rows."""
    k = int(np.clip(2.0 / max(eff, 1e-3), 1, max(1, 200_000 // max(todo.size, 1))))
    return np.repeat(todo, k)


def phase_space(masses: np.ndarray, m_tot: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Unweighted N-body phase space in the rest frame: four-momenta [n, k, 4] (k >= 2, Σm < M).

    Raubold–Lynch (F. James, CERN 68-15): Φ_k ∝ Π q_i dM_1…dM_(k-2) over the intermediate masses
    M_i = M_(i-1) + m_i + g_i. The kinetic gaps g_i (Σ g_i = M - Σm) are proposed from a
    Dirichlet(3/2) distribution, ∝ Π √g_i (exact in the non-relativistic limit), and accepted with
    probability Π q_i / √g_i / Π √(2 m_i + T), a strict bound since q_i <= √(g_i (2 m_i + g_i)).
    Then sequential isotropic two-body splittings, each boosted into its parent frame.
    """
    n, k = masses.shape
    out = np.empty((n, k, 4))
    cm = np.cumsum(masses, axis=1)
    t_kin = m_tot - cm[:, -1]
    wmax = np.prod(np.sqrt(2 * masses[:, 1:] + t_kin[:, None]), axis=1)
    todo, eff = np.arange(n), 0.5
    while todo.size:
        cand = _copies(todo, eff)
        g = rng.gamma(1.5, size=(cand.size, k - 1))
        g *= (t_kin[cand] / g.sum(axis=1))[:, None]
        inv = cm[cand] + np.concatenate([np.zeros((cand.size, 1)), np.cumsum(g, axis=1)], axis=1)
        pd = kin.two_body_momentum(inv[:, 1:], inv[:, :-1], masses[cand, 1:])
        ok = rng.random(cand.size) * wmax[cand] <= np.prod(pd / np.sqrt(np.maximum(g, 1e-300)), axis=1)
        eff = max(ok.mean(), 1e-3)
        idx, j = _first(cand, ok)
        inv, pd, m = inv[j], pd[j], masses[idx]
        u = kin.random_directions(len(idx), rng)
        p = np.empty((len(idx), k, 4))
        p[:, 0] = kin.four_vector(pd[:, 0:1] * u, m[:, 0])
        p[:, 1] = kin.four_vector(-pd[:, 0:1] * u, m[:, 1])
        for i in range(2, k):
            u = kin.random_directions(len(idx), rng)
            beta = (pd[:, i - 1] / np.sqrt(pd[:, i - 1] ** 2 + inv[:, i - 1] ** 2))[:, None] * u
            p[:, :i] = kin.boost(p[:, :i], beta[:, None, :])
            p[:, i] = kin.four_vector(-pd[:, i - 1:i] * u, m[:, i])
        out[idx] = p
        todo = np.setdiff1d(todo, idx, assume_unique=True)
    return out


def _lgamma(x: np.ndarray) -> np.ndarray:
    """ln Γ(x) for x > 0 (Stirling series after shifting the argument by 6; error < 1e-10)."""
    z = x + 6.0
    shift = np.log(x * (x + 1) * (x + 2) * (x + 3) * (x + 4) * (x + 5))
    series = 1 / (12 * z) - 1 / (360 * z**3) + 1 / (1260 * z**5)
    return (z - 0.5) * np.log(z) - z + 0.5 * math.log(2 * math.pi) + series - shift


def _kno_multiplicity(avn: np.ndarray, n_max: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    """Total multiplicity from ⟨n⟩P(n) = 2e^-c c^(cz+1)/Γ(cz+1), z = n/⟨n⟩, n = 0..n_max, forced >= 2."""
    n = np.arange(19.0)
    x = c * n[None, :] / avn[:, None] + 1.0
    lg = _lgamma(x)
    prob = np.exp(-c + x * np.log(c) - lg) / avn[:, None]
    prob = np.where(n[None, :] <= n_max[:, None], prob, 0.0)
    cdf = np.cumsum(prob, axis=1)
    pick = (rng.random(len(avn)) * cdf[:, -1])[:, None] > cdf
    return np.maximum(pick.sum(axis=1), 2)


def agky_hadronize(w: np.ndarray, charge: np.ndarray, nu_pdg: int, nucleon_pdg: int, p: AGKYParams,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AGKY hadrons of systems of mass ``w`` and charge ``charge`` (-1..2), rest frame, z along q.

    Returns ``pdg`` [M], ``p4`` [M, 4], ``event`` [M] (index into ``w``).
    """
    n_ev = len(w)
    a, b, c = p.coefficients(nu_pdg, nucleon_pdg)
    avn = np.maximum(1.5 * (a + b * np.log(w**2)), 0.5)
    n_max = np.clip(np.floor((w - M_NEUTRON) / M_PI_CHARGED).astype(int) + 1, 2, 18)
    counts = np.zeros((n_ev, 4), dtype=np.int64)  # baryon is proton?, n(π+), n(π-), n(π0)
    todo = np.arange(n_ev)
    while todo.size:
        q, mult = charge[todo], _kno_multiplicity(avn[todo], n_max[todo], c, rng)
        x = rng.random(todo.size)
        two = mult == 2
        p_prob = np.select([q == 2, q == 1, q == 0], [np.where(two, 1.0, 2 / 3), np.where(two, 1 / 3, 0.5),
                                                       np.where(two, 2 / 3, 0.5)], np.where(two, 0.0, 1 / 3))
        is_p = (x < p_prob).astype(np.int64)
        qr = q - is_p
        rem = np.maximum(mult - 1 - np.abs(qr), 0)
        pairs = rem // 2
        charged_pairs = rng.binomial(pairs, 1.0 - p.pi0_pair_fraction)
        cnt = np.stack([is_p, np.maximum(qr, 0) + charged_pairs, np.maximum(-qr, 0) + charged_pairs,
                        rem % 2 + 2 * (pairs - charged_pairs)], axis=1)
        msum = np.where(is_p == 1, M_PROTON, M_NEUTRON) + (cnt[:, 1] + cnt[:, 2]) * M_PI_CHARGED + cnt[:, 3] * M_PI0
        ok = msum < w[todo] - 1e-9
        counts[todo[ok]] = cnt[ok]
        todo = todo[~ok]
    n_had = 1 + counts[:, 1:].sum(axis=1)
    pdg_out, p4_out, ev_out = [], [], []
    for k in np.unique(n_had):
        idx = np.flatnonzero(n_had == k)
        cnt = counts[idx]
        slot = np.arange(k)[None, :]
        c1, c2 = 1 + cnt[:, 1:2], 1 + cnt[:, 1:2] + cnt[:, 2:3]
        pdg = np.where(slot == 0, np.where(cnt[:, :1] == 1, PROTON, NEUTRON),
                       np.where(slot < c1, 211, np.where(slot < c2, -211, 111)))
        masses = np.select([pdg == PROTON, pdg == NEUTRON, pdg == 111], [M_PROTON, M_NEUTRON, M_PI0], M_PI_CHARGED)
        p4 = _agky_kinematics(masses, w[idx], p.baryon_xf_pt2, rng)
        pdg_out.append(pdg.ravel())
        p4_out.append(p4.reshape(-1, 4))
        ev_out.append(np.repeat(idx, k))
    return np.concatenate(pdg_out).astype(np.int32), np.concatenate(p4_out), np.concatenate(ev_out)


def _agky_kinematics(masses: np.ndarray, w: np.ndarray, baryon_fit: bool, rng: np.random.Generator) -> np.ndarray:
    """Momenta [n, k, 4]: the baryon (column 0) from the AGKY x_F / p_T² fits, the rest by phase space."""
    n, k = masses.shape
    if k == 2 or not baryon_fit:
        return phase_space(masses, w, rng)
    out = np.empty((n, k, 4))
    rest_sum = masses[:, 1:].sum(axis=1)
    todo, eff = np.arange(n), 0.5
    while todo.size:
        cand = _copies(todo, eff)
        m = cand.size
        xf = rng.normal(-0.385, math.sqrt(0.131), m)  # GENIE KNOHadronization: ∝ exp(-(x_F+0.385)²/(2·0.131))
        pt2 = -np.log1p(-rng.random(m) * (1.0 - math.exp(-6.625 * 0.6))) / 6.625  # ∝ exp(-6.625 p_T²), p_T² < 0.6
        phi = rng.uniform(0.0, 2 * np.pi, m)
        pt = np.sqrt(pt2)
        p3 = np.stack([pt * np.cos(phi), pt * np.sin(phi), xf * w[cand] / 2], axis=1)
        bar = kin.four_vector(p3, masses[cand, 0])
        rest = np.concatenate([-p3, (w[cand] - bar[:, 3])[:, None]], axis=1)
        ok = (xf >= -1.0) & (xf <= 0.5) & (rest[:, 3] > 0) & (kin.mass(rest) > rest_sum[cand] + 1e-9)
        eff = max(ok.mean(), 1e-3)
        idx, j = _first(cand, ok)
        out[idx, 0] = bar[j]
        sub = phase_space(masses[idx, 1:], kin.mass(rest[j]), rng)
        out[idx, 1:] = kin.boost(sub, (rest[j, :3] / rest[j, 3:4])[:, None, :])
        todo = np.setdiff1d(todo, idx, assume_unique=True)
    return out


# ----------------------------------------------------------------------------- strings for Pythia


def _has_colour(pid: np.ndarray) -> np.ndarray:
    """True for colour-triplet ends (quarks, antidiquarks); False for antiquarks and diquarks."""
    return ((pid > 0) & (pid < 10)) | (pid < -1000)


@lru_cache(maxsize=4)
def _fragmenter(settings: tuple[str, ...]) -> "_Pythia":
    return _Pythia(settings)


class _Pythia:
    """A Pythia 8 instance with only the hadron level switched on."""

    def __init__(self, settings: tuple[str, ...]) -> None:
        import pythia8mc

        self.pythia = pythia8mc.Pythia("", False)
        for line in _PYTHIA_BASE + settings:
            if not self.pythia.readString(line):
                raise InputError("DISParams.pythia_settings", f"Pythia rejected {line!r}")
        if not self.pythia.init():
            raise InputError("DISParams.pythia_settings", "Pythia initialisation failed")
        self.m_string_min = self.pythia.parm("HadronLevel:mStringMin")
        self._m0: dict[int, float] = {}

    def mass(self, ids: np.ndarray) -> np.ndarray:
        """Pythia's nominal masses m0 (constituent masses for quarks and diquarks)."""
        uniq, inv = np.unique(ids, return_inverse=True)
        for i in uniq.tolist():
            if i not in self._m0:
                self._m0[i] = float(self.pythia.particleData.m0(i))
        return np.array([self._m0[i] for i in uniq.tolist()])[inv].reshape(np.shape(ids))

    def fragment(self, ids: np.ndarray, p4: np.ndarray, spectator: np.ndarray, spec_p4: np.ndarray,
                 seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Fragment strings ``ids`` [n, 2] / ``p4`` [n, 2, 4] (spectator hadron pdg [n], 0 = none).

        Returns final-state ``pdg``, ``p4``, system index, and a bool [n] mask of systems that
        failed (to be handed to another model). Spectators are included in the output.
        """
        self.pythia.rndm.init(int(seed))
        n = len(ids)
        m = kin.mass(p4)
        safe = kin.mass(p4.sum(axis=1)) > m.sum(axis=1) + self.m_string_min + _SAFE_MARGIN
        parts, failed = [], np.zeros(n, dtype=bool)
        lone = list(np.flatnonzero(~safe))
        for start in range(0, int(safe.sum()), _CHUNK):
            sel = np.flatnonzero(safe)[start:start + _CHUNK]
            got = self._batch(ids[sel], p4[sel])
            if got is None:
                lone.extend(sel.tolist())
                continue
            pdg, mom, sys = got
            expect = p4[sel].sum(axis=1)
            sums = np.zeros((len(sel), 4))
            np.add.at(sums, sys, mom)
            bad = np.abs(sums - expect).max(axis=1) > 1e-7 * (1.0 + expect[:, 3])
            keep = ~bad[sys]
            parts.append((pdg[keep], mom[keep], sel[sys[keep]]))
            lone.extend(sel[bad].tolist())
            has = spectator[sel] != 0
            good = sel[~bad & has]
            parts.append((spectator[good], spec_p4[good], good))
        for i in lone:
            got = self._single(ids[i], p4[i], int(spectator[i]), spec_p4[i])
            if got is None:
                failed[i] = True
            else:
                parts.append((got[0], got[1], np.full(len(got[0]), i)))
        if not parts:
            return np.zeros(0, np.int32), np.zeros((0, 4)), np.zeros(0, np.int64), failed
        return (np.concatenate([a for a, _, _ in parts]).astype(np.int32), np.concatenate([b for _, b, _ in parts]),
                np.concatenate([c for _, _, c in parts]).astype(np.int64), failed)

    def _append_strings(self, ids: np.ndarray, p4: np.ndarray, first_tag: int) -> None:
        col = _has_colour(ids)
        app = self.pythia.event.append
        for j, (row_id, row_p, row_c) in enumerate(zip(ids.tolist(), p4.tolist(), col.tolist())):
            tag = first_tag + j
            for pid, (px, py, pz, e), c in zip(row_id, row_p, row_c):
                m = math.sqrt(max(e * e - px * px - py * py - pz * pz, 0.0))
                app(pid, 23, tag if c else 0, 0 if c else tag, px, py, pz, e, m)

    def _batch(self, ids: np.ndarray, p4: np.ndarray):
        import awkward as ak

        ev = self.pythia.event
        ev.reset()
        self._append_strings(ids, p4, 101)
        batch = self.pythia.nextBatch(1)
        if len(batch) == 0:
            return None
        prt = batch.prt[0]
        status, mother = ak.to_numpy(prt.status), ak.to_numpy(prt.mother1).astype(np.int64)
        mom = np.stack([ak.to_numpy(prt.p[c]) for c in ("px", "py", "pz", "e")], axis=1)
        n_part = 2 * len(ids)
        owner = mother.copy()
        owner[: n_part + 1] = np.arange(n_part + 1)
        for _ in range(64):  # pointer jumping to the parton each particle descends from
            nxt = owner[owner]
            if np.array_equal(nxt, owner):
                break
            owner = nxt
        fin = status > 0
        sys = (owner[fin] - 1) // 2
        if np.any(owner[fin] < 1) or np.any(owner[fin] > n_part):
            return None
        return ak.to_numpy(prt.id)[fin], mom[fin], sys

    def _single(self, ids: np.ndarray, p4: np.ndarray, spectator: int, spec_p4: np.ndarray):
        ev = self.pythia.event
        for _ in range(_TRIES):
            ev.reset()
            self._append_strings(ids[None], p4[None], 101)
            if spectator:
                px, py, pz, e = spec_p4.tolist()
                ev.append(spectator, 1, 0, 0, px, py, pz, e, math.sqrt(max(e * e - px * px - py * py - pz * pz, 0.0)))
            if self.pythia.next():
                fin = [(q.id(), q.px(), q.py(), q.pz(), q.e()) for q in ev.particles() if q.isFinal()]
                arr = np.array(fin, dtype=np.float64)
                return arr[:, 0].astype(np.int32), arr[:, 1:]
        return None


def diquark_remnant(nucleon_pdg: np.ndarray, struck: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Diquark left when valence ``struck`` (1 = d, 2 = u) leaves the nucleon; ud is spin 0 : 1 = 3 : 1 (SU(6))."""
    ud = np.where(rng.random(len(struck)) < 0.75, 2101, 2103)
    is_p = nucleon_pdg == PROTON
    return np.where(is_p, np.where(struck == 2, ud, 2203), np.where(struck == 1, ud, 1103))


def _fudged_pair(charge: np.ndarray, out: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """GENIE-style quark + diquark with the right total charge (for systems too light for a spectator)."""
    e_out = np.where(np.abs(out) % 2 == 0, 2.0, -1.0) / 3.0 * np.sign(out)
    lead = np.where(out > 0, out, np.where(charge >= 0, 2, 1))
    e_lead = np.where(out > 0, e_out, np.where(charge >= 0, 2 / 3, -1 / 3))
    dq_charge = np.rint(3 * (charge - e_lead)).astype(int)  # 4 = uu, 1 = ud, -2 = dd
    ud = np.where(rng.random(len(out)) < 0.75, 2101, 2103)
    dq = np.select([dq_charge == 4, dq_charge == 1], [2203, ud], 1103)
    return lead, dq


def _back_to_back(w: np.ndarray, m1: np.ndarray, m2: np.ndarray) -> np.ndarray:
    """Two partons [n, 2, 4] of masses m1 (along +z) and m2 (along -z) at rest-frame mass W."""
    pz = kin.two_body_momentum(w, m1, m2)
    p4 = np.zeros((len(w), 2, 4))
    p4[:, 0, 2], p4[:, 0, 3] = pz, np.sqrt(pz**2 + m1**2)
    p4[:, 1, 2], p4[:, 1, 3] = -pz, np.sqrt(pz**2 + m2**2)
    return p4


def _sea_remnant(w, m1, m2, m_nuc, rng, tries: int = 8):
    """Struck parton (+z), sea partner and spectator nucleon sharing the remnant's light-cone momentum.

    R = nucleon + partner, M_R² = M²/(1-ζ) + m²/ζ with the partner's share ζ uniform over the range
    where M_R <= W - m1 (roots of R²ζ² + (M² - m² - R²)ζ + m² = 0); ζ is redrawn (``tries`` times)
    until the string (struck parton + partner) is at least m1 + m2 + _STRING_EXCESS heavy.
    Returns ok [n], string partons [n, 2, 4], spectator [n, 4].
    """
    n = len(w)
    rr, mm, mq = (w - m1 - 0.01) ** 2, m_nuc**2, m2**2
    bq = rr + mq - mm
    disc = np.sqrt(np.maximum(bq**2 - 4 * rr * mq, 0.0))
    ok = np.zeros(n, dtype=bool)
    p4, spec = np.zeros((n, 2, 4)), np.zeros((n, 4))
    for _ in range(tries):
        todo = np.flatnonzero(~ok & (w - m1 > m_nuc + m2 + 0.02))
        if todo.size == 0:
            break
        zeta = (bq[todo] - disc[todo] + rng.random(todo.size) * 2 * disc[todo]) / (2 * rr[todo])
        zeta = np.clip(zeta, 1e-6, 1 - 1e-6)
        m_r = np.sqrt(mm[todo] / (1 - zeta) + mq[todo] / zeta)
        pr = _back_to_back(w[todo], m1[todo], m_r)
        minus = pr[:, 1, 3] - pr[:, 1, 2]  # light-cone momentum of R along -z
        p_minus, n_minus = zeta * minus, (1 - zeta) * minus
        p_plus, n_plus = mq[todo] / p_minus, mm[todo] / n_minus
        pr[:, 1, 2], pr[:, 1, 3] = 0.5 * (p_plus - p_minus), 0.5 * (p_plus + p_minus)
        heavy = kin.mass(pr.sum(axis=1)) >= m1[todo] + m2[todo] + _STRING_EXCESS
        sel = todo[heavy]
        p4[sel] = pr[heavy]
        spec[sel, 2], spec[sel, 3] = 0.5 * (n_plus - n_minus)[heavy], 0.5 * (n_plus + n_minus)[heavy]
        ok[sel] = True
    return ok, p4, spec


def string_systems(w: np.ndarray, charge: np.ndarray, nucleon_pdg: np.ndarray, struck: np.ndarray,
                   out: np.ndarray, valence: np.ndarray, masses, rng: np.random.Generator, fudge_all: bool = False):
    """Strings [n, 2] (ids) with four-momenta [n, 2, 4] in the hadronic rest frame, struck parton along +z.

    Valence: outgoing quark + remnant diquark, back to back. Sea: the outgoing parton and the sea
    partner (see :func:`_sea_remnant`) with the nucleon as spectator hadron. Sea systems too light
    for that, and all systems if ``fudge_all``, use GENIE's quark + diquark of the right charge
    (:func:`_fudged_pair`). Returns ids, p4, spectator pdg (0 = none), spectator p4.
    """
    n = len(w)
    m_nuc = np.where(nucleon_pdg == PROTON, M_PROTON, M_NEUTRON)
    ids = np.stack([out, np.where(valence, diquark_remnant(nucleon_pdg, np.abs(struck), rng), -struck)], axis=1)
    m = masses(ids)
    p4 = _back_to_back(w, m[:, 0], m[:, 1])
    spec_p4, sea = np.zeros((n, 4)), np.zeros(n, dtype=bool)
    if not fudge_all and np.any(~valence):
        rows = np.flatnonzero(~valence)
        ok, sp4, sspec = _sea_remnant(w[rows], m[rows, 0], m[rows, 1], m_nuc[rows], rng)
        sea[rows[ok]] = True
        p4[rows[ok]], spec_p4[rows[ok]] = sp4[ok], sspec[ok]
    fudge = np.flatnonzero(~sea if fudge_all else ~valence & ~sea)
    if fudge.size:
        ids[fudge, 0], ids[fudge, 1] = _fudged_pair(charge[fudge], out[fudge], rng)
        mf = masses(ids[fudge])
        p4[fudge] = _back_to_back(w[fudge], mf[:, 0], mf[:, 1])
    return ids, p4, np.where(sea, nucleon_pdg, 0), spec_p4


def pythia_hadronize(w, charge, nucleon_pdg, struck, out, valence, settings: tuple[str, ...],
                     rng: np.random.Generator):
    """Pythia 8 hadrons of the systems (rest frame, z along q): pdg, p4, event index, failed mask.

    Systems Pythia cannot fragment are retried once as a GENIE-style quark + diquark string; those
    still failing are flagged for the AGKY model.
    """
    frag = _fragmenter(settings)
    ids, p4, spectator, spec_p4 = string_systems(w, charge, nucleon_pdg, struck, out, valence, frag.mass, rng)
    pdg, mom, sys, failed = frag.fragment(ids, p4, spectator, spec_p4, int(rng.integers(1, 900_000_000)))
    redo = np.flatnonzero(failed)
    _STATS["pythia_systems"] = _STATS.get("pythia_systems", 0) + len(w)
    if redo.size:
        ids2, p42, spec2, sp42 = string_systems(w[redo], charge[redo], nucleon_pdg[redo], struck[redo], out[redo],
                                                valence[redo], frag.mass, rng, fudge_all=True)
        pdg2, mom2, sys2, failed2 = frag.fragment(ids2, p42, spec2, sp42, int(rng.integers(1, 900_000_000)))
        pdg, mom, sys = np.concatenate([pdg, pdg2]), np.concatenate([mom, mom2]), np.concatenate([sys, redo[sys2]])
        failed = np.zeros(len(w), dtype=bool)
        failed[redo[failed2]] = True
        _STATS["pythia_fudged"] = _STATS.get("pythia_fudged", 0) + redo.size
        _STATS["pythia_to_agky"] = _STATS.get("pythia_to_agky", 0) + int(failed2.sum())
    return pdg, mom, sys, failed


#: counters of the hadronisation paths (systems sent to Pythia, refragmented as quark + diquark, given to AGKY)
_STATS: dict[str, int] = {}
