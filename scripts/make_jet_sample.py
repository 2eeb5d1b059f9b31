"""Regenerate the jet sample shipped in the package (src/hepfm/resources/jets_sample.h5).

    python scripts/make_jet_sample.py            # ~2 minutes on 2 cores

Pythia 8 + FastJet jets of all nine classes (default settings of `hepfm simulate jets`),
224 per class, seed 2026, float columns rounded to 10 mantissa bits so that the file
stays under 2 MB.
"""

from hepfm.data import write_events
from hepfm.simulate.jets import generate_jets, sample_path

if __name__ == "__main__":
    block = generate_jets(224, seed=2026, n_shards=2, workers=2)
    paths = write_events(sample_path(), block.rounded(10))
    print(f"wrote {len(block)} jets to {paths[0]}")
