"""How large a decode run is, what its permutations can detect, whether it fits in memory.

Said before any model is fit. For each analysis of a :class:`~gpudecode.pipeline.DecodeConfig`
on given epochs: how many model fits it takes (units x classifiers x shuffles x (1 + folds +
permutations): the observed labels run on the test split and every CV fold of each shuffle,
each permuted label set on the test splits only), how much host memory its per-permutation
results take, and the smallest p- and q-values its permutations allow.

A permutation p-value is at least ``1 / (P + 1)``. Benjamini-Hochberg over ``m`` tests
multiplies the i-th smallest p-value by ``m / i``, so one discovery alone among ``m`` tests
reaches at best ``q = m / (P + 1)``: ``q < alpha`` for a lone discovery needs
``P >= floor(m / alpha)`` permutations (:func:`permutations_needed`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import ParameterError
from .time_resolved import to_frames

__all__ = ["AnalysisSize", "democracy_reuses_votes", "problem_sizes", "smallest_p",
           "smallest_q", "permutations_needed", "discoveries_needed", "result_bytes",
           "check_memory", "significance_notes"]

_FLOAT = 8   # float64 per stored accuracy


@dataclass(frozen=True)
class AnalysisSize:
    """The size of one analysis of a decode run.

    Attributes
    ----------
    analysis : str
        ``single-cell``, ``democracy``, ``summed``, ``correlation`` or ``time-resolved``.
    units : int
        Independent decoders per classifier: cells, windows, or 1 (one population).
    unit : str
        What a unit is: ``cells``, ``windows`` or ``population``.
    classifiers : int
    fits : int
        Model fits of the whole analysis (observed and permuted labels).
    tests : int
        Tests Benjamini-Hochberg corrects across inside the analysis (cells or windows per
        classifier; 1 where the analysis gives one p-value per classifier).
    result_bytes : int
        Host memory of its results (most of it grows with the permutations).
    bytes_per_permutation : int
        How much of ``result_bytes`` each permutation adds.
    reused : int
        Fits whose predictions come from another analysis, not counted in ``fits``
        (democracy's per-cell votes that single-cell decoding solved).
    """

    analysis: str
    units: int
    unit: str
    classifiers: int
    fits: int
    tests: int
    result_bytes: int
    bytes_per_permutation: int = 0
    reused: int = 0

    def describe(self, shuffles: int, folds: int, permutations: int) -> str:
        """``109 cells x 3 classifiers x 20 shuffles x (1 + 3 folds + 100 permutations) = ...``"""
        per = f"(1 + {folds} folds + {permutations} permutations)"
        if self.analysis == "democracy":
            if self.reused:
                return (f"{self.units} cells x {shuffles} shuffles x {folds} folds x "
                        f"{permutations} permutations per-cell fits (the other "
                        f"{self.reused:,} are single-cell's), then {self.classifiers} "
                        f"stacker(s) = {self.fits:,} fits")
            return (f"{self.units} cells x {shuffles} shuffles x (1 + {folds} folds) x "
                    f"(1 + {permutations}) label sets per-cell fits, then {self.classifiers} "
                    f"stacker(s) = {self.fits:,} fits")
        units = "" if self.unit == "population" else f"{self.units} {self.unit} x "
        return (f"{units}{self.classifiers} classifier(s) x {shuffles} shuffles x {per} "
                f"= {self.fits:,} fits")


def smallest_p(permutations: int) -> float:
    """The smallest permutation p-value, ``1 / (P + 1)`` (NaN without permutations)."""
    return 1.0 / (permutations + 1) if permutations > 0 else float("nan")


def smallest_q(tests: int, permutations: int) -> float:
    """The smallest BH q-value one discovery alone among ``tests`` can reach: ``m / (P + 1)``."""
    return min(1.0, tests * smallest_p(permutations)) if permutations > 0 else float("nan")


def permutations_needed(tests: int, alpha: float) -> int:
    """The fewest permutations with which one discovery alone among ``tests`` can reach
    ``q < alpha``: the smallest P with ``tests / (P + 1) < alpha``."""
    return int(math.floor(tests / alpha + 1e-9))


def discoveries_needed(tests: int, permutations: int, alpha: float) -> int | None:
    """How many tests must reach the smallest p-value before any has ``q < alpha``.

    The r-th smallest of r p-values equal to ``1 / (P + 1)`` gets ``q = m / (r (P + 1))``.
    None when even all ``m`` tests at the smallest p-value stay at or above ``alpha``.
    """
    if permutations <= 0:
        return None
    r = int(math.floor(tests / (alpha * (permutations + 1)) + 1e-9)) + 1
    return r if r <= tests else None


def democracy_reuses_votes(config) -> bool:
    """Whether democracy takes single-cell decoding's per-cell predictions (both analyses
    run and the democracy base is a single-cell classifier); the pipeline also needs them to
    fit in memory (:func:`gpudecode.pipeline.decode_epochs`)."""
    return ({"single-cell", "democracy"} <= set(config.analyses)
            and config.democracy_base in config.classifiers)


def _windows(n_frames: int, width: int, step: int) -> int:
    return max(0, (n_frames - width) // step + 1) if width <= n_frames else 0


def problem_sizes(epochs, config) -> list[AnalysisSize]:
    """The size of every analysis of ``config`` on ``epochs`` (trials x cells x frames).

    Parameters
    ----------
    epochs : Epochs
    config : DecodeConfig

    Returns
    -------
    list of AnalysisSize
        In the order the analyses run.
    """
    S, k, P = config.shuffles, config.folds, config.permutations
    n_cells = epochs.n_cells
    per_unit = S * (1 + k + P)           # fits of one unit and classifier
    stored = 2 * P + 2 * S + S * k       # accuracies kept per unit and classifier
    per_perm = 2 * _FLOAT + 1            # null accuracy and balanced accuracy; a bool to test
    sizes = []
    for analysis in config.analyses:
        if analysis == "single-cell":
            c = len(config.classifiers)
            sizes.append(AnalysisSize(analysis, n_cells, "cells", c, n_cells * c * per_unit,
                                      n_cells, (stored * _FLOAT + P) * n_cells * c,
                                      per_perm * n_cells * c))
        elif analysis == "democracy":
            c = len(config.population_classifiers)
            # single-cell's kept votes: the observed labels' and every test slot's
            shared = n_cells * S * ((1 + k) + P) if democracy_reuses_votes(config) else 0
            fits = n_cells * S * (1 + k) * (1 + P) - shared + c * S * (1 + P)
            sizes.append(AnalysisSize(analysis, n_cells, "cells", c, fits, 1,
                                      stored * _FLOAT * c, per_perm * c, shared))
        elif analysis in ("summed", "correlation"):
            c = len(config.population_classifiers)
            sizes.append(AnalysisSize(analysis, 1, "population", c, c * per_unit, 1,
                                      stored * _FLOAT * c, per_perm * c))
        elif analysis == "time-resolved":
            c = len(config.time_resolved_classifiers)
            width = to_frames(config.time_window, config.time_unit, epochs.frame_interval,
                              "time-window")
            step = to_frames(config.time_step, config.time_unit, epochs.frame_interval,
                              "time-step")
            n_win = _windows(epochs.n_frames, width, step)
            fits = n_win * c * per_unit + (c * S * n_win if config.generalization else 0)
            sizes.append(AnalysisSize(analysis, n_win, "windows", c, fits, n_win,
                                      (stored * _FLOAT + P) * n_win * c, per_perm * n_win * c))
    return sizes


def result_bytes(sizes: list[AnalysisSize], n_trials: int, permutations: int) -> int:
    """Host memory of the split plan's label sets plus every analysis's results."""
    plan = 4 * n_trials * (1 + permutations)
    return plan + sum(s.result_bytes for s in sizes)


def _gib(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB" if n >= 2**30 else f"{n / 2**20:,.0f} MiB"


def check_memory(sizes: list[AnalysisSize], n_trials: int, permutations: int,
                 free_bytes: int, fraction: float = 0.5) -> int:
    """Raise before any work when the results would not fit in ``fraction`` of free memory.

    Returns
    -------
    int
        The estimated bytes.

    Raises
    ------
    ParameterError
        Naming the estimate, the free memory and the most permutations that fit.
    """
    need = result_bytes(sizes, n_trials, permutations)
    room = fraction * free_bytes
    if need <= room:
        return need
    per_perm = 4 * n_trials + sum(s.bytes_per_permutation for s in sizes)
    fixed = need - per_perm * permutations
    most = int((room - fixed) // per_perm) if room > fixed else 0
    fix = (f"use at most --permutations {most:,} on this machine" if most > 0
           else "use fewer cells, shuffles or windows")
    raise ParameterError(f"the problem is too large: its results need about {_gib(need)} of "
                         f"memory, {_gib(free_bytes)} is free", field="--permutations", fix=fix)


def significance_notes(sizes: list[AnalysisSize], permutations: int,
                       alpha: float) -> tuple[list[str], list[str]]:
    """What the permutations can detect, per analysis and for the model ranking.

    Returns
    -------
    notes : list of str
        One line per multiple-comparison family.
    warnings : list of str
        Families in which one discovery alone cannot reach ``q < alpha``, with a count that can.
    """
    P = permutations
    if P <= 0:
        need = max([permutations_needed(s.tests, alpha) for s in sizes] + [1000])
        return [], [f"--permutations 0: no p-values, so nothing can be called significant; "
                    f"use e.g. --permutations {need:,}"]
    notes = [f"smallest p with {P:,} permutations: 1/{P + 1:,} = {smallest_p(P):.3g}"]
    warns = []
    families = [(s.analysis, f"BH across {s.tests} {s.unit} per classifier", s.tests, s.unit)
                for s in sizes if s.tests > 1]
    n_models = sum(s.classifiers for s in sizes)
    if n_models > 1:
        families.append(("model ranking", f"BH across {n_models} models", n_models, "models"))
    for name, how, m, unit in families:
        q = smallest_q(m, P)
        line = f"{name} ({how}): smallest q of a lone discovery {m}/{P + 1:,} = {q:.4g}"
        if q < alpha:
            notes.append(line)
            continue
        r = discoveries_needed(m, P, alpha)
        notes.append(line + (f"; q < {alpha:g} needs >= {r} {unit} at p = {smallest_p(P):.3g}"
                             if r is not None else f"; q < {alpha:g} is out of reach"))
        warns.append(f"{name}: with {P:,} permutations one of {m} {unit} alone cannot reach "
                     f"q < {alpha:g} ({how}); --permutations {permutations_needed(m, alpha):,} "
                     f"lets it")
    return notes, warns
