"""Divergences between discrete distributions over bins, vectorized over rows.

All take arrays ``p, q`` of shape ``[..., B]`` (each row sums to 1) and return
``[...]``; each equals its scipy counterpart row by row (tests check):

* ``js``: Jensen-Shannon divergence in nats, ``scipy.spatial.distance.jensenshannon(p, q) ** 2``
* ``kl``: KL(p || q) in nats, ``scipy.stats.entropy(p, q)``, with q smoothed by ``1e-6``
* ``wasserstein``: Wasserstein-1 between the bins' index positions scaled to
  [0, 1], ``scipy.stats.wasserstein_distance(i, i, p, q) / (B - 1)`` (meaningful
  for ordered, i.e. numeric, bins)
* ``cosine``: cosine distance, ``scipy.spatial.distance.cosine(p, q)``
"""
from __future__ import annotations

import numpy as np
from scipy import special

DIVERGENCES = ("js", "kl", "wasserstein", "cosine")
_SMOOTH = 1e-6


def _norm(x):
    x = np.asarray(x, np.float64)
    return x / x.sum(axis=-1, keepdims=True)


def js(p, q):
    p, q = _norm(p), _norm(q)
    m = 0.5 * (p + q)
    return 0.5 * special.rel_entr(p, m).sum(-1) + 0.5 * special.rel_entr(q, m).sum(-1)


def kl(p, q):
    p, q = _norm(p), _norm(_norm(q) + _SMOOTH)
    return special.rel_entr(p, q).sum(-1)


def wasserstein(p, q):
    p, q = _norm(p), _norm(q)
    b = p.shape[-1]
    if b < 2:
        return np.zeros(p.shape[:-1])
    return np.abs(np.cumsum(p - q, axis=-1))[..., :-1].sum(-1) / (b - 1)


def cosine(p, q):
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    return 1.0 - (p * q).sum(-1) / (np.linalg.norm(p, axis=-1) * np.linalg.norm(q, axis=-1))


def get(name: str):
    if name not in DIVERGENCES:
        from c2al_tf.errors import C2ALInputError
        raise C2ALInputError(f"divergence '{name}' is not one of {', '.join(DIVERGENCES)}", arguments=("divergence",))
    return {"js": js, "kl": kl, "wasserstein": wasserstein, "cosine": cosine}[name]
