"""Vectorised relativistic kinematics on arrays of four-momenta ``[..., 4] = (px, py, pz, E)``."""

from __future__ import annotations

import numpy as np


def mass2(p: np.ndarray) -> np.ndarray:
    """Invariant mass squared of four-momenta ``p[..., 4]``."""
    return p[..., 3] ** 2 - np.sum(p[..., :3] ** 2, axis=-1)


def mass(p: np.ndarray) -> np.ndarray:
    """Invariant mass (negative m^2 clipped to 0)."""
    return np.sqrt(np.maximum(mass2(p), 0.0))


def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Minkowski product a.b with metric (+, -, -, -)."""
    return a[..., 3] * b[..., 3] - np.sum(a[..., :3] * b[..., :3], axis=-1)


def p3mag(p: np.ndarray) -> np.ndarray:
    """|p| of four-momenta."""
    return np.sqrt(np.sum(p[..., :3] ** 2, axis=-1))


def four_vector(p3: np.ndarray, m: np.ndarray | float) -> np.ndarray:
    """Four-momenta from three-momenta ``p3[..., 3]`` and masses ``m``."""
    e = np.sqrt(np.sum(p3**2, axis=-1) + np.asarray(m, dtype=np.float64) ** 2)
    return np.concatenate([p3, e[..., None]], axis=-1)


def boost(p: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Boost four-momenta ``p[n, 4]`` by velocities ``beta[n, 3]`` (a frame moving at -beta sees p boosted by +beta).

    ``boost(p_rest, P[:, :3] / P[:, 3:])`` takes momenta from the rest frame of P to the frame where P was given.
    """
    b2 = np.sum(beta**2, axis=-1)
    gamma = 1.0 / np.sqrt(np.clip(1.0 - b2, 1e-300, None))
    bp = np.sum(beta * p[..., :3], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        g2 = np.where(b2 > 0, (gamma - 1.0) / b2, 0.0)
    p3 = p[..., :3] + (g2 * bp + gamma * p[..., 3])[..., None] * beta
    e = gamma * (p[..., 3] + bp)
    return np.concatenate([p3, e[..., None]], axis=-1)


def random_directions(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` isotropic unit vectors ``[n, 3]``."""
    cos_t = rng.uniform(-1.0, 1.0, n)
    phi = rng.uniform(0.0, 2 * np.pi, n)
    sin_t = np.sqrt(1.0 - cos_t**2)
    return np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t], axis=-1)


def two_body_momentum(m: np.ndarray, m1: np.ndarray | float, m2: np.ndarray | float) -> np.ndarray:
    """Daughter momentum in the rest frame of a parent of mass ``m`` decaying to ``m1 + m2`` (0 below threshold)."""
    m = np.asarray(m, dtype=np.float64)
    lam = (m**2 - (m1 + m2) ** 2) * (m**2 - (m1 - m2) ** 2)
    return np.sqrt(np.maximum(lam, 0.0)) / (2.0 * np.maximum(m, 1e-300))


def two_body_decay(
    parent: np.ndarray,
    m1: np.ndarray | float,
    m2: np.ndarray | float,
    rng: np.random.Generator,
    directions: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Decay parents ``[n, 4]`` into two daughters of masses ``m1``, ``m2``.

    ``directions`` ([n, 3] unit vectors of daughter 1 in the parent rest frame) default to
    isotropic. Returns the two daughters' four-momenta in the frame of ``parent``.
    """
    n = len(parent)
    m = mass(parent)
    q = two_body_momentum(m, m1, m2)
    u = random_directions(n, rng) if directions is None else directions
    d1 = four_vector(q[:, None] * u, np.broadcast_to(m1, (n,)))
    d2 = four_vector(-q[:, None] * u, np.broadcast_to(m2, (n,)))
    beta = parent[:, :3] / parent[:, 3:4]
    return boost(d1, beta), boost(d2, beta)


def rotate_from_z(v: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Rotate vectors ``v[n, 3]`` given in a frame whose z axis is ``axis[n, 3]`` (unit) into the lab frame."""
    z = axis / np.linalg.norm(axis, axis=-1, keepdims=True)
    helper = np.where(np.abs(z[:, :1]) < 0.9, np.array([[1.0, 0.0, 0.0]]), np.array([[0.0, 1.0, 0.0]]))
    x = np.cross(helper, z)
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    y = np.cross(z, x)
    return v[:, :1] * x + v[:, 1:2] * y + v[:, 2:3] * z
