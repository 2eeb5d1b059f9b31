"""Data files shipped with hepfm (see docs/jets.md for how ``jets_sample.h5`` was made)."""
