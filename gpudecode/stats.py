"""Statistics on decoding results: permutation p-values and false discovery rate."""

from __future__ import annotations

import numpy as np
from scipy.stats import false_discovery_control

__all__ = ["permutation_pvalues", "fdr_bh"]


def permutation_pvalues(observed: np.ndarray, null: np.ndarray) -> np.ndarray:
    """One-sided permutation p-values ``(1 + #{null >= observed}) / (1 + P)``.

    Parameters
    ----------
    observed : ndarray, shape (...)
        The statistic on the real labels (e.g. mean test accuracy over shuffles, per cell).
    null : ndarray, shape (..., P)
        The same statistic on P permuted label sets. With P = 0 the p-values are NaN.

    Returns
    -------
    ndarray, shape (...)
    """
    observed = np.asarray(observed, dtype=np.float64)
    null = np.asarray(null, dtype=np.float64)
    n_perm = null.shape[-1]
    if n_perm == 0:
        return np.full(observed.shape, np.nan)
    # A tolerance keeps float noise from turning ties into wins for the observed run.
    exceed = (null >= observed[..., None] - 1e-12).sum(-1)
    return (1.0 + exceed) / (1.0 + n_perm)


def fdr_bh(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values over the last axis (NaN p-values stay NaN).

    Parameters
    ----------
    p_values : ndarray, shape (..., n_tests)
    """
    p = np.asarray(p_values, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    flat_p = p.reshape(-1, p.shape[-1])
    flat_q = q.reshape(-1, p.shape[-1])
    for row_p, row_q in zip(flat_p, flat_q):
        ok = np.isfinite(row_p)
        if ok.any():
            row_q[ok] = false_discovery_control(row_p[ok], method="bh")
    return q
