"""Problem sizes, attainable significance and the memory check, said before a run.

The q-value bounds are checked against scipy's Benjamini-Hochberg
(``scipy.stats.false_discovery_control``); the fit counts against what the engines report
solving (their progress totals and timing counts).
"""

import numpy as np
import pytest
from scipy.stats import false_discovery_control

from gpudecode import Epochs
from gpudecode.democracy import decode_democracy
from gpudecode.errors import ParameterError
from gpudecode.pipeline import DecodeConfig
from gpudecode.population import decode_summed
from gpudecode.problem_size import (check_memory, discoveries_needed, permutations_needed,
                                    problem_sizes, result_bytes, significance_notes,
                                    smallest_p, smallest_q)
from gpudecode.single_cell import decode_cells
from gpudecode.splits import SplitPlan
from gpudecode.time_resolved import decode_timecourse


def _bh_of_lone_discoveries(m: int, P: int, r: int) -> float:
    """scipy's BH q of r p-values at 1/(P+1) among m, the others 1."""
    p = np.ones(m)
    p[:r] = 1 / (P + 1)
    return float(false_discovery_control(p)[0])


@pytest.mark.parametrize("m, P", [(109, 100), (109, 1000), (40, 50), (7, 100), (1, 19)])
def test_smallest_q_is_scipy_bh_of_one_discovery(m, P):
    assert smallest_p(P) == pytest.approx(1 / (P + 1))
    assert smallest_q(m, P) == pytest.approx(min(1.0, _bh_of_lone_discoveries(m, P, 1)))


@pytest.mark.parametrize("m, alpha", [(109, 0.05), (40, 0.05), (14, 0.05), (7, 0.1), (200, 0.01)])
def test_permutations_needed_is_the_fewest_that_reach_alpha(m, alpha):
    P = permutations_needed(m, alpha)
    assert _bh_of_lone_discoveries(m, P, 1) < alpha
    # one fewer leaves q at alpha or above (exactly alpha when m / alpha is whole)
    assert _bh_of_lone_discoveries(m, P - 1, 1) >= alpha * (1 - 1e-12)


@pytest.mark.parametrize("m, P", [(109, 100), (40, 50), (14, 50), (109, 1000)])
def test_discoveries_needed_is_the_fewest_that_reach_alpha(m, P):
    r = discoveries_needed(m, P, 0.05)
    assert r is not None
    assert _bh_of_lone_discoveries(m, P, r) < 0.05
    if r > 1:
        assert _bh_of_lone_discoveries(m, P, r - 1) >= 0.05


def test_out_of_reach_and_no_permutations():
    assert discoveries_needed(10, 10, 0.05) is None          # even 10 of 10 at p=1/11: q=0.09
    assert discoveries_needed(10, 0, 0.05) is None
    assert np.isnan(smallest_p(0)) and np.isnan(smallest_q(10, 0))


def _epochs(n_trials=24, n_cells=6, n_frames=30, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.array(["a", "b"] * (n_trials // 2))
    data = rng.normal(size=(n_trials, n_cells, n_frames)).astype(np.float32)
    data[labels == "a", 0, 10:20] += 2.0
    return Epochs(data, labels, np.arange(n_frames) / 30.0 - 0.5, {},
                  np.array([f"c{i}" for i in range(n_cells)]), {}, None, 1 / 30.0)


def test_fit_counts_match_what_the_engines_solve():
    ep = _epochs()
    config = DecodeConfig(analyses="all", classifiers="lda,tree",
                          population_classifiers="linear-svm,lda", shuffles=3, folds=2,
                          permutations=7, window_frames=4, step_frames=2, time_window=6, time_step=3)
    sizes = {s.analysis: s for s in problem_sizes(ep, config)}
    assert list(sizes) == list(config.analyses)
    plan = SplitPlan(n_shuffles=3, n_folds=2, n_permutations=7, seed=0).fit(ep.labels)

    calls = []
    cells = decode_cells(ep, plan, classifiers="lda,tree", window_frames=4, step_frames=2,
                         progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (sizes["single-cell"].fits, sizes["single-cell"].fits)
    assert cells.timing["n_problems"] == sizes["single-cell"].fits
    assert sizes["single-cell"].tests == ep.n_cells

    calls = []
    tc = decode_timecourse(ep, plan, "linear-svm,lda", time_window=6, time_step=3,
                           progress=lambda d, t: calls.append((d, t)))
    assert sizes["time-resolved"].units == tc.times.size == sizes["time-resolved"].tests
    assert calls[-1] == (sizes["time-resolved"].fits, sizes["time-resolved"].fits)

    dem = decode_democracy(ep, plan, "linear-svm,lda", base="linear-svm", window_frames=4,
                           step_frames=2)
    assert dem.timing["n_base_problems"] + dem.timing["n_stacker_fits"] \
        == sizes["democracy"].fits

    calls = []
    decode_summed(ep, plan, "linear-svm,lda", progress=lambda d, t: calls.append((d, t)))
    L = plan.Y_.shape[0]
    assert calls[-1] == (2 * L, 2 * L)                       # label sets, both classifiers
    assert sizes["summed"].fits == 2 * plan.n_shuffles * (1 + plan.n_folds + 7)


def test_memory_check_names_the_estimate_and_a_count_that_fits():
    ep = _epochs()
    config = DecodeConfig(analyses="single-cell,time-resolved", permutations=1_000_000_000)
    sizes = problem_sizes(ep, config)
    free = 8 * 2**30
    with pytest.raises(ParameterError) as info:
        check_memory(sizes, ep.n_trials, config.permutations, free)
    err = info.value
    assert err.field == "--permutations" and "too large" in str(err) and "GiB" in str(err)
    most = int(err.fix.split("--permutations ")[1].split()[0].replace(",", ""))
    fits = problem_sizes(ep, DecodeConfig(analyses="single-cell,time-resolved",
                                          permutations=most))
    assert result_bytes(fits, ep.n_trials, most) <= 0.5 * free
    assert check_memory(fits, ep.n_trials, most, free) > 0
    # and a small run passes
    small = problem_sizes(ep, DecodeConfig(permutations=1000))
    assert check_memory(small, ep.n_trials, 1000, free) < 2**20


def test_notes_warn_only_where_a_lone_discovery_cannot_pass():
    ep = _epochs(n_cells=40)
    few = problem_sizes(ep, DecodeConfig(analyses="single-cell", permutations=100))
    notes, warns = significance_notes(few, 100, 0.05)
    assert "1/101" in notes[0]
    assert len(warns) == 1                                   # 3 models in the ranking pass
    assert "single-cell" in warns[0] and "--permutations 800" in warns[0]
    many = problem_sizes(ep, DecodeConfig(analyses="single-cell", permutations=800))
    notes, warns = significance_notes(many, 800, 0.05)
    assert warns == [] and len(notes) == 3
    _, warns = significance_notes(few, 0, 0.05)
    assert len(warns) == 1 and "no p-values" in warns[0]


def test_democracy_counts_only_the_per_cell_fits_single_cell_does_not_solve():
    """With its base among the single-cell classifiers, democracy solves the permuted labels'
    CV folds only; the count it announces is what it solves."""
    ep = _epochs()
    config = DecodeConfig(analyses="single-cell,democracy", classifiers="lda,linear-svm",
                          population_classifiers="lda", shuffles=3, folds=2, permutations=7,
                          window_frames=4, step_frames=2)
    size = {s.analysis: s for s in problem_sizes(ep, config)}["democracy"]
    plan = SplitPlan(n_shuffles=3, n_folds=2, n_permutations=7, seed=0).fit(ep.labels)
    keep = {"linear-svm": None}
    decode_cells(ep, plan, classifiers="lda,linear-svm", window_frames=4, step_frames=2,
                 keep=keep)
    dem = decode_democracy(ep, plan, "lda", window_frames=4, step_frames=2,
                           votes=keep["linear-svm"])
    assert size.fits == dem.timing["n_base_problems_solved"] + dem.timing["n_stacker_fits"]
    assert size.reused == dem.timing["n_base_problems"] - dem.timing["n_base_problems_solved"]
    text = size.describe(3, 2, 7)
    assert f"the other {size.reused:,} are single-cell's" in text and f"{size.fits:,} fits" in text
