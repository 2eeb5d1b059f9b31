"""Fixed-target neutrino interactions: generator physics, MINERvA-like detector response, tasks.

See docs/neutrino.md for the physics models and their formulas.
"""
