"""Learning analyses: how decoding changes across an animal's sessions.

Three questions, each answered with a permutation-style null:

- :func:`trend_test`: does a measure (decoding accuracy, number of significant cells) rise
  across sessions, per animal and across animals, and does it follow behaviour?
- :func:`cell_stability`: do the same registered cells stay significant from session to
  session, more than random cell sets of the same sizes would?
- :func:`pair_overlap`: do the top discriminative cell pairs of the correlation analysis
  recur across sessions, more than random pair sets would?

Tables are passed as a list of row dicts (what :class:`csv.DictReader` gives for
``cohort.csv``; values may be strings, empty meaning missing) or as a dict of equal-length
columns. The functions return lists of row dicts with the columns of
:data:`LEARNING_COLUMNS` / :data:`OVERLAP_COLUMNS`, ready for ``outputs.write_csv``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats

from .errors import ParameterError

__all__ = [
    "ALL",
    "LEARNING_COLUMNS",
    "OVERLAP_COLUMNS",
    "cell_stability",
    "jaccard_null",
    "pair_overlap",
    "trend_test",
]

ALL = "all"
GROUP_BY = ("target", "analysis", "classifier")
LEARNING_COLUMNS = ("scope", "target", "analysis", "classifier", "measure", "slope", "p_value",
                    "n_sessions", "behaviour_r", "behaviour_p", "p_value_two_sided",
                    "n_animals", "behaviour_rho", "behaviour_rho_p", "n_permutations")
OVERLAP_COLUMNS = ("scope", "session_a", "session_b", "n_comparisons", "n_universe", "n_a",
                   "n_b", "n_shared", "jaccard", "null_jaccard", "p_value", "n_permutations")
COMPARE = ("consecutive", "all")
NAN = float("nan")


# ----------------------------------------------------------------------------- helpers

def _check_permutations(n_permutations) -> int:
    if isinstance(n_permutations, bool) or not isinstance(n_permutations, (int, np.integer)) \
            or n_permutations < 1:
        raise ParameterError(f"n_permutations must be an integer >= 1, got {n_permutations!r}",
                             field="n_permutations", fix="use e.g. 10000")
    return int(n_permutations)


def _as_rows(table) -> list[dict]:
    if isinstance(table, Mapping):
        cols = {str(k): list(v) for k, v in table.items()}
        lengths = {len(v) for v in cols.values()}
        if len(lengths) > 1:
            raise ParameterError(f"table columns have different lengths "
                                 f"{ {k: len(v) for k, v in cols.items()} }", field="table",
                                 fix="give equal-length columns, or a list of row dicts")
        n = lengths.pop() if lengths else 0
        return [{k: v[i] for k, v in cols.items()} for i in range(n)]
    try:
        return [dict(r) for r in table]
    except (TypeError, ValueError):
        raise ParameterError("table must be a list of row dicts or a dict of columns",
                             field="table", fix="pass csv.DictReader rows or {column: values}"
                             ) from None


def _float(value, column: str, index: int) -> float:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return NAN
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"row {index}: {column} {value!r} is not a number", field=column,
                             fix="give numbers (leave the cell empty when missing)") from None
    return out if math.isfinite(out) else NAN


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def _greater_equal(null: np.ndarray, observed: float) -> np.ndarray:
    """``null >= observed`` with a little slack, so ties from rounding count as ties."""
    scale = max(abs(observed), float(np.max(np.abs(null))) if null.size else 0.0)
    return null >= observed - 1e-9 * scale


def _perm_p(null: np.ndarray, observed: float) -> float:
    return float((1 + np.count_nonzero(_greater_equal(null, observed))) / (1 + null.size))


def _pooled_within(groups: list[tuple[np.ndarray, np.ndarray]], rank: bool):
    """Correlation of two variables after removing each animal's mean (fixed animal effects).

    The p-value is the partial-correlation t-test with ``n - n_groups - 1`` degrees of
    freedom, i.e. the test of the slope in ``y ~ x + animal`` by ordinary least squares.
    """
    xs, ys = [], []
    for x, y in groups:
        if rank:
            x, y = stats.rankdata(x), stats.rankdata(y)
        xs.append(x - x.mean())
        ys.append(y - y.mean())
    if not xs:
        return NAN, NAN
    x, y = np.concatenate(xs), np.concatenate(ys)
    df = x.size - len(groups) - 1
    sxx, syy = float(x @ x), float(y @ y)
    if df < 1 or sxx <= 0 or syy <= 0:
        return NAN, NAN
    r = float(np.clip((x @ y) / math.sqrt(sxx * syy), -1.0, 1.0))
    if abs(r) == 1.0:
        return r, 0.0
    t = r * math.sqrt(df / (1.0 - r * r))
    return r, float(2.0 * stats.t.sf(abs(t), df))


def _correlations(y: np.ndarray, b: np.ndarray):
    """Pearson (r, p) and Spearman (rho, p) of one animal's sessions; NaN when undefined."""
    ok = np.isfinite(y) & np.isfinite(b)
    y, b = y[ok], b[ok]
    if y.size < 3 or np.ptp(y) == 0 or np.ptp(b) == 0:
        return NAN, NAN, NAN, NAN
    r, p = stats.pearsonr(y, b)
    rho, rho_p = stats.spearmanr(y, b)
    return float(r), float(p), float(rho), float(rho_p)


# ----------------------------------------------------------------------------- trend

def trend_test(table, measure: str = "accuracy", *, n_permutations: int = 10000,
               seed: int = 0, group_by: Sequence[str] = GROUP_BY) -> list[dict]:
    """Trend of ``measure`` across sessions, per animal and across animals, and its link
    with behaviour.

    Per animal, the slope is the ordinary least-squares slope of the measure against the
    session order: ``day`` when every session of that animal has one, else the session's
    position among the animal's rows (table order). Across animals, the statistic is the
    mean of the within-animal slopes (each animal weighs the same), tested by a
    permutation test that shuffles the measure across sessions within each animal:
    ``p = (1 + #{null >= observed}) / (1 + n_permutations)`` (one-sided, a rising trend);
    ``p_value_two_sided`` counts ``|null| >= |observed|``. Per-animal rows are tested the
    same way on that animal alone.

    Behaviour: Pearson ``behaviour_r`` and Spearman ``behaviour_rho`` between the measure
    and ``percent_correct``; per animal over its sessions (scipy.stats), across animals
    pooled within animal (each animal's means removed, ranks taken within animal for
    Spearman; t-test with ``n - n_animals - 1`` degrees of freedom).

    Parameters
    ----------
    table : list of dict, or dict of str to sequence
        Rows with ``animal``, ``session``, ``measure``, and optionally ``day``,
        ``percent_correct`` and the ``group_by`` columns (missing ones count as ``""``).
        Empty or NaN measures are left out. One row per animal and session in each group.
    measure : str
        Column to test, e.g. ``"accuracy"`` or ``"n_significant_cells"``.
    n_permutations : int
    seed : int
        Each group draws its permutations from a generator seeded with ``seed``, so a
        group's result does not depend on the other groups.
    group_by : sequence of str
        Columns that define separate tests.

    Returns
    -------
    list of dict
        Per group: the ``scope="all"`` row, then one row per animal (table order), each
        with the keys of :data:`LEARNING_COLUMNS`; ``slope`` is per unit of session order
        (per day, or per session). ``n_sessions`` counts sessions with a measure.

    Raises
    ------
    ParameterError
        A required column is missing, a value is not a number, an animal is named
        ``"all"``, or an animal has two rows for one session in a group.
    """
    n_perm = _check_permutations(n_permutations)
    rows = _as_rows(table)
    for col in ("animal", "session", measure):
        if rows and not any(col in r for r in rows):
            raise ParameterError(f"the table has no column {col!r}", field=col,
                                 fix=f"give a table with columns animal, session, {measure} "
                                     f"(and optionally day, percent_correct)")
    groups: dict[tuple, list[tuple[int, dict]]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(tuple(_text(r.get(c)) for c in group_by), []).append((i, r))
    out = []
    for key, members in groups.items():
        out.extend(_trend_group(key, members, measure, n_perm, seed, group_by))
    return out


def _trend_group(key, members, measure, n_perm, seed, group_by) -> list[dict]:
    animals: dict[str, dict] = {}
    for i, r in members:
        y = _float(r.get(measure), measure, i)
        if not np.isfinite(y):
            continue
        animal, session = _text(r.get("animal")), _text(r.get("session"))
        if animal == ALL:
            raise ParameterError(f"row {i}: animal id {ALL!r} is reserved for cohort-wide rows",
                                 field="animal", fix="rename the animal")
        a = animals.setdefault(animal, {"sessions": [], "day": [], "y": [], "b": []})
        if session in a["sessions"]:
            raise ParameterError(
                f"row {i}: animal {animal!r} session {session!r} appears twice in group "
                f"{dict(zip(group_by, key))}", field="session",
                fix="give one row per animal and session (split by target/analysis/classifier)")
        a["sessions"].append(session)
        a["day"].append(_float(r.get("day"), "day", i))
        a["y"].append(y)
        a["b"].append(_float(r.get("percent_correct"), "percent_correct", i))

    base = {"target": "", "analysis": "", "classifier": ""}
    base.update(zip(group_by, key))
    rng = np.random.default_rng(seed)
    animal_rows, null_slopes, slopes = [], [], []
    within, within_n = [], 0
    for animal, a in animals.items():
        y = np.asarray(a["y"])
        day = np.asarray(a["day"])
        b = np.asarray(a["b"])
        x = day if np.all(np.isfinite(day)) else np.arange(y.size, dtype=np.float64)
        xc = x - x.mean()
        sxx = float(xc @ xc)
        slope = p = p2 = NAN
        if sxx > 0:
            slope = float(xc @ y) / sxx
            null = rng.permuted(np.broadcast_to(y, (n_perm, y.size)), axis=1) @ xc / sxx
            p, p2 = _perm_p(null, slope), _perm_p(np.abs(null), abs(slope))
            slopes.append(slope)
            null_slopes.append(null)
        r, rp, rho, rhop = _correlations(y, b)
        ok = np.isfinite(b)
        if ok.sum() >= 2:
            within.append((y[ok], b[ok]))
            within_n += int(ok.sum())
        animal_rows.append({"scope": animal, **base, "measure": measure, "slope": slope,
                            "p_value": p, "n_sessions": int(y.size), "behaviour_r": r,
                            "behaviour_p": rp, "p_value_two_sided": p2, "n_animals": 1,
                            "behaviour_rho": rho, "behaviour_rho_p": rhop,
                            "n_permutations": n_perm})
    slope = p = p2 = NAN
    if slopes:
        slope = float(np.mean(slopes))
        null = np.mean(null_slopes, axis=0)
        p, p2 = _perm_p(null, slope), _perm_p(np.abs(null), abs(slope))
    r, rp = _pooled_within(within, rank=False)
    rho, rhop = _pooled_within(within, rank=True)
    cohort = {"scope": ALL, **base, "measure": measure, "slope": slope, "p_value": p,
              "n_sessions": int(sum(len(a["y"]) for a in animals.values())),
              "behaviour_r": r, "behaviour_p": rp, "p_value_two_sided": p2,
              "n_animals": len(slopes), "behaviour_rho": rho, "behaviour_rho_p": rhop,
              "n_permutations": n_perm}
    return [cohort] + animal_rows


# ----------------------------------------------------------------------------- overlap

def jaccard_null(n_universe: int, n_a: int, n_b: int, n_shared: int) -> tuple[float, float]:
    """Expected Jaccard index and p-value for two random subsets of one universe.

    Under the null, set A (``n_a`` items) and set B (``n_b`` items) are drawn at random
    from ``n_universe`` items, so the overlap K is hypergeometric and the Jaccard index is
    ``K / (n_a + n_b - K)`` — the exact version of a permutation test that draws random
    sets of the same sizes.

    Returns
    -------
    expected : float
        Null mean of the Jaccard index (NaN when both sets are empty).
    p_value : float
        ``P(K >= n_shared)``, one-sided for more overlap than chance.
    """
    if not 0 <= n_a <= n_universe or not 0 <= n_b <= n_universe:
        raise ParameterError(f"set sizes {n_a}, {n_b} do not fit a universe of {n_universe}",
                             field="n_universe", fix="count the sets within the universe")
    if n_a + n_b == 0:
        return NAN, NAN
    dist = stats.hypergeom(n_universe, n_a, n_b)
    k = np.arange(max(0, n_a + n_b - n_universe), min(n_a, n_b) + 1)
    expected = float(np.sum(dist.pmf(k) * k / (n_a + n_b - k)))
    return expected, float(min(1.0, dist.sf(n_shared - 1)))


def _pairs_of(n: int, compare: str) -> list[tuple[int, int]]:
    if compare == "consecutive":
        return [(i, i + 1) for i in range(n - 1)]
    return [(i, j) for i in range(n) for j in range(i + 1, n)]


def _overlap_rows(records: dict, compare: str, n_perm: int, seed: int, restrict,
                  universe_size) -> list[dict]:
    """records: animal -> list of (session, items set, cells set), in training order."""
    if compare not in COMPARE:
        raise ParameterError(f"unknown comparison {compare!r}", field="compare",
                             fix=f"use one of {', '.join(COMPARE)}")
    rng = np.random.default_rng(seed)
    out: list[dict] = []
    cohort_obs, cohort_null, cohort_expected = [], [], []
    blank = {"session_a": "", "session_b": ""}
    for animal, sessions in records.items():
        obs, nulls, expected = [], [], []
        rows = []
        for i, j in _pairs_of(len(sessions), compare):
            (sa, items_a, cells_a), (sb, items_b, cells_b) = sessions[i], sessions[j]
            common = cells_a & cells_b
            a, b = restrict(items_a, common), restrict(items_b, common)
            n, na, nb = universe_size(len(common)), len(a), len(b)
            k = len(a & b)
            jac = k / (na + nb - k) if na + nb else NAN
            ej, p = jaccard_null(n, na, nb, k)
            rows.append({"scope": animal, "session_a": sa, "session_b": sb, "n_comparisons": 1,
                         "n_universe": n, "n_a": na, "n_b": nb, "n_shared": k, "jaccard": jac,
                         "null_jaccard": ej, "p_value": p, "n_permutations": 0})
            if na + nb:
                kk = (rng.hypergeometric(na, n - na, nb, size=n_perm) if na and nb
                      else np.zeros(n_perm, dtype=np.int64))
                obs.append(jac)
                expected.append(ej)
                nulls.append(kk / (na + nb - kk))
        out.append(_summary(animal, obs, nulls, expected, n_perm, blank))
        out.extend(rows)
        cohort_obs += obs
        cohort_null += nulls
        cohort_expected += expected
    return [_summary(ALL, cohort_obs, cohort_null, cohort_expected, n_perm, blank)] + out


def _summary(scope, obs, nulls, expected, n_perm, blank) -> dict:
    row = {"scope": scope, **blank, "n_comparisons": len(obs), "n_universe": NAN, "n_a": NAN,
           "n_b": NAN, "n_shared": NAN, "jaccard": NAN, "null_jaccard": NAN, "p_value": NAN,
           "n_permutations": n_perm}
    if obs:
        mean = float(np.mean(obs))
        row.update(jaccard=mean, null_jaccard=float(np.mean(expected)),
                   p_value=_perm_p(np.mean(nulls, axis=0), mean))
    return row


def _records(by_session, items_key: str, parse_items) -> dict:
    if not isinstance(by_session, Mapping):
        raise ParameterError("expected a mapping animal -> list of session records",
                             field="sessions",
                             fix="pass {animal: [{'session': ..., '" + items_key
                                 + "': ..., 'cells': ...}, ...]}")
    out = {}
    for animal, sessions in by_session.items():
        animal = str(animal)
        if animal == ALL:
            raise ParameterError(f"animal id {ALL!r} is reserved for cohort-wide rows",
                                 field="animal", fix="rename the animal")
        recs = []
        for rec in sessions:
            missing = [k for k in ("session", items_key, "cells") if k not in rec]
            if missing:
                raise ParameterError(f"animal {animal!r}: a session record lacks "
                                     f"{', '.join(missing)}", field=missing[0],
                                     fix=f"give session, {items_key} and cells for every "
                                         f"session")
            cells = {str(c) for c in rec["cells"]}
            items = parse_items(rec[items_key], animal, str(rec["session"]), cells)
            recs.append((str(rec["session"]), items, cells))
        out[animal] = recs
    return out


def cell_stability(sig_by_session: Mapping[str, Sequence[Mapping]], *,
                   compare: str = "consecutive", n_permutations: int = 10000,
                   seed: int = 0) -> list[dict]:
    """Do the same registered cells stay significant across an animal's sessions?

    For each compared pair of sessions, only cells registered in both count (the
    universe); the statistic is the Jaccard index of the two sets of significant cells.
    Its null is two random cell sets of the same sizes from that universe
    (:func:`jaccard_null`, exact). Summary rows average the Jaccard index over the
    comparisons of an animal (``scope`` = animal) and of the cohort (``"all"``) and test
    the mean against ``n_permutations`` draws of the same null.

    Parameters
    ----------
    sig_by_session : mapping of animal -> sequence of mapping
        Per animal, its sessions in training order, each
        ``{"session": str, "significant": iterable of cohort cell ids, "cells": iterable
        of the cohort ids of all registered cells decoded in that session}``.
    compare : {"consecutive", "all"}
        Compare each session with the next one, or every pair of sessions.
    n_permutations : int
    seed : int

    Returns
    -------
    list of dict
        Keys :data:`OVERLAP_COLUMNS`: the cohort row, then per animal its summary row and
        one row per comparison (``n_universe`` = cells registered in both, ``n_a``,
        ``n_b`` = significant among them, ``n_shared``, ``jaccard``, ``null_jaccard`` =
        null mean, ``p_value``).

    Raises
    ------
    ParameterError
        A record lacks a key, or a significant cell is not among its session's cells.
    """
    n_perm = _check_permutations(n_permutations)

    def parse(values, animal, session, cells):
        sig = {str(c) for c in values}
        stray = sorted(sig - cells)
        if stray:
            raise ParameterError(f"animal {animal!r} session {session!r}: significant cells "
                                 f"{stray[:5]} are not among its cells", field="significant",
                                 fix="list every decoded registered cell under 'cells'")
        return sig

    records = _records(sig_by_session, "significant", parse)
    return _overlap_rows(records, compare, n_perm, seed, lambda s, common: s & common,
                         lambda m: m)


def pair_overlap(pairs_by_session: Mapping[str, Sequence[Mapping]], top_k: int, *,
                 compare: str = "consecutive", n_permutations: int = 10000,
                 seed: int = 0) -> list[dict]:
    """Do the top discriminative cell pairs recur across an animal's sessions?

    Each session's ``top_k`` best pairs (unordered) are compared; only pairs of cells
    registered in both sessions count, out of a universe of ``m (m - 1) / 2`` pairs for
    ``m`` shared cells. Statistic, null and summaries as in :func:`cell_stability`
    (random pair sets of the same sizes). Pairs that share cells are not independent, so
    a hub cell that stays discriminative also makes its pairs recur.

    Parameters
    ----------
    pairs_by_session : mapping of animal -> sequence of mapping
        Per animal, its sessions in training order, each ``{"session": str, "pairs":
        sequence of (cohort_id_i, cohort_id_j), best first (pairs.csv order), "cells":
        iterable of the cohort ids of all registered cells decoded in that session}``.
    top_k : int
        How many of the best pairs of each session to compare.
    compare, n_permutations, seed
        As in :func:`cell_stability`.

    Returns
    -------
    list of dict
        Keys :data:`OVERLAP_COLUMNS`, as in :func:`cell_stability` (counts are of pairs).
    """
    n_perm = _check_permutations(n_permutations)
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ParameterError(f"top_k must be an integer >= 1, got {top_k!r}", field="top_k",
                             fix="use e.g. 20")

    def parse(values, animal, session, cells):
        top = set()
        for pair in list(values)[:int(top_k)]:
            pair = tuple(str(c) for c in pair)
            if len(pair) != 2 or pair[0] == pair[1]:
                raise ParameterError(f"animal {animal!r} session {session!r}: {pair!r} is not a "
                                     f"pair of two different cells", field="pairs",
                                     fix="give pairs as (cohort_id_i, cohort_id_j)")
            stray = [c for c in pair if c not in cells]
            if stray:
                raise ParameterError(f"animal {animal!r} session {session!r}: pair cells "
                                     f"{stray} are not among its cells", field="pairs",
                                     fix="list every decoded registered cell under 'cells'")
            top.add(frozenset(pair))
        return top

    records = _records(pairs_by_session, "pairs", parse)
    return _overlap_rows(records, compare, n_perm, seed,
                         lambda s, common: {p for p in s if p <= common},
                         lambda m: m * (m - 1) // 2)
