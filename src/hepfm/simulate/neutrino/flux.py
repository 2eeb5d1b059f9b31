"""Neutrino fluxes: a histogram in energy, sampled bin by bin.

A :class:`Flux` is a histogram: bin edges [GeV] and the flux integrated over each bin (any
normalisation; only the shape matters to the generator). Inside a bin the flux is flat. A
bin of zero width is a point mass, which is how :func:`monoenergetic` is made.

Built-in shape: :func:`numi_le`, a *NuMI-like* low-energy ν_μ (or ν̄_μ) spectrum. It is a
smooth parametrisation, not the official NuMI flux (see docs/neutrino/flux.md):

    Φ(E) ∝ x^k exp(−(k/m)(x^m − 1)) + b (E / 10 GeV)^(−γ) / (1 + (E_s/E)^6),   x = E/E_p

with E_p = 2.67 GeV, k = 1.35, m = 3.84, b = 0.0355, γ = 2.54, E_s = 5.19 GeV: a focusing
peak near 3 GeV that falls steeply above 4 GeV, and a power-law tail from un-focused
high-energy pions and kaons. The parameters were fitted to the shape of the MINERvA
NuMI low-energy ν_μ flux (L. Aliaga et al., PRD 94 (2016) 092005, ancillary table) between
0.5 and 50 GeV; the fit follows it within 13 % near the peak and 30 % in the tail, and the
flux is cut at 50 GeV where that table ends. The ν̄
mode uses the same peak with half the tail (pion focusing is symmetric; the kaon tail of
K⁻ is smaller).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hepfm.errors import InputError

#: parameters of the NuMI-like shape (see the module docstring)
NUMI_LE_PARAMS = {"e_peak": 2.668, "k": 1.349, "m": 3.837, "tail": 0.03547, "gamma": 2.544, "e_tail": 5.190}
#: energy range of the built-in flux [GeV]
NUMI_LE_RANGE = (0.0, 50.0)


@dataclass(frozen=True, eq=False)
class Flux:
    """A neutrino flux histogram.

    ``edges`` [n+1] are non-decreasing bin edges [GeV]; ``content`` [n] the (non-negative)
    flux integrated over each bin. Zero-width bins are point masses.
    """

    edges: np.ndarray
    content: np.ndarray
    name: str = "histogram"

    def __post_init__(self) -> None:
        edges = np.asarray(self.edges, dtype=np.float64).ravel()
        content = np.asarray(self.content, dtype=np.float64).ravel()
        where = f"flux {self.name}"
        if len(edges) < 2 or len(content) != len(edges) - 1:
            raise InputError(where, f"need n+1 edges for n bins, got {len(edges)} edges and {len(content)} values")
        if not (np.all(np.isfinite(edges)) and np.all(np.isfinite(content))):
            raise InputError(where, "edges and values must be finite numbers")
        if edges[0] < 0:
            raise InputError(where, f"energies must be non-negative, got {edges[0]}")
        if np.any(np.diff(edges) < 0):
            i = int(np.flatnonzero(np.diff(edges) < 0)[0])
            raise InputError(where, f"bin edges are not sorted (edge {i + 1}: {edges[i + 1]} < {edges[i]})")
        if np.any(content < 0):
            i = int(np.flatnonzero(content < 0)[0])
            raise InputError(where, f"negative flux value {content[i]} in bin {i}")
        if content.sum() <= 0:
            raise InputError(where, "the flux is empty (all values are zero)")
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "content", content)

    @property
    def total(self) -> float:
        """Integrated flux (in the units of ``content``)."""
        return float(self.content.sum())

    @property
    def e_min(self) -> float:
        return float(self.edges[np.flatnonzero(self.content > 0)[0]])

    @property
    def e_max(self) -> float:
        return float(self.edges[np.flatnonzero(self.content > 0)[-1] + 1])

    @property
    def mean(self) -> float:
        """Mean energy ⟨E⟩ [GeV] of the flux (exact for a flat-in-bin histogram)."""
        centres = 0.5 * (self.edges[1:] + self.edges[:-1])
        return float(np.sum(self.content * centres) / self.total)

    @property
    def is_monoenergetic(self) -> bool:
        return self.e_min == self.e_max

    def pdf(self, energy: np.ndarray) -> np.ndarray:
        """Normalised flux density dΦ/dE / Φ [1/GeV] at ``energy`` (point masses give +inf at their energy)."""
        e = np.asarray(energy, dtype=np.float64)
        width = np.diff(self.edges)
        wide = width > 0
        density = np.zeros(len(width))
        density[wide] = self.content[wide] / width[wide] / self.total
        i = np.searchsorted(self.edges, e, side="right") - 1
        ok = (i >= 0) & (i < len(width))
        out = np.where(ok, density[np.clip(i, 0, len(width) - 1)], 0.0)
        points = self.edges[:-1][~wide & (self.content > 0)]
        return np.where(np.isin(e, points), np.inf, out)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` energies [GeV] drawn from the flux (bin by content, flat inside the bin)."""
        cdf = np.cumsum(self.content)
        cdf /= cdf[-1]
        i = np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(self.content) - 1)
        lo, hi = self.edges[i], self.edges[i + 1]
        return lo + (hi - lo) * rng.random(n)

    def to_dict(self) -> dict:
        """JSON-friendly description (for provenance)."""
        return {"name": self.name, "mean_gev": self.mean, "e_min": self.e_min, "e_max": self.e_max,
                "n_bins": int(len(self.content))}


# --------------------------------------------------------------------------- constructors


def numi_le_shape(energy: np.ndarray, nu_pdg: int = 14) -> np.ndarray:
    """The NuMI-like flux density dΦ/dE (arbitrary units, peak ≈ 1) at ``energy`` [GeV]."""
    p = NUMI_LE_PARAMS
    e = np.maximum(np.asarray(energy, dtype=np.float64), 1e-9)
    x = e / p["e_peak"]
    peak = x ** p["k"] * np.exp(-(p["k"] / p["m"]) * (x ** p["m"] - 1.0))
    tail = p["tail"] * (e / 10.0) ** (-p["gamma"]) / (1.0 + (p["e_tail"] / e) ** 6)
    if nu_pdg < 0:
        tail = 0.5 * tail
    return peak + tail


def numi_le(nu_pdg: int = 14) -> Flux:
    """The built-in NuMI-like low-energy ν_μ (``nu_pdg`` = 14) or ν̄_μ (−14) flux, 0–50 GeV (the fitted range).

    Bins are 50 MeV wide below 20 GeV and 0.5 GeV up to 50 GeV; each bin holds
    the integral of :func:`numi_le_shape` (Simpson's rule). Normalised to unit integral.
    """
    if nu_pdg not in (14, -14):
        raise InputError("nu", f"the NuMI-like flux is defined for numu (14) and numubar (-14), got {nu_pdg}")
    edges = np.unique(np.concatenate([np.arange(0.0, 20.0, 0.05), np.arange(20.0, NUMI_LE_RANGE[1] + 1e-9, 0.5)]))
    lo, hi = edges[:-1], edges[1:]
    mid = 0.5 * (lo + hi)
    content = (hi - lo) / 6.0 * (numi_le_shape(lo, nu_pdg) + 4 * numi_le_shape(mid, nu_pdg) + numi_le_shape(hi, nu_pdg))
    content[lo == 0] = (hi - lo)[lo == 0] / 6.0 * (4 * numi_le_shape(mid, nu_pdg) + numi_le_shape(hi, nu_pdg))[lo == 0]
    return Flux(edges, content / content.sum(), name="numi-le-numu" if nu_pdg > 0 else "numi-le-numubar")


def monoenergetic(energy: float) -> Flux:
    """A beam of one energy [GeV]."""
    if not (np.isfinite(energy) and energy > 0):
        raise InputError("energy", f"must be a positive number of GeV, got {energy}")
    return Flux(np.array([energy, energy], dtype=np.float64), np.array([1.0]), name=f"mono-{energy:g}GeV")


def from_histogram(edges: np.ndarray, values: np.ndarray, *, per_gev: bool = True, name: str = "histogram") -> Flux:
    """A flux from bin ``edges`` [GeV] and ``values``.

    ``per_gev=True`` (the usual convention of published flux tables, e.g. ν/m²/POT/GeV):
    values are densities and are multiplied by the bin widths; ``False``: values are the
    flux integrated over each bin.
    """
    edges = np.asarray(edges, dtype=np.float64).ravel()
    values = np.asarray(values, dtype=np.float64).ravel()
    if len(edges) >= 2 and len(values) == len(edges) - 1 and np.all(np.diff(edges) >= 0) and per_gev:
        values = values * np.diff(edges)
    return Flux(edges, values, name=name)


def from_centres(centres: np.ndarray, values: np.ndarray, *, name: str = "histogram") -> Flux:
    """A flux from bin centres [GeV] and densities per GeV; edges lie halfway between centres."""
    c = np.asarray(centres, dtype=np.float64).ravel()
    where = f"flux {name}"
    if len(c) < 2:
        raise InputError(where, "need at least two energies to build bins from bin centres")
    if np.any(np.diff(c) <= 0):
        raise InputError(where, "bin centres must be strictly increasing")
    mids = 0.5 * (c[1:] + c[:-1])
    edges = np.concatenate([[max(c[0] - (mids[0] - c[0]), 0.0)], mids, [c[-1] + (c[-1] - mids[-1])]])
    return from_histogram(edges, values, per_gev=True, name=name)


def from_file(path: str | Path, name: str | None = None, *, per_gev: bool = True) -> Flux:
    """Read a flux file.

    * text / CSV (``.txt``, ``.dat``, ``.csv``; ``#`` comments, comma or whitespace separated):
      three columns ``E_low, E_high, value`` (contiguous bins) or two columns
      ``E_centre, value``; values are per GeV unless ``per_gev=False``.
    * ``.npz`` with arrays ``edges`` and ``values`` (or ``centres`` and ``values``).
    * ``.root``: a TH1 read with uproot; ``name`` is the histogram's key (default: the
      only TH1 in the file). Bin contents are per GeV unless ``per_gev=False``.
    """
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise InputError(where, "flux file not found")
    label = name or path.stem
    suffix = path.suffix.lower()
    if suffix == ".npz":
        try:
            data = np.load(path)
        except (OSError, ValueError) as err:
            raise InputError(where, f"cannot read as .npz: {err}") from None
        if "values" not in data or not ({"edges", "centres"} & set(data.files)):
            raise InputError(where, f"need arrays 'edges' (or 'centres') and 'values', found {data.files}")
        if "edges" in data:
            return _checked(lambda: from_histogram(data["edges"], data["values"], per_gev=per_gev, name=label), where)
        return _checked(lambda: from_centres(data["centres"], data["values"], name=label), where)
    if suffix == ".root":
        return _from_root(path, name, per_gev)
    rows = _read_table(path)
    width = {len(r) for r in rows}
    if not rows:
        raise InputError(where, "the flux file has no data rows")
    if len(width) != 1 or width.pop() not in (2, 3):
        raise InputError(where, "every row must have 2 (E_centre, value) or 3 (E_low, E_high, value) numbers")
    table = np.array(rows, dtype=np.float64)
    if table.shape[1] == 2:
        return _checked(lambda: from_centres(table[:, 0], table[:, 1], name=label), where)
    lo, hi, val = table.T
    if np.any(hi < lo):
        i = int(np.flatnonzero(hi < lo)[0])
        raise InputError(where, f"row {i + 1}: E_high {hi[i]} < E_low {lo[i]}")
    if np.any(np.abs(lo[1:] - hi[:-1]) > 1e-9 * np.maximum(1.0, hi[:-1])):
        i = int(np.flatnonzero(np.abs(lo[1:] - hi[:-1]) > 1e-9 * np.maximum(1.0, hi[:-1]))[0])
        raise InputError(where, f"bins are not contiguous and sorted: row {i + 2} starts at {lo[i + 1]}, "
                                f"row {i + 1} ends at {hi[i]}")
    return _checked(lambda: from_histogram(np.append(lo, hi[-1]), val, per_gev=per_gev, name=label), where)


def _checked(make, where: str) -> Flux:
    try:
        return make()
    except InputError as err:
        raise InputError(where, err.what) from None


def _read_table(path: Path) -> list[list[float]]:
    rows = []
    with open(path, newline="") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            cells = next(csv.reader([line])) if "," in line else line.split()
            cells = [c.strip() for c in cells if c.strip()]
            try:
                rows.append([float(c) for c in cells])
            except ValueError:
                if not rows:  # a header line
                    continue
                raise InputError(f"{path}:{lineno}", f"not a number in {line!r}") from None
    return rows


def _from_root(path: Path, name: str | None, per_gev: bool) -> Flux:
    import uproot

    where = str(path)
    try:
        f = uproot.open(path)
    except Exception as err:  # uproot raises many types on corrupt files
        raise InputError(where, f"cannot open as ROOT: {err}") from None
    with f:
        if name is None:
            hists = [k for k, cls in f.classnames().items() if cls.startswith("TH1")]
            if len(hists) != 1:
                raise InputError(where, f"give the histogram name; TH1s in the file: {hists}")
            name = hists[0].split(";")[0]
        if name not in f:
            raise InputError(where, f"no object {name!r} in the file")
        obj = f[name]
        if not hasattr(obj, "to_numpy"):
            raise InputError(where, f"{name!r} is not a histogram")
        values, edges = obj.to_numpy()
    return _checked(lambda: from_histogram(edges, values, per_gev=per_gev, name=name), where)


def get_flux(spec: str | Path, nu_pdg: int = 14) -> Flux:
    """The flux named ``spec``: ``"numi-le"`` (built-in), a path to a flux file, or
    ``file.root:name`` for the histogram ``name`` of a ROOT file."""
    if str(spec) in ("numi-le", "numi_le", "numi"):
        return numi_le(nu_pdg)
    path, name = Path(spec), None
    if not path.exists() and ".root:" in str(spec):
        file, _, name = str(spec).rpartition(":")
        path = Path(file)
    if not path.exists():
        raise InputError("flux", f"{str(spec)!r} is neither 'numi-le' nor an existing flux file")
    return from_file(path, name)
