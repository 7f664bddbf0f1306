"""Learning analyses: trend tests find planted trends and keep their size on flat cohorts;
overlap of significant cells / discriminative pairs is high when planted and at chance when
random."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from gpudecode.errors import ParameterError
from gpudecode.learning import (
    LEARNING_COLUMNS,
    OVERLAP_COLUMNS,
    cell_stability,
    jaccard_null,
    pair_overlap,
    trend_test,
)


def _cohort(seed, *, slope=0.0, n_animals=5, n_sessions=8, noise=0.05, days=None,
            behaviour_link=0.0):
    """Rows of a cohort table: per-animal accuracy = offset + slope * session + noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for a in range(n_animals):
        offset = rng.uniform(0.5, 0.7)
        for s in range(n_sessions):
            pc = 50 + 3 * s + rng.normal(0, 5)
            acc = offset + slope * s + behaviour_link * (pc - 50 - 3 * s) + rng.normal(0, noise)
            rows.append({"animal": f"m{a}", "session": f"s{s + 1:02d}",
                         "day": "" if days is None else days[s], "target": "outcome",
                         "analysis": "single-cell", "classifier": "linear-svm",
                         "accuracy": acc, "percent_correct": pc,
                         "n_significant_cells": int(rng.poisson(5 + 2 * s))})
    return rows


def _all_row(rows):
    (row,) = [r for r in rows if r["scope"] == "all"]
    return row


# ----------------------------------------------------------------------------- trend

def test_rising_accuracy_is_detected_and_slopes_match_scipy():
    table = _cohort(0, slope=0.02, n_animals=6, n_sessions=10)
    rows = trend_test(table, "accuracy", n_permutations=999, seed=1)
    assert all(tuple(r)[:len(LEARNING_COLUMNS)] == LEARNING_COLUMNS for r in rows)
    cohort = _all_row(rows)
    assert cohort["p_value"] < 0.05 and cohort["p_value_two_sided"] < 0.05
    assert cohort["n_animals"] == 6 and cohort["n_sessions"] == 60
    per_animal = [r for r in rows if r["scope"] != "all"]
    assert [r["scope"] for r in per_animal] == [f"m{a}" for a in range(6)]
    for r in per_animal:
        mine = [t for t in table if t["animal"] == r["scope"]]
        y = np.array([t["accuracy"] for t in mine])
        pc = np.array([t["percent_correct"] for t in mine])
        assert r["slope"] == pytest.approx(stats.linregress(np.arange(10), y).slope, rel=1e-10)
        assert r["behaviour_r"] == pytest.approx(stats.pearsonr(y, pc)[0], rel=1e-10)
        assert r["behaviour_p"] == pytest.approx(stats.pearsonr(y, pc)[1], rel=1e-8)
        assert r["behaviour_rho"] == pytest.approx(stats.spearmanr(y, pc)[0], rel=1e-10)
    assert cohort["slope"] == pytest.approx(np.mean([r["slope"] for r in per_animal]))
    assert 0.012 < cohort["slope"] < 0.028


def test_flat_cohorts_keep_the_false_positive_rate_near_alpha():
    one_sided, two_sided = [], []
    for seed in range(500):
        table = [{k: v for k, v in r.items() if k != "percent_correct"} for r in _cohort(seed)]
        cohort = _all_row(trend_test(table, "accuracy", n_permutations=199, seed=seed))
        one_sided.append(cohort["p_value"])
        two_sided.append(cohort["p_value_two_sided"])
    assert 0.02 <= np.mean(np.array(one_sided) <= 0.05) <= 0.09
    assert 0.02 <= np.mean(np.array(two_sided) <= 0.05) <= 0.09
    # p-values are spread out, not piled up at 1 (a test that cannot reject)
    assert 0.4 < np.mean(one_sided) < 0.6


def test_permutation_p_matches_exact_enumeration():
    y = np.array([0.52, 0.49, 0.58, 0.55, 0.61, 0.57])
    x = np.arange(6.0) - 2.5
    observed = x @ y
    exact = np.mean([x @ y[list(p)] >= observed - 1e-12
                     for p in itertools.permutations(range(6))])
    table = {"animal": ["m1"] * 6, "session": [f"s{i}" for i in range(6)], "accuracy": y}
    (cohort, animal) = trend_test(table, "accuracy", n_permutations=20000, seed=3)
    assert animal["p_value"] == pytest.approx(exact, abs=0.01)
    assert cohort["p_value"] == pytest.approx(exact, abs=0.01)
    assert 0.005 < exact < 0.1


def test_day_is_the_session_order_when_given():
    days = [1, 2, 4, 7, 8, 12, 13, 20]
    table = _cohort(5, slope=0.01, n_animals=2, days=days)
    rows = trend_test(table, "accuracy", n_permutations=99)
    for r in rows[1:]:
        y = [t["accuracy"] for t in table if t["animal"] == r["scope"]]
        assert r["slope"] == pytest.approx(stats.linregress(days, y).slope, rel=1e-10)
    # one missing day: that animal falls back to its session index
    table[3]["day"] = ""
    rows = trend_test(table, "accuracy", n_permutations=99)
    y0 = [t["accuracy"] for t in table if t["animal"] == "m0"]
    y1 = [t["accuracy"] for t in table if t["animal"] == "m1"]
    assert rows[1]["slope"] == pytest.approx(stats.linregress(np.arange(8), y0).slope)
    assert rows[2]["slope"] == pytest.approx(stats.linregress(days, y1).slope)


def test_pooled_behaviour_correlation_is_the_ols_test_with_animal_effects():
    table = _cohort(2, n_animals=4, n_sessions=9, behaviour_link=0.01)
    cohort = _all_row(trend_test(table, "accuracy", n_permutations=99))
    y = np.array([t["accuracy"] for t in table])
    pc = np.array([t["percent_correct"] for t in table])
    animal = np.array([t["animal"] for t in table])
    dummies = (animal[:, None] == np.unique(animal)[None, :]).astype(float)
    design = np.column_stack([pc, dummies])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    df = y.size - design.shape[1]
    cov = (resid @ resid / df) * np.linalg.inv(design.T @ design)
    t = coef[0] / math.sqrt(cov[0, 0])
    assert cohort["behaviour_p"] == pytest.approx(2 * stats.t.sf(abs(t), df), rel=1e-6)
    assert cohort["behaviour_r"] == pytest.approx(t / math.sqrt(t * t + df), rel=1e-8)
    assert cohort["behaviour_r"] > 0.3 and cohort["behaviour_p"] < 0.05


def test_groups_strings_and_missing_values():
    table = _cohort(4, slope=0.03, n_animals=3)
    other = [dict(r, target="location", accuracy=r["accuracy"] * 0 + 0.5) for r in table]
    as_text = [{k: str(v) for k, v in r.items()} for r in table + other]   # like DictReader
    as_text[0]["accuracy"] = ""                     # a session without this measure
    rows = trend_test(as_text, "accuracy", n_permutations=199, seed=7)
    by_target = {r["target"]: r for r in rows if r["scope"] == "all"}
    assert set(by_target) == {"outcome", "location"}
    assert by_target["outcome"]["n_sessions"] == 23
    assert by_target["outcome"]["p_value"] < 0.05
    assert by_target["location"]["slope"] == 0 and by_target["location"]["p_value"] == 1.0
    # a group's result does not depend on the other groups in the table
    alone = trend_test([r for r in as_text if r["target"] == "outcome"], "accuracy",
                       n_permutations=199, seed=7)
    assert alone == [r for r in rows if r["target"] == "outcome"]
    counts = _all_row(trend_test(table, "n_significant_cells", n_permutations=199))
    assert counts["measure"] == "n_significant_cells" and counts["p_value"] < 0.05


def test_bad_tables():
    table = _cohort(0, n_animals=2, n_sessions=3)
    with pytest.raises(ParameterError, match="no column 'balanced'"):
        trend_test(table, "balanced")
    with pytest.raises(ParameterError, match="is not a number"):
        trend_test([dict(table[0], accuracy="high")] + table[1:], "accuracy")
    with pytest.raises(ParameterError, match="appears twice"):
        trend_test(table + table[:1], "accuracy")
    with pytest.raises(ParameterError, match="reserved"):
        trend_test([dict(r, animal="all") for r in table], "accuracy")
    with pytest.raises(ParameterError, match="different lengths"):
        trend_test({"animal": ["a"], "session": ["s", "t"], "accuracy": [1.0]}, "accuracy")
    with pytest.raises(ParameterError, match="n_permutations"):
        trend_test(table, "accuracy", n_permutations=0)


# ----------------------------------------------------------------------------- overlap

@pytest.mark.parametrize("n, a, b, k", [(40, 8, 10, 4), (30, 12, 5, 0), (25, 20, 22, 18)])
def test_jaccard_null_matches_random_sets(n, a, b, k):
    rng = np.random.default_rng(0)
    draws = 20000
    in_a = rng.random((draws, n)).argsort(axis=1) < a         # random a-subsets of n items
    in_b = rng.random((draws, n)).argsort(axis=1) < b
    shared = np.sum(in_a & in_b, axis=1)
    expected, p = jaccard_null(n, a, b, k)
    assert expected == pytest.approx(np.mean(shared / (a + b - shared)), abs=0.01)
    assert p == pytest.approx(np.mean(shared >= k), abs=0.01)


def _stability_input(rng, n_animals, n_sessions, n_cells, n_sig, planted):
    out = {}
    for a in range(n_animals):
        fixed = rng.choice(n_cells, n_sig, replace=False)
        sessions = []
        for s in range(n_sessions):
            # each session misses a few registered cells
            cells = np.setdiff1d(np.arange(n_cells), rng.choice(n_cells, 3, replace=False))
            sig = np.intersect1d(fixed, cells) if planted else rng.choice(cells, n_sig,
                                                                          replace=False)
            sessions.append({"session": f"s{s + 1:02d}", "significant": [f"c{c}" for c in sig],
                             "cells": [f"c{c}" for c in cells]})
        out[f"m{a}"] = sessions
    return out


def test_planted_stable_cells_overlap_far_above_chance():
    rng = np.random.default_rng(1)
    rows = cell_stability(_stability_input(rng, 3, 5, 80, 10, planted=True),
                          n_permutations=999)
    assert all(tuple(r) == OVERLAP_COLUMNS for r in rows)
    pairs = [r for r in rows if r["session_a"]]
    assert len(pairs) == 3 * 4
    for r in pairs:
        assert r["jaccard"] == 1.0 and r["n_universe"] <= 77 and r["n_a"] == r["n_b"]
        assert r["null_jaccard"] < 0.15 and r["p_value"] < 1e-6
    cohort = rows[0]
    assert cohort["scope"] == "all" and cohort["n_comparisons"] == 12
    assert cohort["p_value"] == pytest.approx(1 / 1000)
    assert [r["scope"] for r in rows if not r["session_a"]] == ["all", "m0", "m1", "m2"]


def test_random_significant_cells_sit_at_the_null():
    jac, null, p_pair, p_cohort = [], [], [], []
    for seed in range(200):
        rng = np.random.default_rng(100 + seed)
        rows = cell_stability(_stability_input(rng, 2, 4, 50, 8, planted=False),
                              n_permutations=199, seed=seed)
        pairs = [r for r in rows if r["session_a"]]
        jac += [r["jaccard"] for r in pairs]
        null += [r["null_jaccard"] for r in pairs]
        p_pair += [r["p_value"] for r in pairs]
        p_cohort.append(rows[0]["p_value"])
    assert np.mean(jac) == pytest.approx(np.mean(null), rel=0.08)
    assert np.mean(np.array(p_pair) <= 0.05) <= 0.07
    assert 0.01 <= np.mean(np.array(p_cohort) <= 0.05) <= 0.09
    assert 0.4 < np.mean(p_cohort) < 0.6


def test_only_cells_registered_in_both_sessions_count():
    data = {"m1": [{"session": "a", "significant": ["1", "2", "3"], "cells": ["1", "2", "3", "4"]},
                   {"session": "b", "significant": ["2", "5"], "cells": ["2", "4", "5", "6"]},
                   {"session": "c", "significant": [], "cells": ["2", "5"]}]}
    rows = cell_stability(data, n_permutations=9)
    ab, bc = rows[2], rows[3]
    assert (ab["n_universe"], ab["n_a"], ab["n_b"], ab["n_shared"]) == (2, 1, 1, 1)
    assert ab["jaccard"] == 1.0 and ab["null_jaccard"] == pytest.approx(0.5)
    assert ab["p_value"] == pytest.approx(0.5)
    assert (bc["n_universe"], bc["n_a"], bc["n_b"], bc["jaccard"], bc["p_value"]) == (
        2, 2, 0, 0.0, 1.0)
    everything = cell_stability(data, compare="all", n_permutations=9)
    assert len([r for r in everything if r["session_a"]]) == 3
    with pytest.raises(ParameterError, match="not among its cells"):
        cell_stability({"m1": [{"session": "a", "significant": ["9"], "cells": ["1"]}]})
    with pytest.raises(ParameterError, match="lacks cells"):
        cell_stability({"m1": [{"session": "a", "significant": ["1"]}]})
    with pytest.raises(ParameterError, match="unknown comparison"):
        cell_stability(data, compare="next")


def _pairs_input(rng, n_sessions, n_cells, n_pairs, planted):
    cells = [f"c{i}" for i in range(n_cells)]
    all_pairs = list(itertools.combinations(cells, 2))
    fixed = [all_pairs[i] for i in rng.choice(len(all_pairs), n_pairs, replace=False)]
    sessions = []
    for s in range(n_sessions):
        if planted:     # the same top pairs, reshuffled ranks, some written (j, i)
            top = [p[::-1] if rng.random() < 0.5 else p for p in rng.permutation(fixed)]
        else:
            top = [all_pairs[i] for i in rng.choice(len(all_pairs), n_pairs, replace=False)]
        tail = [all_pairs[i] for i in rng.choice(len(all_pairs), 30, replace=False)]
        sessions.append({"session": f"s{s}", "pairs": top + tail, "cells": cells})
    return sessions


def test_planted_pairs_recur_random_pairs_do_not():
    rng = np.random.default_rng(2)
    planted = pair_overlap({"m1": _pairs_input(rng, 4, 30, 15, True),
                            "m2": _pairs_input(rng, 4, 30, 15, True)},
                           top_k=15, n_permutations=999)
    pairs = [r for r in planted if r["session_a"]]
    assert all(r["n_universe"] == 435 and r["n_a"] == 15 for r in pairs)
    assert all(r["jaccard"] == 1.0 and r["p_value"] < 1e-10 for r in pairs)
    assert planted[0]["p_value"] == pytest.approx(1 / 1000)
    assert planted[0]["null_jaccard"] < 0.03
    jac, null, p = [], [], []
    for seed in range(40):
        rng = np.random.default_rng(200 + seed)
        rows = pair_overlap({"m1": _pairs_input(rng, 5, 20, 40, False)}, top_k=40,
                            n_permutations=199, seed=seed)
        jac += [r["jaccard"] for r in rows if r["session_a"]]
        null += [r["null_jaccard"] for r in rows if r["session_a"]]
        p.append(rows[0]["p_value"])
    assert np.mean(jac) == pytest.approx(np.mean(null), rel=0.1)
    assert np.mean(np.array(p) <= 0.05) <= 0.15
    # top_k counts: beyond the planted 15, the random tail dilutes the overlap
    diluted = pair_overlap({"m1": _pairs_input(np.random.default_rng(3), 3, 30, 15, True)},
                           top_k=45, n_permutations=99)
    assert all(0.2 < r["jaccard"] < 0.8 for r in diluted if r["session_a"])


def test_bad_pairs():
    ok = {"session": "a", "pairs": [("1", "2")], "cells": ["1", "2"]}
    with pytest.raises(ParameterError, match="top_k"):
        pair_overlap({"m1": [ok]}, top_k=0)
    with pytest.raises(ParameterError, match="not a pair of two different cells"):
        pair_overlap({"m1": [dict(ok, pairs=[("1", "1")])]}, top_k=5)
    with pytest.raises(ParameterError, match="not among its cells"):
        pair_overlap({"m1": [dict(ok, pairs=[("1", "3")])]}, top_k=5)
