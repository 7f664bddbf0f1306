"""Realistic synthetic sessions of the touchscreen paired-associates (PAL) task.

The task
--------
Three object-location pairs: flower-left (1), airplane-middle (2), spider-right (3). On each
trial two objects are shown: the *target* in its own place and a *distractor* in a wrong
place (the third location stays empty). Touching the target is correct. That gives six
trial types (:data:`TRIAL_TYPES`)::

    type  target@location   distractor@location   empty
    1     flower@1          spider@2              3
    2     flower@1          airplane@3            2
    3     airplane@2        flower@3              1
    4     airplane@2        spider@1              3
    5     spider@3          flower@2              1
    6     spider@3          airplane@1            2

A session has ``n_trials`` (36 = 6 types x 6, shuffled) scheduled trials. After an incorrect
choice, correction trials repeat the same display until the animal is correct; they start
with a ``Start Correction Trial`` event, carry ``correction=1`` and do not count among the
scheduled trials. The probability of a correct choice follows a per-animal logistic learning
curve over ``n_sessions`` sessions (about 0.5 on the first, 0.85 on the last).

Timeline of one attempt (behaviour clock, seconds)::

    Tray #1                      trial initiation (nose poke into the lit tray)
    Start Correction Trial       same time, correction attempts only
    TTL #1, Display Image        0.4-0.6 s later (TTL = sync pulse seen by the imaging system)
    Touch Down Event, Correct|Incorrect    response latency 0.8-10 s (median 2.5 s)
    Feeder #1                    10 ms after Correct
    Tray #1, Reward Collected Start ITI    1-4 s after Correct; then ITI 10-20 s
    (after Incorrect: 5 s time-out, then ITI 10-20 s)

So anchors on ``Correct``/``Incorrect`` of correction attempts lie 0.9-11 s after their
``Start Correction Trial`` and those of scheduled trials at least 15 s away from any:
``exclude_events=("Start Correction Trial",), exclude_within=12`` drops exactly the
correction attempts (the ``correction`` attribute says the same).

Event attributes (ABET II compatible: the event name is ABET's ``Item_Name``):
``Evnt_Name``, ``Alias_Name``, ``Group_ID``, ``Arg1_Value`` and ``Position`` (the touched
position 1-3, on touches only: ABET's ``Arg1_Name`` = ``Position``), and on every
trial-related event ``trial`` (0-based scheduled trial),
``attempt`` (0-based over all displays), ``trial_type`` (1-6), ``correction`` (0/1),
``object``/``location`` and ``distractor_object``/``distractor_location``. ``object`` and
``location`` name what the event is about: the target on ``Display Image`` / ``TTL #1`` /
``Tray #1`` / ``Start Correction Trial``, the touched one on ``Touch Down Event``,
``Correct``, ``Incorrect``, ``Feeder #1`` and ``Reward Collected Start ITI``.

The cells
---------
Each cell fires Poisson spikes at a baseline rate (median 0.5 Hz); planted roles add rate
(``gain`` Hz, scaled by ``effect`` and a per-cell factor of mean 1) in a window on a fraction
``reliability`` of the relevant attempts:

- ``outcome``: ``[choice + onset, choice + onset + duration]`` after ``Correct`` only;
- ``location``: ``[touch - 0.1, touch + 0.5]`` s when the touched location is the preferred one;
- ``object``: ``[display + 0.1, display + 0.7]`` s when the target is the preferred object;
- ``ensemble``: extra spikes in the outcome window after every choice, the same expected
  number after ``Correct`` and ``Incorrect``, but after ``Correct`` all members fire
  together (shared spike times, 15 ms jitter) and after ``Incorrect`` independently;
- ``untuned``: baseline only (the remaining ~70% by default).

Spikes are convolved with a GCaMP-like double exponential (rise 50 ms, decay 0.4-0.7 s per
cell, peak 0.3 dF/F per spike, per-cell lognormal), plus Gaussian noise and slow drift
(a sinusoid and a smoothed random walk). Roles, preferences and cell properties depend only
on ``seed`` (the animal), so every session simulated with the same seed has the same cells;
behaviour, spikes, noise and drift depend on ``seed`` and ``session_index``.

Clocks: the imaging recording starts at 0 s; the behaviour clock starts ``clock_offset``
s later and runs ``clock_scale`` times as fast (imaging = offset + scale * behaviour). The
returned session has events on the imaging clock; the ABET file is written on the behaviour
clock, with the imaging-side ``TTL #1`` pulse times beside it.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from scipy.signal import lfilter

from .atomic import atomic_path, atomic_write_text
from .errors import ParameterError
from .session import Events, Session

__all__ = [
    "OBJECTS", "HOME_LOCATION", "LOCATION_NAMES", "TRIAL_TYPES", "ROLES", "DEFAULT_ROLES",
    "DEFAULT_GAINS", "OUTPUT_FORMATS", "learning_curve", "simulate_session", "simulate_cohort",
    "write_simulation",
]

OBJECTS = ("flower", "airplane", "spider")
HOME_LOCATION = {"flower": 1, "airplane": 2, "spider": 3}
LOCATION_NAMES = {1: "left", 2: "middle", 3: "right"}
# trial_type -> (target object, target location, distractor object, distractor location)
TRIAL_TYPES: dict[int, tuple[str, int, str, int]] = {
    1: ("flower", 1, "spider", 2),
    2: ("flower", 1, "airplane", 3),
    3: ("airplane", 2, "flower", 3),
    4: ("airplane", 2, "spider", 1),
    5: ("spider", 3, "flower", 2),
    6: ("spider", 3, "airplane", 1),
}
ROLES = ("outcome", "location", "object", "ensemble")
DEFAULT_ROLES = {"outcome": 0.10, "location": 0.08, "object": 0.08, "ensemble": 0.05}
DEFAULT_GAINS = {"outcome": 5.0, "location": 5.0, "object": 5.0, "ensemble": 4.0}
OUTPUT_FORMATS = ("h5", "csv", "abet", "nwb")

MAX_CORRECTIONS = 30          # correction attempts after one scheduled trial, at most
TIMEOUT_S = 5.0               # after an incorrect choice
ITI_S = (10.0, 20.0)
SCHEDULE_START_S = 0.05       # behaviour-clock time of "Schedule Startup Event" (ABET drops t=0)
TAIL_S = 10.0                 # recording after the last event
ENSEMBLE_JITTER_S = 0.015
ENSEMBLE_PARTICIPATION = 0.9

# Item_Name -> (Evnt_Name, Group_ID)
_ABET_KIND = {
    "Schedule Startup Event": ("Schedule Startup Event", 0),
    "Tray #1": ("Input Transition On Event", 2),
    "TTL #1": ("Output On Event", 5),
    "Display Image": ("Condition Event", 1),
    "Start Correction Trial": ("Condition Event", 1),
    "Touch Down Event": ("Touch Down Event", 3),
    "Correct": ("Condition Event", 1),
    "Incorrect": ("Condition Event", 1),
    "Feeder #1": ("Output On Event", 4),
    "Reward Collected Start ITI": ("Condition Event", 1),
}


# ----------------------------------------------------------------------------- parameters

def _check_positive(value, name: str, *, integer: bool = False, allow_zero: bool = False):
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if ok:
        ok = np.isfinite(value) and (value >= 0 if allow_zero else value > 0)
        if integer:
            ok = ok and float(value) == int(value)
    if not ok:
        kind = "an integer" if integer else "a number"
        sign = ">= 0" if allow_zero else "> 0"
        raise ParameterError(f"{name} must be {kind} {sign}, got {value!r}", field=name,
                             fix=f"pass {name} as {kind} {sign}")
    return int(value) if integer else float(value)


def _role_counts(n_cells: int, roles: dict | None, null: bool) -> dict[str, int]:
    """Number of cells per planted role (``untuned`` is the rest)."""
    if null:
        return {r: 0 for r in ROLES}
    fractions = dict(DEFAULT_ROLES)
    if roles is not None:
        if not isinstance(roles, dict):
            raise ParameterError(f"roles must be a dict of role -> fraction, got {roles!r}",
                                 field="roles", fix=f"e.g. {DEFAULT_ROLES}")
        unknown = sorted(set(roles) - set(ROLES))
        if unknown:
            raise ParameterError(f"unknown cell role(s) {unknown}", field="roles",
                                 fix=f"use some of: {', '.join(ROLES)} (the rest are untuned)")
        fractions.update(roles)
    counts = {}
    for role in ROLES:
        f = fractions[role]
        if not isinstance(f, (int, float, np.number)) or isinstance(f, bool) \
                or not np.isfinite(f) or not 0 <= f <= 1:
            raise ParameterError(f"fraction of {role} cells must be in [0, 1], got {f!r}",
                                 field=f"roles.{role}", fix="give a fraction such as 0.1")
        counts[role] = int(round(float(f) * n_cells))
    if 0 < counts["ensemble"] < 2:
        counts["ensemble"] = 2
    total = sum(counts.values())
    if total > n_cells:
        raise ParameterError(f"roles ask for {total} planted cells but there are {n_cells} cells",
                             field="roles", fix="lower the role fractions (their sum must be <= 1)")
    return counts


def learning_curve(session_index, n_sessions: int, *, start: float = 0.5, end: float = 0.85,
                   midpoint: float = 0.45, width: float = 0.15):
    """Probability of a correct choice on ``session_index`` (0-based) of ``n_sessions``.

    A logistic curve in ``x = session_index / (n_sessions - 1)``, rescaled so that it is
    exactly ``start`` at the first session and ``end`` at the last.

    Parameters
    ----------
    session_index : int or ndarray of int
    n_sessions : int
    start, end : float
        Probability correct on the first and last session.
    midpoint, width : float
        Centre and width of the logistic, as fractions of the training period.

    Returns
    -------
    float or ndarray
    """
    x = np.asarray(session_index, dtype=np.float64) / max(n_sessions - 1, 1)
    sig = lambda u: 1.0 / (1.0 + np.exp(-(u - midpoint) / width))  # noqa: E731
    norm = (sig(x) - sig(0.0)) / (sig(1.0) - sig(0.0))
    p = start + (end - start) * norm
    return float(p) if np.ndim(p) == 0 else p


def _animal_rngs(seed: int, session_index: int):
    animal = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    session = np.random.default_rng(np.random.SeedSequence([seed, 1, session_index]))
    return animal, session


def _draw_animal(rng: np.random.Generator, n_cells: int, counts: dict[str, int],
                 gains: dict[str, float]) -> dict:
    """Everything that stays the same across an animal's sessions."""
    learn = {
        "start": float(np.clip(rng.normal(0.50, 0.03), 0.40, 0.60)),
        "end": float(np.clip(rng.normal(0.85, 0.03), 0.75, 0.95)),
        "midpoint": float(rng.uniform(0.30, 0.60)),
        "width": float(rng.uniform(0.10, 0.20)),
    }
    order = rng.permutation(n_cells)
    role = np.full(n_cells, "untuned", dtype="<U8")
    start = 0
    members = {}
    for r in ROLES:
        idx = np.sort(order[start:start + counts[r]])
        role[idx] = r
        members[r] = idx
        start += counts[r]
    pref_loc = np.zeros(n_cells, dtype=np.int64)
    pref_loc[members["location"]] = rng.permutation(np.resize([1, 2, 3], counts["location"]))
    pref_obj = np.full(n_cells, "", dtype="<U8")
    pref_obj[members["object"]] = rng.permutation(np.resize(np.array(OBJECTS), counts["object"]))
    gain = np.zeros(n_cells)
    for r in ROLES:
        gain[members[r]] = gains[r] * rng.gamma(4.0, 0.25, size=counts[r])
    return {
        "learn": learn,
        "role": role,
        "members": members,
        "preferred_location": pref_loc,
        "preferred_object": pref_obj,
        "gain": gain,
        "base_rate": np.clip(rng.lognormal(np.log(0.5), 0.5, n_cells), 0.05, 3.0),
        "tau_decay": rng.uniform(0.4, 0.7, n_cells),
        "spike_amp": np.clip(rng.lognormal(np.log(0.3), 0.3, n_cells), 0.1, 1.0),
        "noise_sd": rng.uniform(0.03, 0.06, n_cells),
        "drift_sd": rng.uniform(0.01, 0.04, n_cells),
    }


# ----------------------------------------------------------------------------- behaviour

def _simulate_behaviour(rng: np.random.Generator, n_trials: int, p_correct: float) -> dict:
    """One session of PAL attempts on the behaviour clock.

    Returns
    -------
    dict of ndarray, each shape (n_attempts,)
        ``trial``, ``correction``, ``trial_type``, ``t_init``, ``t_display``, ``t_touch``,
        ``t_reward`` (NaN after incorrect), ``t_end``, ``correct``, ``touched_location``,
        ``touched_object``.
    """
    types = rng.permutation(np.resize(np.arange(1, 7), n_trials))
    rows = []
    t = SCHEDULE_START_S + rng.uniform(5.0, 10.0)
    for trial, tt in enumerate(types):
        target, t_loc, distractor, d_loc = TRIAL_TYPES[int(tt)]
        correction = 0
        while True:
            t_init = t + float(np.clip(rng.lognormal(np.log(1.5), 0.6), 0.3, 8.0))
            t_display = t_init + rng.uniform(0.4, 0.6)
            t_touch = t_display + float(np.clip(rng.lognormal(np.log(2.5), 0.5), 0.8, 10.0))
            correct = bool(rng.random() < p_correct) or correction >= MAX_CORRECTIONS
            if correct:
                t_reward = t_touch + float(np.clip(rng.lognormal(np.log(2.0), 0.3), 1.0, 4.0))
                t_end = t_reward
            else:
                t_reward = np.nan
                t_end = t_touch + TIMEOUT_S
            rows.append((trial, correction, int(tt), t_init, t_display, t_touch, t_reward, t_end,
                         correct, t_loc if correct else d_loc, target if correct else distractor))
            t = t_end + rng.uniform(*ITI_S)
            if correct:
                break
            correction += 1
    cols = list(zip(*rows))
    names = ("trial", "correction", "trial_type", "t_init", "t_display", "t_touch", "t_reward",
             "t_end", "correct", "touched_location", "touched_object")
    out = {k: np.asarray(v) for k, v in zip(names, cols)}
    out["touched_object"] = out["touched_object"].astype(object)
    out["correct"] = out["correct"].astype(bool)
    return out


def _build_events(att: dict, to_imaging) -> tuple[Events, np.ndarray]:
    """ABET-like events from the attempt table; times mapped to the imaging clock.

    Returns
    -------
    events : Events
    ttl : ndarray, shape (n_attempts,)
        Imaging-clock times of the ``TTL #1`` pulses.
    """
    times, names = [], []
    # "Position" comes first among the non-ABET columns: the ABET writer puts them into
    # ArgN_Name/ArgN_Value pairs in this order, so a touch's Arg1 is its Position as in ABET.
    cols: dict[str, list] = {k: [] for k in (
        "Evnt_Name", "Alias_Name", "Group_ID", "Arg1_Value", "Position", "trial", "attempt",
        "trial_type", "correction", "object", "location", "distractor_object",
        "distractor_location")}

    def add(t, name, trial=None, arg=np.nan, obj="", loc=np.nan):
        kind, group = _ABET_KIND[name]
        times.append(t)
        names.append(name)
        cols["Evnt_Name"].append(kind)
        cols["Alias_Name"].append(name)
        cols["Group_ID"].append(group)
        cols["Arg1_Value"].append(arg)
        cols["Position"].append(arg)
        if trial is None:
            for k in ("trial", "attempt", "trial_type", "correction", "location",
                      "distractor_location"):
                cols[k].append(np.nan)
            cols["object"].append("")
            cols["distractor_object"].append("")
            return
        a = trial
        target, t_loc, distractor, d_loc = TRIAL_TYPES[int(att["trial_type"][a])]
        cols["trial"].append(att["trial"][a])
        cols["attempt"].append(a)
        cols["trial_type"].append(att["trial_type"][a])
        cols["correction"].append(min(int(att["correction"][a]), 1))
        cols["object"].append(obj or target)
        cols["location"].append(loc if np.isfinite(loc) else t_loc)
        cols["distractor_object"].append(distractor)
        cols["distractor_location"].append(d_loc)

    add(SCHEDULE_START_S, "Schedule Startup Event")
    for a in range(len(att["trial"])):
        add(att["t_init"][a], "Tray #1", a)
        if att["correction"][a]:
            add(att["t_init"][a], "Start Correction Trial", a)
        add(att["t_display"][a], "TTL #1", a)
        add(att["t_display"][a], "Display Image", a)
        loc = float(att["touched_location"][a])
        obj = att["touched_object"][a]
        add(att["t_touch"][a], "Touch Down Event", a, arg=loc, obj=obj, loc=loc)
        if att["correct"][a]:
            add(att["t_touch"][a], "Correct", a, obj=obj, loc=loc)
            add(att["t_touch"][a] + 0.01, "Feeder #1", a, obj=obj, loc=loc)
            add(att["t_reward"][a], "Tray #1", a, obj=obj, loc=loc)
            add(att["t_reward"][a], "Reward Collected Start ITI", a, obj=obj, loc=loc)
        else:
            add(att["t_touch"][a], "Incorrect", a, obj=obj, loc=loc)
    t_img = to_imaging(np.asarray(times, dtype=np.float64))
    attrs = {k: np.asarray(v, dtype=object if k in ("Evnt_Name", "Alias_Name", "object",
                                                   "distractor_object") else np.float64)
             for k, v in cols.items()}
    events = Events(t_img, np.asarray(names, dtype=object), attrs)
    return events, to_imaging(att["t_display"].astype(np.float64))


# ----------------------------------------------------------------------------- traces

def _frame_windows(frame_times: np.ndarray, starts, stops) -> tuple[np.ndarray, np.ndarray]:
    return (np.searchsorted(frame_times, starts, side="left"),
            np.searchsorted(frame_times, stops, side="left"))


def _frame_index(frame_times: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.clip(np.searchsorted(frame_times, t), 0, frame_times.size - 1)


def _calcium(spikes: np.ndarray, dt: float, tau_rise: float, tau_decay: np.ndarray,
             amp: np.ndarray) -> np.ndarray:
    """Convolve spike counts (cells x frames) with a peak-normalised double exponential."""
    out = np.empty(spikes.shape, dtype=np.float64)
    for c in range(spikes.shape[0]):
        td = float(tau_decay[c])
        ad, ar = np.exp(-dt / td), np.exp(-dt / tau_rise)
        t_peak = np.log(td / tau_rise) * td * tau_rise / (td - tau_rise)
        peak = np.exp(-t_peak / td) - np.exp(-t_peak / tau_rise)
        x = spikes[c].astype(np.float64)
        out[c] = (lfilter([1.0], [1.0, -ad], x) - lfilter([1.0], [1.0, -ar], x)) * (amp[c] / peak)
    return out


def _drift(rng: np.random.Generator, frame_times: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Slow drift (cells x frames): a sinusoid (period 2-10 min) plus a smoothed random walk."""
    n = sd.size
    t = frame_times
    period = rng.uniform(120.0, 600.0, n)
    phase = rng.uniform(0, 2 * np.pi, n)
    out = np.sin(2 * np.pi * t[None, :] / period[:, None] + phase[:, None])
    grid = np.arange(t[0], t[-1] + 5.0, 5.0)
    walk = np.cumsum(rng.normal(size=(n, grid.size)), axis=1)
    walk -= walk.mean(axis=1, keepdims=True)
    walk /= walk.std(axis=1, keepdims=True) + 1e-12
    for c in range(n):
        out[c] += np.interp(t, grid, walk[c])
    return out * (sd[:, None] / np.sqrt(2.0))


def _simulate_traces(rng: np.random.Generator, frame_times: np.ndarray, fs: float, cells: dict,
                     att_img: dict, *, effect: float, reliability: float, onset: float,
                     duration: float, noise: float, planted: bool) -> np.ndarray:
    """dF/F-like traces, float32 (n_cells x n_frames), for attempts on the imaging clock."""
    n_cells, n_frames = cells["role"].size, frame_times.size
    dt = 1.0 / fs
    rate = np.repeat(cells["base_rate"][:, None].astype(np.float32), n_frames, axis=1)
    extra = np.zeros((n_cells, n_frames), dtype=np.int64)
    m = cells["members"]
    choice = att_img["t_touch"]
    correct = att_img["correct"]
    n_att = choice.size
    if planted and effect > 0:
        gain = cells["gain"] * effect

        def bump(cell_idx, starts, stops, active):
            i0, i1 = _frame_windows(frame_times, starts, stops)
            for c in cell_idx:
                hit = active & (rng.random(n_att) < reliability)
                for a in np.flatnonzero(hit):
                    rate[c, i0[a]:i1[a]] += gain[c]

        bump(m["outcome"], choice + onset, choice + onset + duration, correct)
        for c in m["location"]:
            bump([c], att_img["t_touch"] - 0.1, att_img["t_touch"] + 0.5,
                 att_img["touched_location"] == cells["preferred_location"][c])
        target = np.array([TRIAL_TYPES[int(tt)][0] for tt in att_img["trial_type"]])
        for c in m["object"]:
            bump([c], att_img["t_display"] + 0.1, att_img["t_display"] + 0.7,
                 target == cells["preferred_object"][c])
        ens = m["ensemble"]
        if ens.size:
            lam = float(np.mean(gain[ens])) * duration
            for a in range(n_att):
                lo = choice[a] + onset
                if correct[a]:
                    shared = rng.uniform(lo, lo + duration, rng.poisson(lam))
                    for c in ens:
                        keep = shared[rng.random(shared.size) < ENSEMBLE_PARTICIPATION]
                        ts = keep + rng.normal(0, ENSEMBLE_JITTER_S, keep.size)
                        np.add.at(extra[c], _frame_index(frame_times, ts), 1)
                else:
                    for c in ens:
                        ts = rng.uniform(lo, lo + duration,
                                         rng.poisson(lam * ENSEMBLE_PARTICIPATION))
                        np.add.at(extra[c], _frame_index(frame_times, ts), 1)
    spikes = rng.poisson(rate * dt) + extra
    traces = _calcium(spikes, dt, 0.05, cells["tau_decay"], cells["spike_amp"])
    traces += _drift(rng, frame_times, cells["drift_sd"] * noise)
    traces += rng.normal(size=traces.shape) * (cells["noise_sd"] * noise)[:, None]
    return traces.astype(np.float32)


# ----------------------------------------------------------------------------- public API

def simulate_session(*, n_cells: int = 109, n_trials: int = 36, session_index: int = 0,
                     n_sessions: int = 14, fs: float = 30.0, seed: int = 0,
                     animal: str = "sim01", roles: dict | None = None, effect: float = 1.0,
                     null: bool = False, gains: dict | None = None,
                     p_correct: float | None = None, reliability: float = 0.7,
                     signal_onset: float = 0.2, signal_duration: float = 1.0,
                     noise: float = 1.0, jitter: float = 0.001,
                     clock_offset: float | None = None, clock_drift: float = 2e-5,
                     ) -> tuple[Session, dict]:
    """Simulate one PAL session: traces with planted cell roles and ABET-like events.

    Parameters
    ----------
    n_cells : int
        Number of cells (rows of the traces).
    n_trials : int
        Scheduled (non-correction) trials; trial types cycle 1-6 and are shuffled, so 36
        gives each type 6 times.
    session_index, n_sessions : int
        0-based position of this session in training; sets the probability correct.
    fs : float
        Frame rate in Hz.
    seed : int
        The animal: roles, preferences and cell properties depend only on ``seed``; the
        session's behaviour and noise on ``seed`` and ``session_index``.
    animal : str
        Animal identifier stored in the session.
    roles : dict, optional
        Fraction of cells per role, updating :data:`DEFAULT_ROLES` (keys ``outcome``,
        ``location``, ``object``, ``ensemble``); the rest are untuned. An ensemble has at
        least 2 cells.
    effect : float
        Multiplies every planted gain (0 plants nothing while keeping the roles).
    null : bool
        Plant nothing: every cell untuned (behaviour unchanged).
    gains : dict, optional
        Rate added by each role in Hz, updating :data:`DEFAULT_GAINS`.
    p_correct : float, optional
        Probability correct for this session; default from the animal's learning curve.
    reliability : float
        Fraction of relevant attempts on which a tuned cell responds (not the ensemble).
    signal_onset, signal_duration : float
        Outcome and ensemble window, in s after the choice.
    noise : float
        Scales the Gaussian noise and the drift.
    jitter : float
        SD in s of frame-time jitter (clipped to 0.3 frame intervals).
    clock_offset : float, optional
        Imaging time of behaviour-clock zero; default drawn in 3-10 s.
    clock_drift : float
        Relative rate error of the behaviour clock (imaging = offset + (1 + drift) * beh).

    Returns
    -------
    session : Session
        ``traces`` float32 (n_cells x n_frames) dF/F-like, ``frame_times`` (n_frames,) s,
        events on the imaging clock, ``animal``, ``session`` = ``"s01"``..., ``day`` =
        ``session_index + 1``.
    truth : dict
        Ground truth: ``role`` (str, n_cells), ``outcome_cells``, ``location_cells`` with
        ``preferred_location``, ``object_cells`` with ``preferred_object``,
        ``ensemble_cells``, ``untuned_cells`` (int indices), ``gain`` (Hz per cell, after
        ``effect``), ``p_correct``, ``fraction_correct`` (observed over scheduled trials),
        ``trial_type`` and ``trial_correct`` (n_trials,), ``n_correction_trials``,
        ``signal_onset``, ``signal_duration``, ``clock_offset``, ``clock_scale``,
        ``sync_pulses`` (imaging-clock ``TTL #1`` times), and the parameters.
    """
    n_cells = _check_positive(n_cells, "n_cells", integer=True)
    n_trials = _check_positive(n_trials, "n_trials", integer=True)
    n_sessions = _check_positive(n_sessions, "n_sessions", integer=True)
    session_index = _check_positive(session_index, "session_index", integer=True, allow_zero=True)
    if session_index >= n_sessions:
        raise ParameterError(f"session_index {session_index} is not below n_sessions {n_sessions}",
                             field="session_index", fix="use 0 .. n_sessions - 1")
    fs = _check_positive(fs, "fs")
    seed = _check_positive(seed, "seed", integer=True, allow_zero=True)
    effect = _check_positive(effect, "effect", allow_zero=True)
    noise = _check_positive(noise, "noise", allow_zero=True)
    jitter = _check_positive(jitter, "jitter", allow_zero=True)
    signal_onset = _check_positive(signal_onset, "signal_onset", allow_zero=True)
    signal_duration = _check_positive(signal_duration, "signal_duration")
    reliability = _check_positive(reliability, "reliability", allow_zero=True)
    if reliability > 1:
        raise ParameterError(f"reliability must be in [0, 1], got {reliability}",
                             field="reliability", fix="give a fraction of attempts")
    if p_correct is not None:
        p_correct = _check_positive(p_correct, "p_correct", allow_zero=True)
        if p_correct > 1:
            raise ParameterError(f"p_correct must be in [0, 1], got {p_correct}",
                                 field="p_correct", fix="give a probability")
    g = dict(DEFAULT_GAINS)
    if gains is not None:
        unknown = sorted(set(gains) - set(ROLES))
        if unknown:
            raise ParameterError(f"unknown role(s) in gains: {unknown}", field="gains",
                                 fix=f"use some of: {', '.join(ROLES)}")
        g.update({k: _check_positive(v, f"gains.{k}", allow_zero=True) for k, v in gains.items()})
    counts = _role_counts(n_cells, roles, bool(null))

    rng_animal, rng = _animal_rngs(seed, session_index)
    cells = _draw_animal(rng_animal, n_cells, counts, g)
    if p_correct is None:
        p_correct = learning_curve(session_index, n_sessions, **cells["learn"])

    att = _simulate_behaviour(rng, n_trials, p_correct)
    offset = float(rng.uniform(3.0, 10.0)) if clock_offset is None else float(clock_offset)
    scale = 1.0 + float(clock_drift)
    to_imaging = lambda t: offset + scale * np.asarray(t, dtype=np.float64)  # noqa: E731
    events, ttl = _build_events(att, to_imaging)

    t_stop = max(float(events.times[-1]) + TAIL_S, 1.0)
    n_frames = int(np.ceil(t_stop * fs)) + 1
    frame_times = np.arange(n_frames, dtype=np.float64) / fs
    if jitter > 0:
        frame_times += np.clip(rng.normal(0.0, jitter, n_frames), -0.3 / fs, 0.3 / fs)
        frame_times -= frame_times[0]
    att_img = {k: (to_imaging(v) if k.startswith("t_") else v) for k, v in att.items()}
    traces = _simulate_traces(rng, frame_times, fs, cells, att_img, effect=effect,
                              reliability=reliability, onset=signal_onset,
                              duration=signal_duration, noise=noise, planted=not null)

    session = Session(
        traces=traces, frame_times=frame_times,
        cell_ids=np.array([f"C{i:03d}" for i in range(n_cells)], dtype=object), events=events,
        animal=str(animal), session=f"s{session_index + 1:02d}", day=session_index + 1,
        source={"traces": None, "events": None, "format": "simulated"},
    )
    m = cells["members"]
    scheduled = att["correction"] == 0
    truth = {
        "role": cells["role"].astype(str),
        "outcome_cells": m["outcome"],
        "location_cells": m["location"],
        "preferred_location": cells["preferred_location"][m["location"]],
        "object_cells": m["object"],
        "preferred_object": cells["preferred_object"][m["object"]].astype(str),
        "ensemble_cells": m["ensemble"],
        "untuned_cells": np.flatnonzero(cells["role"] == "untuned"),
        "gain": cells["gain"] * effect * (not null),
        "p_correct": float(p_correct),
        "fraction_correct": float(np.mean(att["correct"][scheduled])),
        "trial_type": att["trial_type"][scheduled].astype(np.int64),
        "trial_correct": att["correct"][scheduled].astype(np.int8),
        "n_correction_trials": int((~scheduled).sum()),
        "signal_onset": float(signal_onset),
        "signal_duration": float(signal_duration),
        "clock_offset": offset,
        "clock_scale": scale,
        "sync_pulses": ttl,
        "sync_event": "TTL #1",
        "animal": str(animal),
        "seed": seed,
        "session_index": session_index,
        "n_sessions": n_sessions,
        "effect": effect,
        "null": bool(null),
        "fs": fs,
    }
    return session, truth


def simulate_cohort(*, n_animals: int = 2, n_sessions: int = 14, seed: int = 0,
                    coding_grows: bool = False, **kw) -> list[tuple[Session, dict]]:
    """Simulate ``n_animals`` animals x ``n_sessions`` sessions.

    Animal ``i`` is named ``sim01``, ``sim02``, ... and gets its own seed derived from
    ``seed``, so its cells keep their roles across its sessions while animals differ.

    Parameters
    ----------
    n_animals, n_sessions : int
    seed : int
    coding_grows : bool
        Planted coding strengthens with learning: session ``s`` gets
        ``effect * (0.25 + 0.75 * s / (n_sessions - 1))`` (a flat ``effect`` otherwise).
    **kw
        Passed to :func:`simulate_session` (not ``seed``, ``animal``, ``session_index``).

    Returns
    -------
    list of (Session, dict)
        Animal-major order: all sessions of the first animal, then the next.
    """
    n_animals = _check_positive(n_animals, "n_animals", integer=True)
    n_sessions = _check_positive(n_sessions, "n_sessions", integer=True)
    seed = _check_positive(seed, "seed", integer=True, allow_zero=True)
    clash = sorted({"animal", "session_index"} & set(kw))
    if clash:
        raise ParameterError(f"simulate_cohort sets {clash} itself", field=clash[0],
                             fix="leave it out; use simulate_session for a single session")
    sims = []
    for a in range(n_animals):
        animal_seed = int(np.random.SeedSequence([seed, a]).generate_state(1)[0])
        for s in range(n_sessions):
            extra = dict(kw)
            if coding_grows:
                extra["effect"] = kw.get("effect", 1.0) * (
                    0.25 + 0.75 * s / max(n_sessions - 1, 1))
            sims.append(simulate_session(seed=animal_seed, animal=f"sim{a + 1:02d}",
                                         session_index=s, n_sessions=n_sessions, **extra))
    return sims


# ----------------------------------------------------------------------------- writers

def _safe_stem(session: Session) -> str:
    stem = f"{session.animal or 'animal'}_{session.session or 'session'}"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem)


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return "" if not np.isfinite(v) else repr(float(v)) if v != int(v) else str(int(v))
    return str(v)


def _write_events_csv(path: Path, events: Events) -> None:
    """Generic events CSV: ``time,event`` then one column per attribute."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    keys = list(events.attrs)
    w.writerow(["time", "event", *keys])
    for i in range(len(events)):
        w.writerow([f"{events.times[i]:.6f}", events.names[i],
                    *(_fmt(events.attrs[k][i]) for k in keys)])
    atomic_write_text(path, buf.getvalue())


def _write_truth_json(path: Path, truth: dict) -> None:
    import json
    plain = {k: (v.tolist() if isinstance(v, np.ndarray) else
                 v.item() if isinstance(v, np.generic) else v) for k, v in truth.items()}
    atomic_write_text(path, json.dumps(plain, indent=1))


def _attempt_table(events: Events) -> list[dict]:
    """One row per display: the NWB trials table."""
    ev = events
    disp = ev.select(["Display Image"])
    touch = ev.select(["Touch Down Event"])
    out_idx = ev.select(["Correct", "Incorrect"])
    end_idx = ev.select(["Reward Collected Start ITI"])
    att = ev.attrs["attempt"]
    rows = []
    for i in disp:
        a = att[i]
        t = touch[att[touch] == a]
        o = out_idx[att[out_idx] == a]
        e = end_idx[att[end_idx] == a]
        correct = ev.names[o[0]] == "Correct"
        stop = ev.times[e[0]] if correct else ev.times[o[0]] + TIMEOUT_S
        rows.append({
            "start_time": float(ev.times[i]), "stop_time": float(stop),
            "trial": int(ev.attrs["trial"][i]), "correction": int(ev.attrs["correction"][i]),
            "trial_type": int(ev.attrs["trial_type"][i]), "object": str(ev.attrs["object"][i]),
            "location": int(ev.attrs["location"][i]),
            "outcome": "Correct" if correct else "Incorrect",
            "touched_location": int(ev.attrs["location"][t[0]]),
            "touched_object": str(ev.attrs["object"][t[0]]),
            "choice_time": float(ev.times[t[0]]),
        })
    return rows


_TRIAL_COLUMNS = {
    "trial": "0-based scheduled trial (correction attempts share their trial's index)",
    "correction": "1 for a correction attempt, else 0",
    "trial_type": "PAL trial type 1-6",
    "object": "target object (flower, airplane, spider)",
    "location": "target location (1 left, 2 middle, 3 right)",
    "outcome": "Correct or Incorrect",
    "touched_location": "touched location (1-3)",
    "touched_object": "touched object",
    "choice_time": "time of the touch (s)",
}


def _roi_masks(n_cells: int, seed: int, size: int = 32) -> np.ndarray:
    """Small Gaussian blobs (n_cells x size x size) as ROI image masks."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    cy, cx = rng.uniform(3, size - 3, (2, n_cells))
    r = rng.uniform(1.5, 2.5, n_cells)
    d2 = (yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2
    masks = np.exp(-d2 / (2 * r[:, None, None] ** 2))
    masks[masks < 0.05] = 0
    return masks.astype(np.float32)


def _write_nwb(path: Path, session: Session, truth: dict) -> None:
    """NWB 2.x via pynwb: ophys traces with timestamps, ROIs, trials table, event annotations."""
    try:  # pynwb (and hdmf, its dependency) are optional
        from hdmf.backends.hdf5.h5_utils import H5DataIO
        from pynwb import NWBHDF5IO, NWBFile
        from pynwb.file import Subject
        from pynwb.misc import AnnotationSeries
        from pynwb.ophys import Fluorescence, ImageSegmentation, OpticalChannel
    except Exception as exc:
        raise ParameterError(f"NWB output needs pynwb ({exc})", field="formats",
                             fix="pip install pynwb, or leave nwb out of the formats") from None

    start = datetime(2024, 1, 1, 9, 0, tzinfo=timezone.utc) + timedelta(days=int(session.day or 1))
    nwb = NWBFile(
        session_description=f"gpudecode simulated PAL session {session.session}",
        identifier=f"gpudecode-sim-{_safe_stem(session)}-seed{truth.get('seed', 0)}",
        session_start_time=start, session_id=session.session,
        subject=Subject(subject_id=session.animal or "sim", species="Mus musculus"),
    )
    device = nwb.create_device(name="Miniscope", description="simulated head-mounted miniscope")
    channel = OpticalChannel(name="green", description="GCaMP emission", emission_lambda=520.0)
    plane = nwb.create_imaging_plane(
        name="ImagingPlane", optical_channel=channel, description="simulated CA1 field",
        device=device, excitation_lambda=470.0, imaging_rate=float(session.frame_rate),
        indicator="GCaMP6f", location="CA1")
    ophys = nwb.create_processing_module(name="ophys", description="simulated cell traces")
    seg = ImageSegmentation()
    ophys.add(seg)
    ps = seg.create_plane_segmentation(name="PlaneSegmentation", description="simulated ROIs",
                                       imaging_plane=plane)
    for mask in _roi_masks(session.n_cells, int(truth.get("seed", 0))):
        ps.add_roi(image_mask=mask)
    rois = ps.create_roi_table_region(region=list(range(session.n_cells)), description="all cells")
    fluorescence = Fluorescence()
    ophys.add(fluorescence)
    fluorescence.create_roi_response_series(
        name="RoiResponseSeries", data=H5DataIO(session.traces.T, compression="gzip"),
        rois=rois, unit="dF/F", timestamps=session.frame_times,
        description="simulated dF/F, time x rois")

    for name, desc in _TRIAL_COLUMNS.items():
        nwb.add_trial_column(name=name, description=desc)
    for row in _attempt_table(session.events):
        nwb.add_trial(**row)
    with warnings.catch_warnings():
        # AnnotationSeries is deprecated in pynwb 3+, but it is what many archived files
        # hold, so the readers must handle it; the temporary file lacks the .nwb suffix.
        warnings.filterwarnings("ignore", message=".*AnnotationSeries is deprecated")
        warnings.filterwarnings("ignore", message=".*does not end in '.nwb'")
        nwb.add_acquisition(AnnotationSeries(
            name="events", data=[str(n) for n in session.events.names],
            timestamps=session.events.times, description="ABET-like task events (imaging clock)"))
        with atomic_path(path) as tmp:
            with NWBHDF5IO(str(tmp), "w") as fh:
                fh.write(nwb)


def _check_formats(formats) -> tuple[str, ...]:
    if isinstance(formats, str):
        formats = [f.strip() for f in formats.split(",") if f.strip()]
    fmts = tuple(dict.fromkeys(str(f).strip().lower() for f in formats))
    bad = [f for f in fmts if f not in OUTPUT_FORMATS]
    if bad or not fmts:
        raise ParameterError(f"unknown output format(s) {bad or list(fmts)}", field="formats",
                             fix=f"use a subset of {', '.join(OUTPUT_FORMATS)}")
    if "nwb" in fmts:
        try:
            import pynwb  # noqa: F401
        except Exception:
            raise ParameterError("NWB output needs pynwb: pip install pynwb", field="formats",
                                 fix="pip install pynwb, or leave nwb out of the formats") from None
    return fmts


MANIFEST_COLUMNS = ("animal", "session", "day", "traces", "events", "format", "sync_event",
                    "sync_pulses", "event_offset")
# Which format's files ``manifest.csv`` lists when several were written.
MANIFEST_FORMAT_ORDER = ("h5", "nwb", "csv", "abet")


def write_simulation(out_dir, sims: Sequence[tuple[Session, dict]],
                     formats: Iterable[str] = ("h5",)) -> list[Path]:
    """Write simulated sessions into ``out_dir`` in the requested formats, plus a manifest.

    Per session ``<animal>_<session>`` (``stem``):

    - ``h5``: ``stem.h5``, gpudecode's HDF5 layout with events and ``/ground_truth``;
    - ``csv``: ``stem_traces.csv`` (traces CSV) and ``stem_events.csv`` (``time,event`` +
      attribute columns), imaging clock;
    - ``abet``: ``stem_abet.csv`` (ABET II raw CSV on the behaviour clock) and
      ``stem_sync.txt`` (imaging-clock ``TTL #1`` pulse times, one per line), paired with
      the traces CSV (written if ``csv`` was not asked for);
    - ``nwb``: ``stem.nwb`` (pynwb), traces, ROIs, trials table and events;
    - without ``h5``, the ground truth goes to ``stem_truth.json``.

    ``manifest.csv`` has one row per session, for the first written format of
    :data:`MANIFEST_FORMAT_ORDER` (``h5`` when asked for), so ``gpudecode cohort
    DIR/manifest.csv`` runs as is. With several formats, ``manifest-<format>.csv`` lists the
    sessions in each. Columns: ``animal, session, day, traces, events, format, sync_event,
    sync_pulses, event_offset`` (file names relative to ``out_dir``; ``events`` empty when
    stored with the traces; for ``abet`` rows ``event_offset`` is the true clock offset and
    ``sync_*`` say how to align).

    Parameters
    ----------
    out_dir : path
    sims : sequence of (Session, dict)
        As returned by :func:`simulate_session` / :func:`simulate_cohort`.
    formats : iterable of str
        Subset of :data:`OUTPUT_FORMATS`.

    Returns
    -------
    list of Path
        Every file written, the manifests last (``manifest.csv`` the very last). Each file
        is written atomically.
    """
    fmts = _check_formats(formats)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ParameterError("output path exists and is not a folder", path=out, field="out_dir",
                             fix="choose a folder name")
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    rows: list[dict] = []
    for session, truth in sims:
        stem = _safe_stem(session)
        base = {"animal": session.animal, "session": session.session,
                "day": "" if session.day is None else session.day,
                "sync_event": "", "sync_pulses": "", "event_offset": 0}
        traces_csv = None

        def write_traces_csv_once():
            nonlocal traces_csv
            if traces_csv is None:
                from .io.traces_csv import write_traces_csv
                traces_csv = out / f"{stem}_traces.csv"
                write_traces_csv(traces_csv, session.traces, session.frame_times,
                                 session.cell_ids)
                written.append(traces_csv)
            return traces_csv

        if "h5" in fmts:
            from .io.native import save_session
            p = out / f"{stem}.h5"
            save_session(session, p, ground_truth=truth)
            written.append(p)
            rows.append({**base, "traces": p.name, "events": "", "format": "h5"})
        else:
            p = out / f"{stem}_truth.json"
            _write_truth_json(p, truth)
            written.append(p)
        if "csv" in fmts:
            tp = write_traces_csv_once()
            ep = out / f"{stem}_events.csv"
            _write_events_csv(ep, session.events)
            written.append(ep)
            rows.append({**base, "traces": tp.name, "events": ep.name, "format": "csv"})
        if "nwb" in fmts:
            p = out / f"{stem}.nwb"
            _write_nwb(p, session, truth)
            written.append(p)
            rows.append({**base, "traces": p.name, "events": "", "format": "nwb"})
        if "abet" in fmts:
            from .io.abet import write_abet_csv
            offset, scale = float(truth["clock_offset"]), float(truth["clock_scale"])
            beh = session.events.shifted(offset=-offset / scale, scale=1.0 / scale)
            ap = out / f"{stem}_abet.csv"
            when = datetime(2024, 1, 1, 9, 0) + timedelta(days=int(session.day or 1))
            write_abet_csv(ap, beh, {
                "Animal ID": session.animal,
                "Date/Time": when.strftime("%m/%d/%Y %H:%M:%S"),
                "Schedule Name": "Mouse PAL Acquisition (gpudecode simulation)",
                "Environment": "Chamber 1",
                "Session": session.session,
            })
            written.append(ap)
            sp = out / f"{stem}_sync.txt"
            atomic_write_text(sp, "".join(f"{t:.6f}\n" for t in truth["sync_pulses"]))
            written.append(sp)
            rows.append({**base, "traces": write_traces_csv_once().name, "events": ap.name,
                         "format": "abet", "sync_event": truth.get("sync_event", "TTL #1"),
                         "sync_pulses": sp.name, "event_offset": f"{offset:.6f}"})
    by_format = {f: [r for r in rows if r["format"] == f] for f in MANIFEST_FORMAT_ORDER}
    by_format = {f: r for f, r in by_format.items() if r}
    if len(by_format) > 1:
        for fmt, fmt_rows in by_format.items():
            p = out / f"manifest-{fmt}.csv"
            _write_manifest(p, fmt_rows)
            written.append(p)
    manifest = out / "manifest.csv"
    _write_manifest(manifest, next(iter(by_format.values())))
    written.append(manifest)
    return written


def _write_manifest(path: Path, rows: list[dict]) -> None:
    """A cohort manifest: one row per session (see :func:`write_simulation`)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(MANIFEST_COLUMNS), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())
