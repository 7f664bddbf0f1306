"""Named decoding targets: built-ins cut the simulator's trials as its ground truth says."""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
import pytest

from gpudecode.errors import FormatError, InputFileError, ParameterError
from gpudecode.io import load_session
from gpudecode.simulate import TRIAL_TYPES, simulate_session, write_simulation
from gpudecode.targets import BUILTIN, Target, load_targets, resolve_targets
from gpudecode.trials import TrialSpec, make_epochs

N_TRIALS = 36


@pytest.fixture(scope="module")
def sim():
    # session_index 3: early in training, so many errors and correction trials
    session, truth = simulate_session(n_cells=12, n_trials=N_TRIALS, seed=3, session_index=3)
    assert truth["n_correction_trials"] > 0
    assert 0 < truth["trial_correct"].sum() < N_TRIALS
    return session, truth


def _epochs(session, spec):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_epochs(session, spec)


def _expected(truth) -> dict[str, Counter]:
    """Labels of the scheduled trials per built-in target, from the simulator's ground truth."""
    tt = truth["trial_type"]
    correct = truth["trial_correct"].astype(bool)
    touched = [TRIAL_TYPES[t][1] if c else TRIAL_TYPES[t][3] for t, c in zip(tt, correct)]
    return {
        "outcome": Counter("Correct" if c else "Incorrect" for c in correct),
        "location": Counter(str(loc) for loc in touched),
        "object": Counter(TRIAL_TYPES[t][0] for t in tt),
        "trial-type": Counter(str(t) for t in tt),
    }


def test_builtins_are_the_touchscreen_targets():
    targets = load_targets()
    assert list(targets)[:4] == ["outcome", "location", "object", "trial-type"]
    for name, t in targets.items():
        assert isinstance(t, Target) and isinstance(t.spec, TrialSpec)
        assert t.name == name and t.source == BUILTIN and t.description
        assert t.as_dict()["anchors"] == list(t.spec.anchors)


@pytest.mark.parametrize("name", ["outcome", "location", "object", "trial-type"])
def test_builtin_target_gives_the_planted_classes(sim, name):
    session, truth = sim
    target = resolve_targets(name)[0]
    ep = _epochs(session, target.spec)
    expected = _expected(truth)[name]
    assert ep.counts() == dict(sorted(expected.items()))
    # exactly the correction attempts were dropped, nothing else
    assert ep.dropped == {target.spec.exclusion_reason(): truth["n_correction_trials"]}
    rows = ep.trials["event_index"].astype(int)
    assert np.all(session.events.attrs["correction"][rows] == 0)
    assert np.array_equal(np.sort(session.events.attrs["trial"][rows]), np.arange(N_TRIALS))


def test_class_counts_of_the_multiclass_targets(sim):
    session, _ = sim
    counts = {n: _epochs(session, resolve_targets(n)[0].spec).counts()
              for n in ("object", "trial-type")}
    assert counts["object"] == {"airplane": 12, "flower": 12, "spider": 12}
    assert counts["trial-type"] == {str(t): 6 for t in range(1, 7)}


def test_builtins_work_on_the_abet_log_read_back(sim, tmp_path):
    _, truth = sim
    paths = write_simulation(tmp_path, [sim], formats=("abet",))
    by_suffix = {p.name.rsplit("_", 1)[-1]: p for p in paths}
    read = load_session(by_suffix["traces.csv"], by_suffix["abet.csv"], sync_event="TTL #1",
                        sync_pulses=by_suffix["sync.txt"])
    expected = _expected(truth)
    for target in resolve_targets(["outcome", "location", "object", "trial-type"]):
        ep = _epochs(read, target.spec)
        assert ep.counts() == dict(sorted(expected[target.name].items())), target.name


USER = """
[targets.outcome]
description = "outcome, short window"
anchors = ["Correct", "Incorrect"]
pre = 0.5
post = 1.5

[targets.display-location]
anchors = ["Display Image"]
label_attr = "location"
exclude_events = ["Start Correction Trial"]
exclude_within = 12
"""


def test_user_file_adds_and_overrides(tmp_path, sim):
    path = tmp_path / "my_targets.toml"
    path.write_text(USER)
    targets = load_targets(path)
    assert list(targets)[:5] == ["outcome", "location", "object", "trial-type",
                                 "display-location"]
    out = targets["outcome"]
    assert out.source == str(path) and out.description == "outcome, short window"
    # replaced whole: the built-in's exclusion is not merged in
    assert (out.spec.pre, out.spec.post, out.spec.exclude_events) == (0.5, 1.5, ())
    assert targets["location"].source == BUILTIN
    new = targets["display-location"]
    assert new.spec.label == "attr" and new.spec.label_attr == "location"
    assert new.spec.pre == 1.0 and new.spec.post == 1.0 and new.description == ""
    # the display-locked location is the target's home location
    session, truth = sim
    ep = _epochs(session, new.spec)
    assert ep.counts() == dict(sorted(Counter(str(TRIAL_TYPES[t][1])
                                              for t in truth["trial_type"]).items()))
    assert [t.name for t in resolve_targets("display-location, outcome,outcome", path)] == [
        "display-location", "outcome"]
    assert load_targets()["outcome"].spec.exclude_events == ("Start Correction Trial",)


def test_unknown_target_names_the_known_ones(tmp_path):
    with pytest.raises(ParameterError) as info:
        resolve_targets(["outcome", "locaton"])
    msg = str(info.value)
    assert "'locaton'" in msg and "did you mean 'locaton' -> 'location'?" in msg
    assert "trial-type" in msg and "[target]" in msg
    with pytest.raises(ParameterError, match="no target names"):
        resolve_targets(" , ")


@pytest.mark.parametrize("text, field, fragment", [
    ("[targets.x\nanchors = 1", "toml", "not valid TOML"),
    ("[targets.x]\nanchor = ['A']", "targets.x.anchor", "did you mean 'anchors'"),
    ("[targets.x]\npre = 1.0", "targets.x.anchors", "has no anchors"),
    ("[targets.x]\nanchors = ['A']\npre = '1'", "targets.x.pre", "number of seconds"),
    ("[targets.x]\nanchors = ['A']\npre = true", "targets.x.pre", "number of seconds"),
    ("[targets.x]\nanchors = [1, 2]", "targets.x.anchors", "list of event names"),
    ("[targets.x]\nanchors = ['A']\nlabel_events = ['B']\nlabel_window = [1]",
     "targets.x.label_window", "two numbers"),
    ("[targets.x]\nanchors = ['A']\nlabel = 'attr'", "targets.x.label_attr",
     "needs an attribute column"),
    ("[targets.x]\nanchors = ['A']\npre = -2.0", "targets.x.pre", "is empty"),
    ("[targets.x]\nanchors = ['A']\nlabel = 'guess'", "targets.x.label", "unknown label rule"),
    ("[targets.'a b']\nanchors = ['A']", "targets.a b", "not allowed"),
    ("[targets]\nx = 3", "targets.x", "must be a table"),
    ("anchors = ['A']", "anchors", "unexpected top-level key"),
    ("# nothing here\n", "targets", "no targets defined"),
])
def test_bad_file_names_file_field_and_fix(tmp_path, text, field, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(FormatError) as info:
        load_targets(path)
    err = info.value
    assert err.path == str(path) and err.field == field and err.fix
    assert fragment in str(err) and str(path) in str(err)
    with pytest.raises(FormatError):
        resolve_targets("outcome", path)


def test_missing_targets_file(tmp_path):
    with pytest.raises(InputFileError, match="targets file not found"):
        load_targets(tmp_path / "nope.toml")
