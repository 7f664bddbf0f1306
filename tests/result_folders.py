"""Small real result folders for the tests of outputs, faults and reports (seconds each)."""

import contextlib
import os
import shutil
import subprocess
import warnings

import pytest

from gpudecode.pipeline import DecodeConfig, decode_session
from gpudecode.simulate import simulate_session
from gpudecode.targets import resolve_targets

# Summed activity and correlations with a random forest: real work, no numba compile.
FAST = dict(population_classifiers="random-forest", shuffles=3, folds=2, permutations=0,
            device="cpu", select_k=10)


def small_session(seed=1, n_cells=10):
    return simulate_session(seed=seed, n_cells=n_cells, n_trials=36)[0]


def outcome_spec():
    return resolve_targets("outcome")[0].spec


def decode_into(out, analyses="summed,correlation", session=None, **kw):
    """``decode_session`` of a small simulated session into ``out``; returns the outcome."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return decode_session(session if session is not None else small_session(),
                              outcome_spec(), DecodeConfig(analyses=analyses, **FAST), out, **kw)


def cli_decode_args(traces, out, analyses="summed,correlation"):
    """``gpudecode decode`` arguments for the same small plan."""
    return ["decode", str(traces), "--target", "outcome", "--analysis", analyses,
            "--population-classifier", "random-forest", "--shuffles", "3", "--folds", "2",
            "--permutations", "0", "--select-k", "10", "--device", "cpu", "--out", str(out)]


@contextlib.contextmanager
def read_only(folder):
    """Make ``folder`` (and what is in it) read-only for real: a read-only bind mount when
    running as root (root writes past permissions), permissions otherwise. Skips the test
    when neither can be done here."""
    folder = str(folder)
    if os.geteuid() == 0:
        mount = shutil.which("mount")
        ok = mount and subprocess.run([mount, "--bind", folder, folder],
                                      capture_output=True).returncode == 0
        if ok and subprocess.run([mount, "-o", "remount,ro,bind", folder, folder],
                                 capture_output=True).returncode != 0:
            subprocess.run(["umount", folder], capture_output=True)
            ok = False
        if not ok:
            pytest.skip("running as root without mount: cannot make a folder read-only")
        try:
            yield
        finally:
            subprocess.run(["umount", folder], capture_output=True)
        return
    modes = {}
    for root, dirs, _files in os.walk(folder):
        for d in [root, *(os.path.join(root, x) for x in dirs)]:
            modes[d] = os.stat(d).st_mode
            os.chmod(d, 0o555)
    try:
        yield
    finally:
        for d, mode in modes.items():
            os.chmod(d, mode)
