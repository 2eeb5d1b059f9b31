"""ROOT ntuple import: a small TTree with jagged branches, written here with uproot, mapped
with a YAML-style mapping, imported, and compared with the same quantities computed
directly in numpy; plus the safe expression parser and every bad-input error."""

import json
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
import yaml

from hepfm.data import read_all, validate_file
from hepfm.data.ntuple import import_ntuple, load_mapping, parse_expression
from hepfm.errors import InputError

N = 60


def make_events(seed=0, n=N):
    """Neutrino-like ntuple content: a muon (scalars), prongs and blobs (jagged), truth."""
    rng = np.random.default_rng(seed)
    n_prong = rng.integers(0, 4, n)
    n_prong[:3] = [0, 2, 3]  # event 0 has no prongs
    n_blob = rng.integers(0, 3, n)
    t_prong, t_blob = int(n_prong.sum()), int(n_blob.sum())
    prong = {
        "px": rng.normal(0, 0.3, t_prong), "py": rng.normal(0, 0.3, t_prong), "pz": rng.uniform(0.1, 2.0, t_prong),
        "E": rng.uniform(0.2, 3.0, t_prong), "pdg": rng.choice([2212, 211, -211, 11], t_prong),
        "dedx": rng.uniform(1.0, 10.0, t_prong),
    }
    blob = {"E": rng.uniform(0.01, 0.5, t_blob), "x": rng.normal(0, 500, t_blob), "y": rng.normal(0, 500, t_blob),
            "z": rng.uniform(100, 2000, t_blob)}
    return {
        "mu_px": rng.normal(0, 0.4, n), "mu_py": rng.normal(0, 0.4, n), "mu_pz": rng.uniform(1.0, 10.0, n),
        "mu_E": rng.uniform(2.0, 11.0, n), "is_cc": rng.integers(0, 2, n).astype(np.int32),
        "channel": rng.integers(0, 3, n).astype(np.int32), "E_nu": rng.uniform(1.0, 20.0, n),
        "vtx": rng.normal(0, 100, (n, 4)),
        "prong": {k: ak.unflatten(v, n_prong) for k, v in prong.items()},
        "blob": {k: ak.unflatten(v, n_blob) for k, v in blob.items()},
    }


def write_ntuple(path, ev, tree="events", extra_branches=None):
    """Write a TTree: jagged records become branches prong_px, ... sharing the counter nprong."""
    data = {k: v for k, v in ev.items() if not isinstance(v, dict)}
    data.update({k: ak.zip(v) for k, v in ev.items() if isinstance(v, dict)})
    data.update(extra_branches or {})
    types = {k: v.type.content if isinstance(v, ak.Array) else (v.dtype, v.shape[1:]) if v.ndim > 1 else v.dtype
             for k, v in data.items()}
    with uproot.recreate(path) as f:  # mktree: a TTree (``f[name] = ...`` writes an RNTuple in uproot >= 5.7)
        f.mktree(tree, types)
        f[tree].extend(data)
    return path


MAPPING = {
    "tree": "events",
    "aliases": {"prong_pt": "hypot(prong_px, prong_py)", "blob_r": "sqrt(blob_x**2 + blob_y**2 + blob_z**2)"},
    "units": {"dedx": "MeV/cm", "E_vis": "GeV", "n_prongs": ""},
    "collections": {
        "muon": {
            "type": "muon",
            "features": {"deta": "arcsinh(mu_pz / hypot(mu_px, mu_py))", "dphi": "arctan2(mu_py, mu_px)",
                         "log_pt": "log(hypot(mu_px, mu_py))", "log_e": "log(mu_E)"},
            "extra": {"dedx": 0},
        },
        "prongs": {
            "type": {"branch": "prong_pdg", "map": {2212: "proton", 211: "pion", -211: "pion"}, "default": "other"},
            "features": {"deta": "arcsinh(prong_pz / prong_pt)", "dphi": "arctan2(prong_py, prong_px)",
                         "log_pt": "log(prong_pt)", "log_e": "log(prong_E)"},
            "extra": {"dedx": "prong_dedx"},
        },
        "blobs": {
            "type": "blob",
            "features": {"deta": "arcsinh(blob_z / hypot(blob_x, blob_y))", "dphi": "arctan2(blob_y, blob_x)",
                         "log_pt": "log(blob_E * hypot(blob_x, blob_y) / blob_r)", "log_e": "log(blob_E)"},
            "extra": {"dedx": -1},
        },
    },
    "event": {"E_vis": "mu_E + sum(prong_E) + sum(blob_E)", "n_prongs": "count(prong_E)"},
    "labels": {
        "channel": {"branch": "channel", "classes": ["cc1pi", "cc1pi0", "ccnpi"]},
        "current": {"expr": "is_cc == 1", "classes": ["nc", "cc"]},
        "E_nu": {"expr": "E_nu", "unit": "GeV"},
    },
}


@pytest.fixture(scope="module")
def ntuple(tmp_path_factory):
    ev = make_events()
    path = write_ntuple(tmp_path_factory.mktemp("root") / "ev.root", ev)
    return path, ev


def flat(x):
    return np.asarray(ak.flatten(x))


def reference(ev):
    """Per-collection tokens computed directly with numpy on the flattened branches."""
    p, b = ev["prong"], ev["blob"]
    px, py, pz = flat(p["px"]), flat(p["py"]), flat(p["pz"])
    bx, by, bz, be = flat(b["x"]), flat(b["y"]), flat(b["z"]), flat(b["E"])
    mpt = np.sqrt(ev["mu_px"] ** 2 + ev["mu_py"] ** 2)
    ppt, brt = np.sqrt(px**2 + py**2), np.sqrt(bx**2 + by**2)
    pid = {2212: 1, 211: 2, -211: 2}
    return {
        "muon": (np.ones(N, int), np.stack([np.arcsinh(ev["mu_pz"] / mpt), np.arctan2(ev["mu_py"], ev["mu_px"]), np.log(mpt),
                                            np.log(ev["mu_E"])], 1), np.zeros(N), np.zeros(N, int)),
        "prongs": (np.asarray(ak.num(p["px"])), np.stack([np.arcsinh(pz / ppt), np.arctan2(py, px), np.log(ppt), np.log(flat(p["E"]))], 1),
                   flat(p["dedx"]), np.array([pid.get(c, 3) for c in flat(p["pdg"])])),
        "blobs": (np.asarray(ak.num(b["E"])), np.stack([np.arcsinh(bz / brt), np.arctan2(by, bx),
                                                       np.log(be * brt / np.sqrt(bx**2 + by**2 + bz**2)), np.log(be)], 1),
                  -np.ones(len(be)), np.full(len(be), 4)),
    }


def split_tokens(block, counts_by_collection):
    """Cut each event's tokens back into its collections (muon, prongs, blobs in order)."""
    names = list(counts_by_collection)
    counts = np.stack([counts_by_collection[k] for k in names], 1)
    assert np.array_equal(np.diff(block.offsets), counts.sum(1))
    starts = block.offsets[:-1, None] + np.concatenate([np.zeros((len(counts), 1), int), np.cumsum(counts, 1)[:, :-1]], 1)
    out = {}
    for j, name in enumerate(names):
        rows = np.repeat(starts[:, j], counts[:, j]) + np.arange(counts[:, j].sum()) - np.repeat(np.cumsum(counts[:, j]) - counts[:, j], counts[:, j])
        out[name] = rows
    return out


def test_import_matches_numpy(ntuple, tmp_path):
    path, ev = ntuple
    summary = import_ntuple(path, MAPPING, tmp_path / "out", step_size=7, shard_size=25)
    block = read_all(tmp_path / "out")
    ref = reference(ev)
    assert summary["entries_read"] == N and summary["events"] == N and len(summary["paths"]) == 3  # 60 events / 25 per shard
    assert block.schema.token_types == ("muon", "proton", "pion", "other", "blob")
    assert block.schema.features == ("deta", "dphi", "log_pt", "log_e")
    assert block.schema.feature_units == ("", "rad", "log GeV", "log GeV")
    assert block.schema.extra == ("dedx",) and block.schema.event == ("E_vis", "n_prongs")
    rows = split_tokens(block, {k: v[0] for k, v in ref.items()})
    assert summary["tokens"] == len(block.features) == sum(len(r) for r in rows.values())
    for name, (_, feats, dedx, types) in ref.items():
        # float32 storage: relative precision ~6e-8; 1e-6 is a loose float32 bound
        np.testing.assert_allclose(block.features[rows[name]], feats, rtol=1e-6, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(block.extra[rows[name], 0], dedx, rtol=1e-6, err_msg=name)
        assert np.array_equal(block.token_type[rows[name]], types), name
    e_vis = ev["mu_E"] + np.asarray(ak.sum(ev["prong"]["E"], axis=1)) + np.asarray(ak.sum(ev["blob"]["E"], axis=1))
    np.testing.assert_allclose(block.event[:, 0], e_vis, rtol=1e-6)
    assert np.array_equal(block.event[:, 1], ref["prongs"][0])
    assert np.array_equal(block.labels["channel"], ev["channel"])
    assert np.array_equal(block.labels["current"], ev["is_cc"])
    np.testing.assert_allclose(block.labels["E_nu"], ev["E_nu"], rtol=1e-6)
    assert block.schema.label("E_nu").unit == "GeV" and block.schema.label("current").classes == ("nc", "cc")
    prov = block.schema.provenance["imported_from"]
    assert prov["format"] == "root-ntuple" and prov["tree"] == "events" and prov["uproot_version"] == uproot.__version__
    assert prov["files"][0]["entries"] == N and prov["mapping"]["collections"]["prongs"]["type"]["map"]["2212"] == "proton"
    assert block.schema.provenance["units"]["dedx"] == "MeV/cm"
    summary_v = validate_file(tmp_path / "out")  # the validator accepts the dataset
    assert summary_v["events"] == N and summary_v["token_types"]["muon"] == N


def test_cuts_select_sort_and_single_file(ntuple, tmp_path):
    path, ev = ntuple
    mapping = json.loads(json.dumps(MAPPING))  # deep copy (int map keys become strings, also accepted)
    mapping["cuts"] = "(is_cc == 1) & (count(prong_E) >= 1)"
    mapping["collections"]["prongs"]["select"] = "prong_E > 1.0"
    mapping["sort_by"] = "log_pt"
    out = tmp_path / "cut.h5"
    summary = import_ntuple([path], mapping, out, step_size="1 MB")
    block = read_all(out)
    n_prong = np.asarray(ak.num(ev["prong"]["E"]))
    keep = (ev["is_cc"] == 1) & (n_prong >= 1)
    assert summary["entries_read"] == N and len(block) == keep.sum() == summary["events"]
    kept_prongs = np.asarray(ak.sum(ev["prong"]["E"] > 1.0, axis=1))[keep]
    n_blob = np.asarray(ak.num(ev["blob"]["E"]))[keep]
    assert np.array_equal(np.diff(block.offsets), 1 + kept_prongs + n_blob)
    assert np.array_equal(block.labels["current"], np.ones(keep.sum()))
    np.testing.assert_allclose(block.labels["E_nu"], ev["E_nu"][keep], rtol=1e-6)
    ev_index = np.repeat(np.arange(len(block)), np.diff(block.offsets))
    log_pt = block.features[:, 2]
    same_event = ev_index[1:] == ev_index[:-1]
    assert np.all(log_pt[1:][same_event] <= log_pt[:-1][same_event])  # leading (highest pT) token first


def test_max_entries_and_tree_override(ntuple, tmp_path):
    path, _ = ntuple
    mapping = {**MAPPING, "tree": "wrong"}
    summary = import_ntuple(path, mapping, tmp_path / "few", tree="events", max_entries=13, step_size=5)
    assert summary["entries_read"] == 13 and len(read_all(tmp_path / "few")) == 13


def test_nested_vectors_and_fixed_arrays(tmp_path):
    """vector<vector<double>> 4-vectors (as MINERvA's prong_part_E) and a fixed double vtx[4]."""
    p4 = ak.Array([[[1.0, 0.5, 2.0, 3.0], [0.2, -0.1, 0.3, 0.5]], [], [[0.0, 1.0, 1.0, 2.0]]])
    vtx = np.array([[0, 0, 10.0, 0], [0, 0, 20.0, 0], [0, 0, 30.0, 0]])
    with uproot.recreate(tmp_path / "rn.root") as f:  # uproot writes nested vectors only as RNTuple
        f["t"] = {"p4": p4, "vtx": vtx}
    mapping = {"tree": "t", "collections": {"prongs": {"type": "prong", "features": {
        "px": "p4[0]", "e": "p4[-1]", "z": "vtx[2]"}}}, "event": {"e_lead": "max(p4[3], 0)", "n": "count(p4[0])"}}
    block = read_all(import_ntuple(tmp_path / "rn.root", mapping, tmp_path / "o.h5")["paths"])
    assert np.array_equal(np.diff(block.offsets), [2, 0, 1])
    np.testing.assert_allclose(block.features, [[1.0, 3.0, 10.0], [0.2, 0.5, 10.0], [0.0, 2.0, 30.0]], rtol=1e-7)
    assert np.array_equal(block.event, [[3.0, 2.0], [0.0, 0.0], [2.0, 1.0]])


def test_to_block_on_memory_arrays():
    """The conversion works on plain awkward arrays too (no file), e.g. from the user's own uproot call."""
    m = load_mapping({"tree": "x", "collections": {
        "hits": {"type": {"expr": "where(q > 0, 1, 0)", "map": {0: "neg", 1: "pos"}},
                 "features": {"a": "clip(x, -1, 1)", "b": "-x ** 2 + 3 * pi % 2", "c": "index(x)"}, "select": "abs(x) < 5"}}})
    x = ak.Array([[0.5, -2.0, 7.0], [3.0]])
    q = ak.Array([[1, -1, 1], [-1]])
    block, n = m.to_block({"x": x, "q": q})
    assert n == 2 and np.array_equal(np.diff(block.offsets), [2, 1])
    xs = np.array([0.5, -2.0, 3.0])
    np.testing.assert_allclose(block.features[:, 0], np.clip(xs, -1, 1))
    np.testing.assert_allclose(block.features[:, 1], -(xs**2) + (3 * np.pi) % 2, rtol=1e-6)
    assert np.array_equal(block.features[:, 2], [0, 1, 0])  # index within the event, before the selection
    assert np.array_equal(block.token_type, [1, 0, 0]) and block.schema.token_types == ("neg", "pos")


@pytest.mark.parametrize("text", ["__import__('os').system('true')", "x.real", "open('f')", "(lambda: 1)()", "x if y else z",
                                  "'abc'", "log(x, base=2)", "x[y]", "[x]", "x @ y", "eval('1')", "x in y", "log(x)(1)"])
def test_expression_whitelist_rejects(text):
    with pytest.raises(InputError):
        parse_expression(text, "k")


def test_expression_names():
    e = parse_expression("log(`Jet.PT` / 1000) + sqrt(a**2) - pi * max(b, 0)", "k")
    assert e.names == {"Jet.PT", "a", "b"}


# ----------------------------------------------------------------------------- bad input


def raises(match, *args, **kwargs):
    with pytest.raises(InputError, match=match) as info:
        import_ntuple(*args, **kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


def with_(**changes):
    mapping = json.loads(json.dumps(MAPPING))
    for dotted, value in changes.items():
        node = mapping
        *parents, last = dotted.split("__")
        for p in parents:
            node = node[p]
        node[last] = value
    return mapping


def test_missing_branch(ntuple, tmp_path):
    path, _ = ntuple
    msg = raises("missing branch", path, with_(collections__prongs__extra__dedx="prong_dEdx"), tmp_path / "o")
    assert str(path) in msg and "prong_dEdx" in msg and "collections.prongs.extra.dedx" in msg and "prong_dedx" in msg
    assert not (tmp_path / "o").exists()


def test_jagged_length_mismatch(ntuple, tmp_path):
    path, ev = ntuple
    other = ak.Array([[1.0] * ((i + 1) % 3) for i in range(N)])
    bad = write_ntuple(tmp_path / "bad.root", ev, extra_branches={"hit_q": other})
    msg = raises("equal per-event lengths", bad, with_(collections__prongs__extra__dedx="hit_q"), tmp_path / "o")
    assert "collections.prongs.extra.dedx" in msg and "entry 0 " in msg  # event 0: 0 prongs, 1 hit
    msg = raises("different lengths", bad, with_(collections__prongs__extra__dedx="prong_dedx * hit_q"), tmp_path / "o")
    assert "'hit_q'" in msg and "'prong_dedx'" in msg


def test_unknown_function_and_bad_syntax(ntuple, tmp_path):
    path, _ = ntuple
    msg = raises("unknown function 'logg'", path, with_(collections__muon__features__log_e="logg(mu_E)"), tmp_path / "o")
    assert "collections.muon.features.log_e" in msg
    raises("cannot parse", path, with_(event__E_vis="mu_E +"), tmp_path / "o")
    assert "event.E_vis" in raises("not allowed", path, with_(event__E_vis="mu_E.sum()"), tmp_path / "o")


def test_nan_and_inf_name_feature_and_entry(ntuple, tmp_path):
    path, ev = ntuple
    msg = raises("NaN/inf", path, with_(collections__prongs__features__log_e="log(prong_px)"), tmp_path / "o")
    px = flat(ev["prong"]["px"])
    first = int(np.argmax(px < 0))  # first prong with log(negative) = NaN
    event = int(np.searchsorted(np.cumsum(ak.num(ev["prong"]["px"])), first, side="right"))
    assert "collections.prongs.features.log_e" in msg and f"at entry {event} (prongs token" in msg and str(path) in msg
    msg = raises("gives inf", path, with_(event__E_vis="1 / (is_cc * 0)"), tmp_path / "o")
    assert "event.E_vis" in msg and "at entry 0" in msg
    raises("NaN/inf", path, with_(labels__E_nu={"expr": "log(E_nu - 100)", "unit": "GeV"}), tmp_path / "o")


def test_codes_and_levels(ntuple, tmp_path):
    path, _ = ntuple
    raises("not in the map", path, with_(collections__prongs__type={"branch": "prong_pdg", "map": {2212: "proton"}}), tmp_path / "o")
    raises("outside \\[0, 1\\]", path, with_(labels__channel={"branch": "channel", "classes": ["a", "b"]}), tmp_path / "o")
    raises("is per-token", path, with_(event__E_vis="prong_E"), tmp_path / "o")
    raises("must be a condition", path, {**MAPPING, "cuts": "E_nu"}, tmp_path / "o")


def test_not_root_missing_tree_and_atomicity(ntuple, tmp_path):
    path, _ = ntuple
    text = tmp_path / "notes.root"
    text.write_text("this is not a ROOT file\n" * 40)
    raises("not a readable ROOT file", text, MAPPING, tmp_path / "o")
    msg = raises("no TTree named 'Truth'", path, {**MAPPING, "tree": "Truth"}, tmp_path / "o")
    assert "events" in msg
    raises("no such file", tmp_path / "nope.root", MAPPING, tmp_path / "o")
    whole = write_ntuple(tmp_path / "whole.root", make_events(2, n=2000)).read_bytes()
    (tmp_path / "cut.root").write_bytes(whole[: len(whole) * 6 // 10])  # a copy that stopped at 60 %
    assert "cut.root:events" in raises("truncated or corrupt", tmp_path / "cut.root", MAPPING, tmp_path / "o")
    good = import_ntuple(path, MAPPING, tmp_path / "keep")["events"]
    # a later failing import (second file lacks the tree) leaves the earlier dataset untouched
    raises("no TTree", [path, write_ntuple(tmp_path / "other.root", make_events(1), tree="other")], MAPPING, tmp_path / "keep")
    assert len(read_all(tmp_path / "keep")) == good


def test_mapping_errors(tmp_path):
    yml = tmp_path / "m.yaml"
    yml.write_text(yaml.safe_dump({**MAPPING, "colections": {}}))
    with pytest.raises(InputError, match="m.yaml:\\(top level\\): unknown key\\(s\\) \\['colections'\\]"):
        load_mapping(yml)
    bad = json.loads(json.dumps(MAPPING))
    del bad["collections"]["blobs"]["extra"]["dedx"]
    with pytest.raises(InputError, match="collections.blobs.extra.*same"):
        load_mapping(bad)
    with pytest.raises(InputError, match="alias refers to itself"):
        load_mapping({**MAPPING, "aliases": {"a": "b + 1", "b": "a * 2"}})
    with pytest.raises(InputError, match="units given for \\['dEdx'\\]"):
        load_mapping({**MAPPING, "units": {"dEdx": "MeV/cm"}})


EXAMPLE = Path(__file__).parents[1] / "configs" / "ntuples" / "example-minerva.yaml"
BEAM = 0.05887  # rad, NuMI beam below the MINERvA z axis (MINERvA MinervaUnits numi_beam_angle_rad = -0.05887)


def to_detector(pt, eta, phi, r=1.0):
    """(x, y, z) in MINERvA detector coordinates of a beam-frame vector (p_T, eta, phi): inverse of
    y' = cos(b) y + sin(b) z, z' = cos(b) z - sin(b) y."""
    x, yp, zp = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return r * x, r * (np.cos(BEAM) * yp - np.sin(BEAM) * zp), r * (np.sin(BEAM) * yp + np.cos(BEAM) * zp)


def test_example_minerva_mapping_end_to_end(tmp_path):
    """The shipped MINERvA mapping on a 3-event file with MasterAnaDev branch names: beam-frame
    kinematics, prong/blob selection, hypothesis-mass types, truth labels (values by hand)."""
    m = load_mapping(EXAMPLE)
    assert m.schema.features == ("deta", "dphi", "log_pt", "log_e") and m.tree == "MasterAnaDev"
    mu = [to_detector(2.0, 1.5, 0.3), to_detector(0.5, 3.0, -2.0), to_detector(1.0, 0.2, 3.0)]  # GeV
    mu_e = np.array([6.0, 5.1, 1.4])
    lepton = np.array([[*(1000 * np.array(v)), 1000 * e] for v, e in zip(mu, mu_e)])  # MeV
    proton = 1000 * np.array(to_detector(0.4, 0.8, 1.0))
    prong_e = [[list(lepton[0]), [*proton, 1100.0]], [list(lepton[1])], [list(lepton[2]), [1.0, 2.0, 3.0, -9999.0]]]
    vtx = np.array([[10.0, 20.0, 5000.0, 0.0]] * 3)
    blob_dir = np.array(to_detector(1.0, -0.5, 2.5, r=300.0))  # 300 mm * (unit p_T direction)
    data = {
        "MasterAnaDev_leptonE": lepton, "vtx": vtx, "n_prongs": np.array([2, 1, 2], np.int32),
        "MasterAnaDev_minos_trk_qp": np.array([-0.1, 0.2, -0.3]), "MasterAnaDev_recoil_E": np.array([250.0, 0.0, 40.0]),
        "prong_part_E": ak.Array(prong_e),
        "prong_part_mass": ak.Array([[105.658, 938.272], [105.658], [105.658, -1.0]]),
        "prong_part_charge": ak.Array([[-1, 1], [1], [-1, 0]]), "prong_dEdXMean": ak.Array([[2.0, 9.5], [2.1], [2.2, 3.0]]),
        "MasterAnaDev_BlobX": ak.Array([[10.0 + blob_dir[0], 0.0], [], []]), "MasterAnaDev_BlobY": ak.Array([[20.0 + blob_dir[1], 0.0], [], []]),
        "MasterAnaDev_BlobZ": ak.Array([[5000.0 + blob_dir[2], 0.0], [], []]), "MasterAnaDev_BlobTotalE": ak.Array([[50.0, 10.0], [], []]),
        "MasterAnaDev_BlobIs3D": ak.Array([[1, 0], [], []]),
        "mc_incoming": np.array([14, 14, -14], np.int32), "mc_current": np.array([1, 1, 1], np.int32),
        "mc_intType": np.array([2, 8, 1], np.int32), "mc_incomingE": np.array([7000.0, 6000.0, 2000.0]),
        "mc_FSPartPDG": ak.Array([[13, 2212, 211, 2112], [13, 111, 22], [-13, 2212]]),
        "mc_FSPartE": ak.Array([[6000.0, 1038.272, 339.570, 1039.0], [5100.0, 500.0, 20.0], [1400.0, 1000.0]]),
    }
    with uproot.recreate(tmp_path / "mad.root") as f:  # RNTuple: uproot cannot write vector<vector> TTree branches
        f["MasterAnaDev"] = data
    block = read_all(import_ntuple(tmp_path / "mad.root", EXAMPLE, tmp_path / "mad.h5")["paths"])
    assert len(block) == 2  # the anti-neutrino event is cut
    assert block.schema.token_types == ("muon", "pion", "proton", "track", "blob")
    assert np.array_equal(np.diff(block.offsets), [3, 1])  # muon + proton prong + 3D blob; muon only
    assert np.array_equal(block.token_type, [0, 2, 4, 0])
    np.testing.assert_allclose(block.features[0], [1.5, 0.3, np.log(2.0), np.log(6.0)], atol=2e-6)
    np.testing.assert_allclose(block.features[1], [0.8, 1.0, np.log(0.4), np.log(1.1)], atol=2e-6)
    pt_blob = 0.05 / np.cosh(-0.5)  # massless: p_T = E / cosh(eta)
    np.testing.assert_allclose(block.features[2], [-0.5, 2.5, np.log(pt_blob), np.log(0.05)], atol=2e-6)
    np.testing.assert_allclose(block.features[3], [3.0, -2.0, np.log(0.5), np.log(5.1)], atol=2e-6)
    np.testing.assert_allclose(block.extra, [[-1, 0], [1, 9.5], [0, 0], [1, 0]])
    np.testing.assert_allclose(block.event, [[np.log(0.25), 5.0, 2], [np.log(0.001), 5.0, 1]], rtol=1e-6)
    # channel: event 0 has one pi+ and no pi0 -> CC1pi_charged; event 1 one pi0 -> CC1pi0
    assert block.labels["channel"].tolist() == [1, 2]
    assert [block.schema.label("interaction").classes[i] for i in block.labels["interaction"]] == ["RES", "2p2h"]
    # E_avail: (proton T 100 + pi+ T 200) MeV; (pi0 500 + gamma 20) MeV
    np.testing.assert_allclose(block.labels["E_avail"], [0.3, 0.52], rtol=1e-6)
    np.testing.assert_allclose(block.labels["E_nu"], [7.0, 6.0])
    validate_file(tmp_path / "mad.h5")


def test_cli_import_ntuple(ntuple, tmp_path, cli):
    import yaml

    path, _ = ntuple
    (tmp_path / "map.yaml").write_text(yaml.safe_dump(MAPPING))
    out = cli("data", "import-ntuple", str(path), str(tmp_path / "map.yaml"), str(tmp_path / "cli.h5"), "--step-size", "10")
    assert f"{N} events" in out
    assert len(read_all(tmp_path / "cli.h5")) == N
    cli("data", "validate", str(tmp_path / "cli.h5"))
