"""One session's decode plan, end to end: epochs -> every analysis -> the result folder.

:func:`decode_session` is what ``gpudecode decode`` and each cohort task run. It takes a
:class:`DecodeConfig` (every parameter needed to rerun, recorded in ``summary.json``), runs the
analyses on one split plan so all models are paired, and writes ``summary.json``,
``cells.csv``, ``models.csv``, ``timecourse.csv``, ``pairs.csv`` and ``results.h5`` into a
temporary folder that replaces the result folder as a whole in one step: a folder holds one
complete run. ``summary.json`` lists the other files with their sizes and SHA-256.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .atomic import StagedFolder
from .backend import Backend, host_free_memory_bytes
from .classifiers import BATCHED_CLASSIFIERS, classifier_help
from .democracy import decode_democracy
from .engine import KeptPredictions
from .errors import ParameterError
from .features import correlation_features
from .options import document_options, option
from .outputs import (check_output_folder, file_manifest, input_paths, new_run_id,
                      write_cells_csv, write_csv, write_results_h5, write_summary,
                      writing_results)
from .pairs import (PAIRS_COLUMNS, correlation_order, discriminative_pairs,
                    mean_correlation_by_class)
from .population import decode_correlations, decode_summed
from .problem_size import check_memory, democracy_reuses_votes, problem_sizes
from .ranking import (MODELS_COLUMNS, population_entries, rank_models, single_cell_entries,
                      timecourse_entries)
from .single_cell import decode_cells
from .splits import SplitPlan, check_scoring
from .time_resolved import TIMECOURSE_COLUMNS, decode_timecourse
from .trials import make_epochs

__all__ = ["ANALYSES", "DecodeConfig", "DecodeOutcome", "decode_session", "decode_epochs"]

ANALYSES = ("single-cell", "democracy", "summed", "correlation", "time-resolved")


def _names(text) -> tuple[str, ...]:
    items = text.split(",") if isinstance(text, str) else list(text)
    return tuple(dict.fromkeys(s.strip() for s in items if s.strip()))


def _unit_interval(value, option: str, *, closed: bool, fix: str) -> float:
    """``value`` as a float in [0, 1] (``closed``) or (0, 1); NaN and text are errors."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = float("nan")
    inside = (0.0 <= out <= 1.0) if closed else (0.0 < out < 1.0)
    if not inside:  # also catches NaN
        bounds = "between 0 and 1" if closed else "strictly between 0 and 1"
        raise ParameterError(f"{option} must be {bounds}, got {value!r}", field=option, fix=fix)
    return out


# Label permutations of a command-line run by default: p-values down to 1/1001.
CLI_PERMUTATIONS = 1000
# Earlier names of DecodeConfig fields (summary.json of older runs): name -> name with its unit.
RENAMED_FIELDS = {"window": "window_frames", "step": "step_frames",
                  "summed_window": "summed_window_s"}


def _seconds_pair(value) -> tuple[float, float] | None:
    """``"0,2"`` or ``(0, 2)`` -> ``(0.0, 2.0)``; None stays None."""
    if value is None:
        return None
    parts = [s for s in value.split(",") if s.strip()] if isinstance(value, str) else value
    try:
        a, b = (float(x) for x in parts)
    except (TypeError, ValueError):
        raise ParameterError(f"expected two numbers 'A,B' (seconds), got {value!r}",
                             field="--summed-window",
                             fix="write it like --summed-window 0,2") from None
    return a, b


@document_options
@dataclass
class DecodeConfig:
    """Every parameter of a decode run; ``gpudecode decode`` and ``gpudecode cohort`` take
    the same options, built from these fields (flag, help, default declared once)."""

    analyses: tuple[str, ...] = option(
        ("single-cell",), "--analysis",
        help=f"all, or a comma-separated subset of: {', '.join(ANALYSES)}.")
    classifiers: tuple[str, ...] = option(
        ("linear-svm", "logistic", "tree"), "--classifier",
        help=f"Single-cell classifiers, comma-separated: {classifier_help(batched=True)}.")
    population_classifiers: tuple[str, ...] = option(
        ("rbf-svm", "linear-svm", "random-forest"), "--population-classifier",
        help=f"Population classifiers, comma-separated: {classifier_help(batched=False)}.")
    window_frames: int = option(
        4, "--window",
        help="Width in frames (not seconds) of the sliding mean that gives each cell's "
             "features.")
    step_frames: int = option(1, "--step", help="Step in frames (not seconds) of that sliding mean.")
    shuffles: int = option(50, "--shuffles", help="Stratified train/test shuffles.")
    test_size: float = option(0.25, "--test-size", help="Fraction of trials in each test part.")
    folds: int = option(5, "--folds", help="Stratified CV folds inside each training part.")
    permutations: int = option(
        0, "--permutations", cli_default=CLI_PERMUTATIONS,
        help="Label permutations for the null: the smallest p is 1/(P+1); the run says before "
             "it starts whether q < --alpha is reachable after BH and which P would make it so.")
    select_k: int | None = option(
        None, "--select-k", type=int, show_default="none: all features",
        help="Keep the top-k cells (summed) / cell pairs (correlation) by ANOVA F, chosen on "
             "training trials only.")
    summed_window_s: tuple[float, float] | None = option(
        None, "--summed-window", type=str, show_default="the whole epoch",
        help="A,B seconds around the anchor for summed activity.")
    democracy_base: str = option(
        "linear-svm", "--democracy-base",
        help=f"Per-cell classifier whose votes democracy stacks: {', '.join(BATCHED_CLASSIFIERS)}.")
    time_window: float = option(
        8, "--time-window", type=float,
        help="Time-resolved window width (frames, or s with --time-unit s).")
    time_step: float = option(
        4, "--time-step", type=float,
        help="Time-resolved window step (frames, or s with --time-unit s).")
    time_unit: str = option("frames", "--time-unit",
                            help="Unit of --time-window and --time-step: frames or s.")
    generalization: bool = option(
        False, "--generalization",
        help="Also train at t, test at t' (temporal generalisation matrix in results.h5).")
    metric: str = option("balanced", "--metric",
                         help="Statistic for p-values and ranking: balanced or accuracy.")
    class_weight: str | None = option(
        None, "--class-weight", type=str, show_default="none: equal weights",
        help="'balanced' to weight classes by their inverse frequency.")
    threshold: float = option(
        0.8, "--threshold",
        help="Accuracy a shuffle must exceed to be counted in n_above_threshold (the per-cell "
             "count of splits above 80% that the touchscreen paired-associates study reported).")
    alpha: float = option(0.05, "--alpha", help="FDR level for significant cells and models.")
    seed: int = option(0, "--seed", help="Seed of the split plan and permutations.")
    device: str = option("auto", "--device", help="auto, cpu or gpu.")
    n_pairs: int = option(100, help="Rows of pairs.csv: the most discriminative cell pairs.")
    n_top_cells: int = option(10, help="Cells whose epochs results.h5 keeps for the figures.")

    def __post_init__(self):
        self.analyses = _names(self.analyses)
        if "all" in self.analyses:
            self.analyses = ANALYSES
        unknown = [a for a in self.analyses if a not in ANALYSES]
        if unknown or not self.analyses:
            raise ParameterError(f"unknown analysis {unknown or self.analyses!r}",
                                 field="--analysis",
                                 fix=f"use all or a comma-separated subset of: {', '.join(ANALYSES)}")
        self.classifiers = _names(self.classifiers)
        self.population_classifiers = _names(self.population_classifiers)
        self.summed_window_s = _seconds_pair(self.summed_window_s)
        check_scoring(self.metric, self.class_weight)
        self.threshold = _unit_interval(self.threshold, "--threshold", closed=True,
                                        fix="give the accuracy a shuffle must exceed, "
                                            "between 0 and 1, e.g. --threshold 0.8")
        self.alpha = _unit_interval(self.alpha, "--alpha", closed=False,
                                    fix="give the false discovery rate, e.g. --alpha 0.05")

    @classmethod
    def from_dict(cls, values: dict) -> "DecodeConfig":
        """The config a ``summary.json`` records (``summary["config"]``), also from runs that
        named the fields without their unit (``window``, ``step``, ``summed_window``)."""
        return cls(**{RENAMED_FIELDS.get(k, k): v for k, v in values.items()})

    @property
    def time_resolved_classifiers(self) -> list[str]:
        """The population classifiers that have a batched kernel, but the random forest
        (linear-svm when none).

        The forest is left out: 100 trees per window x split x label set make it the costliest
        model by far (it would multiply the time course's cost several times over), and the
        time course is read for onsets, which the linear and RBF models give.
        """
        names = [n for n in self.population_classifiers
                 if n in BATCHED_CLASSIFIERS and n != "random-forest"]
        return names or ["linear-svm"]

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class DecodeOutcome:
    """What one decode run produced (the files hold the same numbers)."""

    epochs: object
    plan: object
    backend: Backend
    single_cell: object = None
    population: list = field(default_factory=list)
    timecourse: object = None
    models: list = field(default_factory=list)
    pairs: list = field(default_factory=list)
    summary: dict = field(default_factory=dict)


# Cells an analysis needs at the least: correlations need a pair, a stacker of votes two voters.
MIN_CELLS = {"correlation": 2, "democracy": 2}


def check_units(ep, config: DecodeConfig) -> None:
    """Raise :class:`ParameterError` before any work when the session has too few cells for
    an analysis of ``config`` (one cell has no cell-cell correlation to decode)."""
    short = [a for a in config.analyses if ep.n_cells < MIN_CELLS.get(a, 1)]
    if short:
        path = ep.source.get("traces") if isinstance(getattr(ep, "source", None), dict) else None
        need = ", ".join(f"{a} needs >= {MIN_CELLS[a]} cells" for a in short)
        keep = [a for a in config.analyses if a not in short]
        raise ParameterError(
            f"{ep.n_cells} cell{'s' if ep.n_cells != 1 else ''} in this session: {need}",
            path=path, field="--analysis",
            fix=f"use --analysis {','.join(keep) or 'single-cell'}")


def decode_epochs(ep, config: DecodeConfig, backend: Backend | None = None,
                  progress: Callable[..., None] | None = None) -> DecodeOutcome:
    """Run every analysis of ``config`` on epochs (trials x cells x frames) with one split plan.

    ``progress(stage)`` is called as each analysis starts and ``progress(stage, done, total)``
    as its work is done (problems or label sets). Before anything is allocated, the results'
    memory is estimated (:mod:`gpudecode.problem_size`): a run that cannot fit is a
    :class:`~gpudecode.errors.ParameterError`, not a MemoryError after minutes of work.

    ``backend`` (default ``Backend.from_device(config.device)``, chosen here, the one place
    of the pipeline that chooses) is passed to every analysis.
    """
    say = progress or (lambda stage, done=None, total=None: None)

    def counts(stage):
        return lambda done, total: say(stage, done, total)

    check_units(ep, config)
    check_memory(problem_sizes(ep, config), ep.n_trials, config.permutations,
                 host_free_memory_bytes())
    backend = backend if backend is not None else Backend.from_device(config.device)
    plan = SplitPlan(n_shuffles=config.shuffles, test_size=config.test_size,
                     n_folds=config.folds, n_permutations=config.permutations,
                     seed=config.seed).fit(ep.labels)
    outcome = DecodeOutcome(epochs=ep, plan=plan, backend=backend)
    common = {"backend": backend, "class_weight": config.class_weight, "metric": config.metric}
    timing = {}
    entries = []
    kept = _votes_to_keep(ep, config, plan)
    if "single-cell" in config.analyses:
        say("single-cell")
        t = time.perf_counter()
        outcome.single_cell = decode_cells(ep, plan, classifiers=list(config.classifiers),
                                           window_frames=config.window_frames,
                                           step_frames=config.step_frames,
                                           threshold=config.threshold, alpha=config.alpha,
                                           progress=counts("single-cell"), keep=kept,
                                           **common)
        timing["single_cell_s"] = time.perf_counter() - t
        entries += single_cell_entries(outcome.single_cell, config.metric)
    if "democracy" in config.analyses:
        say("democracy")
        t = time.perf_counter()
        res = decode_democracy(ep, plan, list(config.population_classifiers),
                               base=config.democracy_base,
                               window_frames=config.window_frames,
                               step_frames=config.step_frames, progress=counts("democracy"),
                               votes=kept.pop(config.democracy_base, None), **common)
        timing["democracy_s"] = time.perf_counter() - t
        outcome.population.append(res)
        entries += population_entries(res, config.metric)
    if "summed" in config.analyses:
        say("summed activity")
        t = time.perf_counter()
        res = decode_summed(ep, plan, list(config.population_classifiers),
                            summed_window_s=config.summed_window_s, select_k=config.select_k,
                            progress=counts("summed activity"), **common)
        timing["summed_s"] = time.perf_counter() - t
        outcome.population.append(res)
        entries += population_entries(res, config.metric)
    correlation = None
    if "correlation" in config.analyses:
        say("cell-cell correlations")
        t = time.perf_counter()
        C = correlation_features(ep, config.window_frames, config.step_frames, backend)
        res = decode_correlations(ep, plan, list(config.population_classifiers),
                                  window_frames=config.window_frames,
                                  step_frames=config.step_frames,
                                  select_k=config.select_k, features=C,
                                  progress=counts("cell-cell correlations"), **common)
        timing["correlation_s"] = time.perf_counter() - t
        outcome.population.append(res)
        entries += population_entries(res, config.metric)
        outcome.pairs = discriminative_pairs(C, plan, ep.cell_ids, k=config.select_k,
                                             top=config.n_pairs)
        by_class = mean_correlation_by_class(C, plan.Y_[0], plan.n_classes)
        overall = mean_correlation_by_class(C, np.zeros(ep.n_trials, int), 1)[0]
        correlation = {"mean_by_class": by_class, "order": correlation_order(overall)}
    if "time-resolved" in config.analyses:
        say("time-resolved")
        t = time.perf_counter()
        outcome.timecourse = decode_timecourse(
            ep, plan, config.time_resolved_classifiers, time_window=config.time_window,
            time_step=config.time_step, time_unit=config.time_unit, alpha=config.alpha,
            generalization=config.generalization, progress=counts("time-resolved"), **common)
        timing["time_resolved_s"] = time.perf_counter() - t
        entries += timecourse_entries(outcome.timecourse, config.metric)
    outcome.models = rank_models(entries, config.alpha)
    outcome.summary = {"timing_s": timing, "correlation": correlation}
    return outcome


def _votes_to_keep(ep, config: DecodeConfig, plan: SplitPlan) -> dict:
    """``{democracy base: None}`` when single-cell decoding solves democracy's per-cell
    problems too, so that it keeps their predictions (one sixth of democracy's per-cell fits
    with 5 folds: the test slots of every label set, and the observed labels' CV slots);
    ``{}`` when it does not, or when keeping them would take over a tenth of free memory."""
    if not democracy_reuses_votes(config):
        return {}
    if KeptPredictions.nbytes_for(ep.n_cells, plan) > 0.1 * host_free_memory_bytes():
        return {}
    return {config.democracy_base: None}


def _top_cells(outcome: DecodeOutcome, n: int) -> np.ndarray:
    res = outcome.single_cell
    if res is None:
        return np.arange(min(n, outcome.epochs.n_cells))
    tested = res.test_balanced if res.params.get("metric") == "balanced" else res.test_accuracy
    score = tested.mean(-1).max(0)                       # the tested metric, best classifier
    return np.argsort(-score, kind="stable")[:n]


def decode_session(session, spec, config: DecodeConfig, out_dir, *,
                   backend: Backend | None = None,
                   progress: Callable[..., None] | None = None,
                   epochs=None,
                   extra_summary: dict | None = None, report: bool = False,
                   inputs=()) -> DecodeOutcome:
    """Cut epochs from ``session`` with ``spec``, run ``config``, write the result folder.

    The folder is checked before any computation (:func:`gpudecode.outputs.check_output_folder`),
    built whole under a temporary sibling name and swapped in at the end in one atomic step
    (:class:`gpudecode.atomic.StagedFolder`): an interrupted or failed run leaves ``out_dir``
    as it was, and a rerun leaves no file of the earlier run.

    Parameters
    ----------
    session : Session
    spec : TrialSpec
    config : DecodeConfig
    out_dir : path
        The result folder: absent, empty or an earlier gpudecode result (replaced as a
        whole). ``summary.json`` lists the other files with their sizes and SHA-256.
    backend : Backend, optional
        Where to compute; default: chosen once from ``config.device`` (see
        :func:`decode_epochs`).
    progress : callable, optional
        See :func:`decode_epochs`.
    epochs : Epochs, optional
        The epochs ``make_epochs(session, spec)`` gives, when the caller has cut them already
        (the command line does, to say how large the run is before anything is compiled).
    report : bool
        Also draw ``figures/`` and ``report.html`` into the folder before it is swapped in.
        A failing report does not cost the results: they are put in place, then the
        report's error is raised.
    inputs : iterable of path
        Input files besides those in ``session.source`` (e.g. a targets file); none may be
        inside ``out_dir``.

    Returns
    -------
    DecodeOutcome
    """
    t0 = time.perf_counter()
    final = check_output_folder(out_dir, [*input_paths(session), *inputs])
    with StagedFolder(final) as stage:
        ep = make_epochs(session, spec) if epochs is None else epochs
        ep.check_min_trials(config.folds if config.folds else 2,
                            path=session.source.get("events") or session.source.get("traces"))
        outcome = decode_epochs(ep, config, backend, progress)
        folder = stage.path
        written = []
        with writing_results(final):
            if outcome.single_cell is not None:
                write_cells_csv(folder / "cells.csv", outcome.single_cell)
                written.append("cells.csv")
            write_csv(folder / "models.csv", outcome.models, MODELS_COLUMNS)
            written.append("models.csv")
            if outcome.timecourse is not None:
                write_csv(folder / "timecourse.csv", outcome.timecourse.rows(),
                          TIMECOURSE_COLUMNS)
                written.append("timecourse.csv")
            if outcome.pairs:
                write_csv(folder / "pairs.csv", outcome.pairs, PAIRS_COLUMNS)
                written.append("pairs.csv")
            run_params = {"config": config.as_dict()}
            write_results_h5(folder / "results.h5", epochs=ep, plan=outcome.plan,
                             single_cell=outcome.single_cell, population=outcome.population,
                             timecourse=outcome.timecourse,
                             correlation=outcome.summary["correlation"],
                             top_cells=_top_cells(outcome, config.n_top_cells), params=run_params)
            written.append("results.h5")
            elapsed = time.perf_counter() - t0
            summary = {
                "command": "decode", "run_id": new_run_id(),
                "inputs": session.source, "animal": session.animal, "session": session.session,
                "day": session.day, "n_cells": session.n_cells, "n_frames": session.n_frames,
                "frame_rate_hz": session.frame_rate, "trial_spec": dataclasses.asdict(spec),
                "n_trials": ep.n_trials, "trial_counts": ep.counts(), "dropped_trials": ep.dropped,
                "analyses": list(config.analyses), "config": config.as_dict(),
                "single_cell": (outcome.single_cell.params if outcome.single_cell is not None
                                else None),
                "population": {r.analysis: r.params for r in outcome.population},
                "time_resolved": (outcome.timecourse.params if outcome.timecourse is not None
                                  else None),
                "device": outcome.backend.as_dict(),
                "timing_s": {**outcome.summary["timing_s"], "total_s": elapsed},
                "files": written + ["summary.json"],
                **(extra_summary or {}),
                "file_manifest": file_manifest(folder, written),
            }
            write_summary(folder / "summary.json", summary)
        outcome.summary = summary
        report_error = _write_report_into(folder, final) if report else None
        stage.commit()
    if report_error is not None:
        raise report_error
    return outcome


def _write_report_into(folder, final):
    """Draw the report into the staged folder; on failure remove its partial files and return
    the error (the results are put in place all the same)."""
    from .report import write_report  # matplotlib: loaded only when a report is drawn
    try:
        with writing_results(final):
            write_report(folder)
    except Exception as exc:
        shutil.rmtree(Path(folder) / "figures", ignore_errors=True)
        (Path(folder) / "report.html").unlink(missing_ok=True)
        return exc
    return None
