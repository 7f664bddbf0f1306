"""Command line: ``gpudecode simulate | info | epochs | decode | cohort | report | bench | demo``.

Bad input prints one line (``error: ...``) and exits with status 2, never a traceback.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import inspect
import json
import os
import sys
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import typer
import typer.core
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import outputs
from .atomic import atomic_write_text, discard_staged
from .backend import Backend, host_free_memory_bytes
from .classifiers import BATCHED_CLASSIFIERS, parse_classifiers
from .errors import GpudecodeError, ParameterError
from .io import load_session
from .manifest import read_manifest
from .options import cli_default, cli_type, declared_options, option
from .pipeline import DecodeConfig, decode_session
from .problem_size import check_memory, problem_sizes, result_bytes, significance_notes
from .progress import StageProgress, run_interruptibly
from .targets import resolve_targets
from .text import PrintableConsole
from .trials import TrialSpec, make_epochs


class _FlagsWithoutType:
    """Help without a ``<bool>`` placeholder after flags (they take no value)."""

    def get_params(self, ctx):
        params = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        return params


class _Command(_FlagsWithoutType, typer.core.TyperCommand):
    pass


class _Group(_FlagsWithoutType, typer.core.TyperGroup):
    pass


app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True,
                  cls=_Group, help="Decode behaviour from calcium-imaging recordings.")
# Names from input files are data: these consoles strip control characters from every string.
out = PrintableConsole()
err = PrintableConsole(stderr=True)
PIPE_WIDTH = 200       # console width when output goes to a file or pipe


def _heading(text: str) -> None:
    """A section heading: a rule across a terminal, a short line in a file."""
    if out.is_terminal:
        out.rule(text)
    else:
        out.print(f"── {text} ──", markup=False, highlight=False)


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip()) if text else ()


def _pair(text: str | None, option: str) -> tuple[float, float] | None:
    if text is None:
        return None
    parts = _split(text)
    try:
        a, b = (float(x) for x in parts)
    except ValueError:
        raise ParameterError(f"expected two numbers 'A,B', got {text!r}", field=option,
                             fix=f"write it like {option} 0,2") from None
    return a, b


def _typer_option(f: dataclasses.Field, *, default=..., **override):
    """The typer option of a field declared with :func:`gpudecode.options.option`
    (``default`` and typer's keywords override the declaration, e.g. for the demo)."""
    meta = f.metadata
    kwargs = {"help": meta["help"]}
    if meta.get("show_default") is not None:
        kwargs["show_default"] = meta["show_default"]
    return typer.Option(cli_default(f) if default is ... else default, *meta["flags"],
                        **{**kwargs, **override})


def _annotation(f: dataclasses.Field):
    kind = cli_type(f)
    return Optional[kind] if cli_default(f) is None else kind


def _decode_option(name: str, **override):
    """The typer option of one DecodeConfig field, for commands that take it alone."""
    return _typer_option(_DECODE_FIELDS[name], **override)


def with_options(func):
    """Command decorator: a parameter annotated with an options dataclass (DecodeConfig,
    TrialOptions, ReaderOptions: fields declared with :func:`gpudecode.options.option`)
    becomes one typer option per declared field, in place; the command receives the
    dataclass built from their values."""
    signature = inspect.signature(func, eval_str=True)
    params, groups = [], {}
    for p in signature.parameters.values():
        if isinstance(p.annotation, type) and dataclasses.is_dataclass(p.annotation):
            fields = declared_options(p.annotation)
            groups[p.name] = (p.annotation, [f.name for f in fields])
            params += [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY,
                                         default=_typer_option(f), annotation=_annotation(f))
                       for f in fields]
        else:
            params.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY))
    names = [p.name for p in params]
    if len(set(names)) != len(names):
        raise TypeError(f"{func.__name__}: two options share a name in {names}")

    @functools.wraps(func)
    def command(**values):
        for name, (group, fields) in groups.items():
            values[name] = group(**{f: values.pop(f) for f in fields})
        return func(**values)

    command.__signature__ = signature.replace(parameters=params)
    command.__annotations__ = {p.name: p.annotation for p in params}
    return command


@dataclass
class ReaderOptions:
    """How a session is read: formats, signal, frame times, clock alignment (``info``,
    ``epochs``, ``decode``; a cohort's manifest holds them per session)."""

    events: Optional[Path] = option(None, "--events", "-e", type=Path, show_default="events stored with the traces", help="Behavioural event log (CSV, ABET II, Arduino, NWB).")
    format: str = option("auto", "--format", help="Traces format: auto, gpudecode, csv, text, nwb, caiman, suite2p, matlab.")
    events_format: str = option("auto", "--events-format", help="Events format: auto, csv, abet, arduino, nwb.")
    signal: Optional[str] = option(None, "--signal", type=str, show_default="C for CaImAn/CNMF-E/MIN1PIPE, F for suite2p", help="Which trace to read (C, S, F, spks, ...).")
    frame_rate: Optional[float] = option(None, "--frame-rate", type=float, show_default="from the file", help="Frame rate in Hz for files without frame times.")
    trust_pickle: bool = option(False, "--trust-pickle", help="suite2p: unpickle ops.npy for the frame rate (runs code).")
    frame_times: Optional[Path] = option(None, "--frame-times", type=Path, show_default="the file's own times", help="File with one frame time in seconds per line (gaps between trials allowed); replaces the file's own times.")
    keep_rejected: bool = option(False, "--keep-rejected", help="Keep cells the pipeline rejected.")
    event_offset: float = option(0.0, "--event-offset", help="Seconds added to event times (behaviour -> imaging clock).")
    sync_event: Optional[str] = option(None, "--sync-event", type=str, show_default="none: no clock alignment", help="Behaviour-log event name of the sync pulses (e.g. 'TTL #1').")
    sync_pulses: Optional[Path] = option(None, "--sync-pulses", type=Path, show_default="none", help="Imaging-side pulse times: one per line, or an Inscopix GPIO CSV.")
    sync_channel: Optional[str] = option(None, "--sync-channel", type=str, show_default="the file's only channel", help="GPIO channel holding the pulses.")
    interpolate_gaps: int = option(0, "--interpolate-gaps", help="Fill NaN/inf runs up to N frames by interpolation (0: error).")

    def load(self, path):
        """The session at ``path`` read with these options."""
        return load_session(path, self.events, self.format, events_format=self.events_format,
                            signal=self.signal, frame_rate=self.frame_rate,
                            trust_pickle=self.trust_pickle, keep_rejected=self.keep_rejected,
                            event_offset=self.event_offset, sync_event=self.sync_event,
                            sync_pulses=self.sync_pulses, sync_channel=self.sync_channel,
                            max_gap=self.interpolate_gaps, frame_times=self.frame_times)

    def input_files(self) -> list[Path]:
        """The files given besides the traces (none of them may be an output)."""
        return [p for p in (self.events, self.sync_pulses, self.frame_times) if p]


@app.command(cls=_Command)
def simulate(
    out_dir: Path = typer.Argument(..., help="Folder to write the simulated sessions into."),
    animals: int = typer.Option(1, help="Number of animals."),
    sessions: int = typer.Option(1, help="Sessions per animal (learning progresses across them)."),
    cells: int = typer.Option(109, help="Cells per session."),
    trials: int = typer.Option(36, help="Trials per session (multiple of 6)."),
    seed: int = typer.Option(0, help="Random seed."),
    formats: str = typer.Option("h5", help="Comma-separated: h5, csv, abet, nwb."),
    null: bool = typer.Option(False, "--null", help="Plant nothing: every cell untuned."),
):
    """Simulate touchscreen paired-associates sessions with planted ground truth."""
    from .simulate import simulate_cohort, write_simulation

    fmts = _split(formats)
    bad = [f for f in fmts if f not in ("h5", "csv", "abet", "nwb")]
    if bad or not fmts:
        raise ParameterError(f"unknown output format(s) {bad or formats!r}", field="--formats",
                             fix="use a comma-separated subset of h5,csv,abet,nwb")
    sims = simulate_cohort(n_animals=animals, n_sessions=sessions, seed=seed, n_cells=cells,
                           n_trials=trials, null=null)
    paths = write_simulation(out_dir, sims, formats=fmts)
    out.print(f"wrote {len(sims)} simulated session(s), {len(paths)} files to {out_dir}")
    for p in paths:
        out.print(f"  {p}")


@app.command(cls=_Command)
@with_options
def info(
    path: Path = typer.Argument(..., help="Traces file or folder."),
    *, reader: ReaderOptions,
):
    """What was read: cells, frames, duration, frame rate, events and the span of each clock."""
    _print_info(reader.load(path))


def _print_info(s) -> None:
    out.print(repr(s), markup=False)
    t = Table(show_header=False, box=None)
    t.add_row("traces", f"{s.source.get('traces')} (format {s.source.get('format')})")
    if s.source.get("orientation"):
        t.add_row("read as", f"{s.source['orientation']} in the file")
    if s.source.get("frame_times"):
        t.add_row("frame times", str(s.source["frame_times"]))
    t.add_row("events", str(s.source.get("events") or "(none / stored with the traces)"))
    t.add_row("cells", str(s.n_cells))
    t.add_row("frames", str(s.n_frames))
    t.add_row("duration", f"{s.duration:.2f} s")
    t.add_row("frame rate", f"{s.frame_rate:.3f} Hz (median interval {1000 * s.frame_interval:.2f} ms)")
    t.add_row("gaps > 2 frames", str(len(s.gaps())))
    t.add_row("imaging clock", f"{s.frame_times[0]:.3f} .. {s.frame_times[-1]:.3f} s")
    e0, e1 = s.events.span()
    t.add_row("event clock", f"{e0:.3f} .. {e1:.3f} s" if len(s.events) else "no events")
    out.print(t)
    if len(s.events):
        et = Table(title="events")
        et.add_column("name")
        et.add_column("count", justify="right")
        for name, n in s.events.counts().items():
            et.add_row(escape(name), str(n))
        out.print(et)
        if s.events.attrs:
            out.print(f"event attributes: {', '.join(s.events.attrs)}", markup=False)


@dataclass
class TrialOptions:
    """How trials are cut: a named --target, or --anchor with the label and exclusion options
    (``epochs``, ``decode``, ``cohort``)."""

    anchor: Optional[str] = option(None, "--anchor", "-a", type=str, show_default="none: trials from --target", help="Anchor event name(s), comma-separated (instead of --target).")
    target: Optional[str] = option(None, "--target", type=str, show_default="none: trials from --anchor", help="Named target(s) (outcome, location, object, trial-type, or from --targets); cohort: comma-separated.")
    targets_file: Optional[Path] = option(None, "--targets", type=Path, show_default="the built-in targets only", help="TOML file of your own targets.")
    pre: float = option(1.0, "--pre", help="Trial start: seconds (not frames) before the anchor.")
    post: float = option(1.0, "--post", help="Trial end: seconds (not frames) after the anchor.")
    label: Optional[str] = option(None, "--label", type=str, show_default="anchor", help="Label rule: anchor, events or attr; implied by --label-events / --label-attr.")
    label_events: Optional[str] = option(None, "--label-events", type=str, show_default="none", help="Label = first of these events after the anchor.")
    label_window: Optional[str] = option(None, "--label-window", type=str, show_default="0,10", help="A,B seconds after the anchor to look for label events.")
    label_attr: Optional[str] = option(None, "--label-attr", type=str, show_default="none", help="Label = this attribute of the anchor event.")
    exclude: Optional[str] = option(None, "--exclude", type=str, show_default="none", help="Drop trials near these events (comma-separated).")
    exclude_within: float = option(0.0, "--exclude-within", help="Seconds around an --exclude event that drop a trial.")

    def _check_one_rule(self) -> None:
        if self.target and self.anchor:
            raise ParameterError("choose --anchor (with label options) or --target, not both",
                                 field="--target", fix="drop --anchor, or drop --target")

    def spec(self) -> TrialSpec:
        """The trial spec of one --target, or of --anchor and the label options."""
        self._check_one_rule()
        if self.target:
            return resolve_targets([self.target], self.targets_file)[0].spec
        if not self.anchor:
            raise ParameterError("no trials defined", field="--anchor",
                                 fix="pass --anchor NAMES (and label options) or --target outcome")
        return self._anchor_spec()

    def targets(self) -> list[tuple[str, TrialSpec]]:
        """``(name, spec)`` of every comma-separated --target, or ``("custom", spec)``."""
        self._check_one_rule()
        if self.target:
            return [(t.name, t.spec) for t in resolve_targets(self.target, self.targets_file)]
        return [("custom", self.spec())]

    def _anchor_spec(self) -> TrialSpec:
        if self.label_events and self.label_attr:
            raise ParameterError("choose one label rule", field="--label-events/--label-attr",
                                 fix="pass either --label-events or --label-attr, not both")
        implied = "events" if self.label_events else "attr" if self.label_attr else "anchor"
        if self.label is not None and self.label != implied:
            raise ParameterError(f"--label {self.label} does not fit the other label options "
                                 f"(they imply {implied!r})", field="--label",
                                 fix="--label anchor alone, --label-events NAMES, or "
                                     "--label-attr COLUMN")
        kw = {}
        if self.label_events:
            kw.update(label="events", label_events=_split(self.label_events))
            win = _pair(self.label_window, "--label-window")
            if win is not None:
                kw["label_window"] = win
        elif self.label_attr:
            kw.update(label="attr", label_attr=self.label_attr)
        return TrialSpec(anchors=_split(self.anchor), pre=self.pre, post=self.post,
                         exclude_events=_split(self.exclude),
                         exclude_within=self.exclude_within, **kw)


_DECODE_FIELDS = {f.name: f for f in declared_options(DecodeConfig)}


@app.command(cls=_Command)
@with_options
def epochs(
    path: Path = typer.Argument(..., help="Traces file or folder."),
    *, trials: TrialOptions,
    folds: int = _decode_option("folds"), window: int = _decode_option("window_frames"),
    step: int = _decode_option("step_frames"), device: str = _decode_option("device"),
    reader: ReaderOptions,
):
    """Cut trials around anchor events: trial counts per label, dropped trials and why."""
    spec = trials.spec()
    _print_epochs(reader.load(path), spec, folds, window, step, device)


def _print_epochs(s, spec, folds: int, window: int, step: int, device: str):
    ep = make_epochs(s, spec)
    backend = Backend.from_device(device)
    out.print(f"device: {backend.reason}")
    features = backend.to_host(backend.sliding_mean(ep.data, window, step))
    t = Table(title=f"trials by label ({len(ep.labels)} kept)")
    t.add_column("label")
    t.add_column("trials", justify="right")
    for label, n in ep.counts().items():
        t.add_row(escape(str(label)), str(n))
    out.print(t)
    if ep.dropped:
        dt = Table(title="dropped trials")
        dt.add_column("reason")
        dt.add_column("trials", justify="right")
        for reason, n in ep.dropped.items():
            dt.add_row(escape(reason), str(n))
        out.print(dt)
    else:
        out.print("dropped trials: none")
    out.print(f"epochs: {ep.n_trials} trials x {ep.n_cells} cells x {ep.n_frames} frames "
              f"({-spec.pre:g} .. +{spec.post:g} s); windowed (width {window}, step {step}): "
              f"{features.shape[2]} windows")
    ep.check_min_trials(folds, path=s.source.get("events") or s.source.get("traces"))
    return ep


ReportOpt = typer.Option(False, "--report", help="Also write report.html and figures/ into the output folder.")


@app.command(cls=_Command)
@with_options
def decode(
    path: Path = typer.Argument(..., help="Traces file or folder."),
    *, trials: TrialOptions, config: DecodeConfig,
    out_dir: Path = typer.Option(..., "--out", "-o", help="Folder for summary.json, cells.csv, models.csv, results.h5."),
    top: int = typer.Option(10, "--top", help="Rows of the printed top-cells table."),
    report: bool = ReportOpt,
    reader: ReaderOptions,
):
    """Decode the trial label from every cell and from the population; write the result folder."""
    spec = trials.spec()
    outputs.check_output_folder(out_dir, [path, *reader.input_files(),
                                          *filter(None, [trials.targets_file])])
    run_decode(reader.load(path), spec, out_dir, config, top=top, report=report)


def _warn(text: str) -> None:
    err.print(f"[yellow]warning:[/yellow] {escape(text)}", highlight=False, soft_wrap=True)


def _print_problem_size(ep, config) -> None:
    """Before decoding: the size of each analysis and what its permutations can detect;
    a run whose results cannot fit in memory is an error here, before any work."""
    sizes = problem_sizes(ep, config)
    counts = ", ".join(f"{k}: {v}" for k, v in ep.counts().items())
    out.print(f"decoding {ep.n_trials} trials ({counts}) x {ep.n_cells} cells, "
              f"{config.shuffles} shuffles x (test + {config.folds} folds), "
              f"{config.permutations:,} permutations:", markup=False, highlight=False,
              soft_wrap=True)
    for size in sizes:
        out.print(f"  {size.analysis:<14}"
                  f"{size.describe(config.shuffles, config.folds, config.permutations)}",
                  markup=False, highlight=False, soft_wrap=True)
    mib = result_bytes(sizes, ep.n_trials, config.permutations) / 2**20
    out.print(f"  in all {sum(x.fits for x in sizes):,} fits; results "
              + (f"about {mib:,.0f} MiB" if mib >= 1 else "< 1 MiB"), markup=False,
              highlight=False)
    notes, warns = significance_notes(sizes, config.permutations, config.alpha)
    if notes:
        metric = "balanced accuracy" if config.metric == "balanced" else "accuracy"
        out.print(f"significance (tested: {metric}, alpha {config.alpha:g}): "
                  + notes[0], markup=False, highlight=False, soft_wrap=True)
        for line in notes[1:]:
            out.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    for text in warns:
        _warn(text)
    check_memory(sizes, ep.n_trials, config.permutations, host_free_memory_bytes())


def run_decode(s, spec, out_dir: Path, config, *, top: int = 10, report: bool = False,
               epochs=None):
    """Epochs -> one split plan -> every analysis -> result folder, and summary tables.

    The size of the run is printed (and checked against the free memory) first.

    Decoding runs in a worker thread so that Ctrl-C acts within seconds: the run stops,
    its temporary result folder is removed, ``interrupted`` is printed and the exit status
    is 130 (see :mod:`gpudecode.progress`). The device is chosen here, once, and passed down.
    """
    ep = make_epochs(s, spec) if epochs is None else epochs
    _print_problem_size(ep, config)
    backend = Backend.from_device(config.device)
    out.print(f"device: {backend.reason}")
    cancel = threading.Event()
    with StageProgress(out, cancel) as progress:
        def abandon():
            progress.__exit__(None, None, None)
            discard_staged()
            err.print("interrupted")

        res = run_interruptibly(decode_session, s, spec, config, out_dir, backend=backend,
                                progress=progress, epochs=ep, report=report,
                                cancel=cancel, on_abandon=abandon)
    summary = res.summary
    _print_results(res, config, top)
    out_dir = Path(out_dir)
    if report:  # drawn into the result folder before it was put in place
        out.print(f"report: {out_dir / 'report.html'}", markup=False)
    out.print(f"wrote {', '.join(summary['files'])} to {out_dir} in "
              f"{summary['timing_s']['total_s']:.1f} s", markup=False)
    return res


def _print_results(res, config, top: int) -> None:
    """The top cells of each classifier, the model ranking and the time course, each with
    the test behind its p- and q-values."""
    sc = res.single_cell
    metric = "balanced accuracy" if config.metric == "balanced" else "accuracy"
    if sc is not None:
        for clf in sc.classifiers:
            t = Table(title=f"top cells: {clf}")
            for col in ("cell", "cell_id", "test acc", "bal acc", "cv acc",
                        f"> {config.threshold:g}", "p", "q"):
                t.add_column(col, justify="right")
            for r in sc.top_cells(clf, top):
                t.add_row(str(r["cell"]), escape(str(r["cell_id"])), f"{r['test_accuracy']:.3f}",
                          f"{r['balanced_accuracy']:.3f}", f"{r['cv_accuracy']:.3f}",
                          f"{r['n_above_threshold']}/{config.shuffles}", _p(r["p_value"]),
                          _p(r["q_value"]))
            out.print(t)
            if config.permutations:
                out.print(f"{clf}: {int(sc.significant[sc.classifiers.index(clf)].sum())} of "
                          f"{sc.cell_ids.size} cells significant at q < {config.alpha:g} "
                          f"(p: permutation test of each cell's {metric}; q: BH across "
                          f"{sc.cell_ids.size} cells)", markup=False, soft_wrap=True)
    if res.models:
        t = Table(title=f"models (ranked by {metric})")
        for col in ("rank", "analysis", "classifier", "test acc", "± std", "bal acc", "cv acc",
                    "p", "q", ""):
            t.add_column(col, justify="right")
        for r in res.models:
            t.add_row(str(r["rank"]), r["analysis"], r["classifier"], f"{r['test_accuracy']:.3f}",
                      f"{r['test_std']:.3f}", f"{r['balanced_accuracy']:.3f}",
                      _f(r["cv_accuracy"]), _p(r["p_value"]), _p(r["q_value"]),
                      "*" if r["significant"] else "")
        out.print(t)
        if config.permutations:
            out.print(f"models: p from the permutation null of {metric}; for single-cell and "
                      "time-resolved the best cell / window is tested against the best of each "
                      f"permutation (max-statistic); q: BH across {len(res.models)} models; "
                      f"* q < {config.alpha:g}", markup=False, soft_wrap=True)
    tc = res.timecourse
    if tc is not None:
        n_win = tc.times.size
        for clf in tc.classifiers:
            onset = tc.onset(clf)
            per_window = (f"significant from {onset:+.2f} s (first of 2 consecutive windows "
                          f"with q < {config.alpha:g})" if onset is not None else
                          f"no 2 consecutive windows with q < {config.alpha:g}")
            out.print(f"time-resolved {clf}, window by window (p per window, BH across "
                      f"{n_win} windows): {per_window}", markup=False, soft_wrap=True)
    if res.pairs:
        out.print("top discriminative pairs: " + ", ".join(
            f"{r['cell_id_i']}-{r['cell_id_j']} ({r['selection_frequency']:.0%})"
            for r in res.pairs[:5]), markup=False)


def _f(v: float) -> str:
    return "-" if not np.isfinite(v) else f"{v:.3f}"


@app.command(cls=_Command)
@with_options
def cohort(
    manifest: Path = typer.Argument(..., help="Manifest CSV/TOML: animal, session, day, traces, events, ..."),
    *, out_dir: Path = typer.Option(..., "--out", "-o", help="Cohort result folder."),
    trials: TrialOptions, config: DecodeConfig,
    scheduler: str = typer.Option("local", "--scheduler", help="local (LocalCluster), synchronous, cuda (LocalCUDACluster), or tcp://host:port."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Worker processes for --scheduler local.", show_default="one per core"),
    report: bool = ReportOpt,
):
    """Decode every session x target of a manifest on Dask; write cohort tables and learning statistics."""
    from .cohort import run_cohort  # Dask and the learning statistics: only for cohorts

    targets = trials.targets()
    entries = read_manifest(manifest)
    out.print(f"{len(entries)} sessions x {len(targets)} target(s) "
              f"({', '.join(n for n, _ in targets)}), scheduler {scheduler}", markup=False)
    with Progress(TextColumn("sessions"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("cohort", total=len(entries) * len(targets))

        def progress(done, total, result):
            bar.update(task, completed=done, total=total)
            status = result.get("status")
            line = f"{result['animal']}/{result['session']}/{result['target']}: {status}"
            if status == "failed":
                line += f" ({result.get('error', '')})"
            out.print(line, markup=False)

        run = run_cohort(manifest, out_dir, targets, config, scheduler=scheduler,
                         n_workers=workers, progress=progress)
    out.print(f"{run.n_done} computed, {run.n_skipped} already done, {len(run.failures)} failed "
              f"in {run.seconds:.1f} s; tables: " + ", ".join(p.name for p in run.files),
              markup=False)
    if run.failures:
        out.print(f"failures listed in {Path(out_dir) / 'failures.csv'}", markup=False)
    if report:
        from .report import write_report  # matplotlib: loaded only when a report is drawn
        out.print(f"report: {write_report(out_dir)}", markup=False)


@app.command(cls=_Command)
def report(
    result_dir: Path = typer.Argument(..., help="A 'decode --out' or 'cohort --out' folder."),
    out_file: Optional[Path] = typer.Option(None, "--out", "-o", help="HTML file.", show_default="DIR/report.html"),
):
    """Figures (DIR/figures/*.png, .svg) and one self-contained HTML report of a result folder."""
    from .report_cli import report_command  # matplotlib: loaded only when a report is drawn
    report_command(result_dir, out_file)


def _p(v: float) -> str:
    return "-" if not np.isfinite(v) else f"{v:.3g}"


@app.command(cls=_Command)
def bench(
    what: str = typer.Argument("single-cell", help="Workload: single-cell or cohort."),
    cells: Optional[int] = typer.Option(None, "--cells",
                                        help="Cells (the touchscreen paired-associates study gpudecode reproduces had 109).",
                                        show_default="single-cell 109, cohort 200"),
    trials: int = typer.Option(36, "--trials", help="Trials per session (that study: 36)."),
    frames: int = typer.Option(64, "--frames", help="Frames per trial, single-cell (that study: about 64)."),
    window: int = _decode_option("window_frames"),
    shuffles: int = _decode_option("shuffles"),
    folds: int = _decode_option("folds"),
    classifier: str = typer.Option("linear-svm,logistic,tree", "--classifier", help=f"Single-cell classifiers, comma-separated: {', '.join(BATCHED_CLASSIFIERS)}."),
    permutations: Optional[int] = typer.Option(None, "--permutations",
                                               help="Permutations (0 to skip).",
                                               show_default="single-cell 1000, cohort 0"),
    baseline_cells: Optional[int] = typer.Option(None, "--baseline-cells",
                                                 help="single-cell: time scikit-learn on this many cells and scale up.",
                                                 show_default="all cells"),
    animals: int = typer.Option(8, "--animals", help="cohort: simulated animals."),
    sessions: int = typer.Option(14, "--sessions", help="cohort: sessions per animal."),
    workers: Optional[str] = typer.Option(None, "--workers",
                                          help="cohort: worker counts to compare, e.g. 1,8.",
                                          show_default="1,<cores>"),
    target: str = typer.Option("object", "--target", help="cohort: named target(s) decoded per session."),
    analysis: str = typer.Option("single-cell", "--analysis", help="cohort: analyses per session."),
    numba_threads: Optional[int] = typer.Option(None, "--numba-threads",
                                                help="cohort: NUMBA_NUM_THREADS per worker.",
                                                show_default="one per core"),
    device: str = _decode_option("device"), seed: int = typer.Option(0, "--seed", help="Random seed."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the numbers as JSON.", show_default="none"),
):
    """Benchmarks: 'single-cell' (gpudecode vs the scikit-learn loop of the touchscreen
    paired-associates study it reproduces, same splits) or 'cohort' (a simulated cohort on
    1 Dask worker vs N)."""
    if what not in ("single-cell", "cohort"):
        raise ParameterError(f"unknown benchmark {what!r}", field="WHAT",
                             fix="use: single-cell or cohort")
    from .bench import bench_single_cell

    names = [c.name for c in parse_classifiers(classifier)]
    if what == "cohort":
        res = _bench_cohort(animals=animals, sessions=sessions, cells=cells, trials=trials,
                            workers=workers, target=target, analysis=analysis, classifiers=names,
                            window=window, shuffles=shuffles, folds=folds,
                            permutations=permutations, numba_threads=numba_threads,
                            device=device, seed=seed)
        if json_out:
            atomic_write_text(json_out, json.dumps(res, indent=2, default=str) + "\n")
        return
    cells = 109 if cells is None else cells
    permutations = 1000 if permutations is None else permutations
    res = bench_single_cell(n_cells=cells, n_trials=trials, n_frames=frames, window=window,
                            shuffles=shuffles, folds=folds, classifiers=names,
                            permutations=permutations, baseline_cells=baseline_cells,
                            device=device, seed=seed)
    t = Table(title=f"single-cell decoding, {res['n_cells']} cells x {res['n_trials']} trials x "
                    f"{res['n_features']} features, {shuffles} shuffles x (test + {folds} folds)")
    t.add_column("")
    t.add_column("seconds", justify="right")
    t.add_column("fits/s", justify="right")
    note = f" (from {res['sklearn_extrapolated_from_cells']} cells)" \
        if res["sklearn_extrapolated_from_cells"] else ""
    t.add_row("scikit-learn loop" + note, f"{res['sklearn_s']:.2f}", f"{res['sklearn_fits_per_s']:,.0f}")
    t.add_row("gpudecode", f"{res['gpudecode_s']:.2f}", f"{res['gpudecode_fits_per_s']:,.0f}")
    out.print(t)
    out.print(f"device: {res['device']}")
    out.print(f"speed-up: {res['speedup']:.1f}x; largest per-cell accuracy difference on identical "
              f"splits: test {res['max_abs_diff_cell_test_accuracy']:.4f}, "
              f"cv {res['max_abs_diff_cell_cv_accuracy']:.4f}")
    if permutations:
        out.print(f"permutation null: {permutations} permutations x {res['n_cells']} cells x "
                  f"{shuffles} shuffles x {len(names)} classifiers = {res['permutation_fits']:,} "
                  f"fits in {res['permutation_s']:.1f} s ({res['permutation_fits_per_s']:,.0f} fits/s)")
    if json_out:
        atomic_write_text(json_out, json.dumps(res, indent=2) + "\n")


def _bench_cohort(*, animals, sessions, cells, trials, workers, target, analysis, classifiers,
                  window, shuffles, folds, permutations, numba_threads, device, seed) -> dict:
    """``gpudecode bench cohort``: run :func:`gpudecode.bench.bench_cohort` and print its table."""
    from .bench import bench_cohort

    counts = None
    if workers:
        try:
            counts = [int(w) for w in workers.split(",") if w.strip()]
        except ValueError:
            raise ParameterError(f"--workers must be whole numbers, got {workers!r}",
                                 field="--workers", fix="pass e.g. --workers 1,4") from None
    with out.status("simulating and decoding the cohort") as status:
        res = bench_cohort(n_animals=animals, n_sessions=sessions,
                           n_cells=200 if cells is None else cells, n_trials=trials,
                           workers=counts, targets=target, analyses=analysis,
                           classifiers=classifiers, window=window, shuffles=shuffles,
                           folds=folds, permutations=permutations or 0,
                           numba_threads=numba_threads, device=device, seed=seed,
                           progress=lambda text: status.update(text))
    t = Table(title=f"cohort: {res['n_animals']} animals x {res['n_sessions_per_animal']} sessions "
                    f"x {res['n_cells']} cells, target {','.join(res['targets'])}")
    for col in ("workers", "wall s", "sessions/min", "steady sessions/min", "s/session (median)",
                "first session s"):
        t.add_column(col, justify="right")
    for r in res["runs"]:
        steady = r["steady_sessions_per_min"]
        t.add_row(str(r["n_workers"]), f"{r['wall_s']:.1f}", f"{r['sessions_per_min']:.2f}",
                  "-" if steady is None else f"{steady:.2f}", f"{r['session_s_median']:.2f}",
                  f"{r['first_session_s']:.1f}")
    out.print(t)
    out.print(f"device: {res['device']}; cpu: {res['cpu']} ({res['n_cores']} cores)", markup=False)
    steady = res["steady_scaling"]
    out.print(f"scaling {res['workers'][-1]} vs {res['workers'][0]} workers: "
              f"{res['scaling']:.2f}x (wall), "
              + ("-" if steady is None else f"{steady:.2f}x") + " (steady, compile excluded); "
              f"identical per-session models.csv: {res['identical_models']}", markup=False)
    for r in res["runs"]:
        for f in r["failures"]:
            out.print(f"failed: {f['animal']}/{f['session']}/{f['target']}: {f['error']}",
                      markup=False)
    return res


# The demo's session and plan, chosen (measured) so that it finds most planted outcome cells
# after BH and runs in a few minutes on 2 CPU cores: 72 trials (with 36 the permutation null
# of a cell's balanced accuracy is so wide that no planted cell passes BH), 50 cells (1000
# permutations let one cell alone reach q < 0.05 across 50), 10 shuffles, no democracy (the
# costliest analysis: every per-cell fit again for each permutation).
DEMO_CELLS = 50
DEMO_TRIALS = 72
DEMO_PERMUTATIONS = 1000
DEMO_SHUFFLES = 10
DEMO_ANALYSES = "single-cell,summed,correlation,time-resolved"


@app.command(cls=_Command)
def demo(
    out_dir: Path = typer.Option(Path("gpudecode-demo"), "--out", help="Where to write the demo data and results."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    permutations: int = typer.Option(DEMO_PERMUTATIONS, "--permutations", help="Label permutations for the p-values.", show_default=True),
    shuffles: int = _decode_option("shuffles", default=DEMO_SHUFFLES, show_default=True),
    device: str = _decode_option("device"),
):
    """Simulate a touchscreen session (50 cells, 72 trials), read it back from CSV + ABET
    files, decode the outcome (every analysis but democracy); say how many of the planted
    outcome cells were found."""
    from .simulate import simulate_session, write_simulation

    sim = simulate_session(seed=seed, session_index=6, n_cells=DEMO_CELLS, n_trials=DEMO_TRIALS)
    s0 = sim[0]
    data_dir = Path(out_dir) / "data"
    paths = [Path(p) for p in write_simulation(data_dir, [sim], formats=("h5", "csv", "abet"))]
    by_suffix = {p.name.rsplit("_", 1)[-1]: p for p in paths}
    traces, abet, sync = by_suffix["traces.csv"], by_suffix["abet.csv"], by_suffix["sync.txt"]
    _heading("1. simulated a touchscreen session (ground truth stored in the .h5)")
    for p in paths:
        out.print(f"  {p}", markup=False)
    truth = sim[1]
    out.print(f"  planted outcome cells: {_cell_list(s0.cell_ids, truth['outcome_cells'])}",
              markup=False)
    _heading("2. read the Inscopix-style traces and the ABET II log, clocks aligned on TTL #1")
    s = load_session(traces, abet, sync_event="TTL #1", sync_pulses=sync)
    _print_info(s)
    _heading("3. trials around Correct / Incorrect (-1 .. +1 s), correction trials excluded")
    spec = TrialSpec(anchors=("Correct", "Incorrect"), pre=1.0, post=1.0,
                     exclude_events=("Start Correction Trial",), exclude_within=12.0)
    ep = _print_epochs(s, spec, folds=3, window=4, step=2, device=device)
    _heading("4. decode the outcome: single cells, summed activity, correlations, time course")
    config = DecodeConfig(analyses=DEMO_ANALYSES, classifiers="linear-svm,logistic,tree",
                          population_classifiers="linear-svm", window_frames=4, step_frames=2,
                          shuffles=shuffles, test_size=0.25, folds=3, permutations=permutations,
                          metric="balanced", class_weight="balanced", select_k=50, seed=seed,
                          device=device)
    res = run_decode(s, spec, Path(out_dir) / "results", config, top=5, report=True, epochs=ep)
    _heading("5. what was planted, what was found")
    _print_planted_found(res, truth, config)


def _cell_list(cell_ids, index) -> str:
    return ", ".join(str(cell_ids[i]) for i in index) or "none"


def _print_planted_found(res, truth: dict, config) -> None:
    """The demo's check on itself: planted outcome cells significant for any single-cell
    classifier, the ones missed, and the other significant cells with their planted role."""
    sc = res.single_cell
    ids = sc.cell_ids
    significant = sc.significant.any(0)
    planted = np.asarray(truth["outcome_cells"])
    found = planted[significant[planted]]
    missed = planted[~significant[planted]]
    others = np.setdiff1d(np.flatnonzero(significant), planted)
    roles = truth.get("role")
    out.print(f"{found.size} of {planted.size} planted outcome cells found at q < "
              f"{config.alpha:g} (any of {', '.join(sc.classifiers)}), "
              f"{others.size} other cell{'s' if others.size != 1 else ''}", markup=False)
    if found.size:
        out.print(f"  found: {_cell_list(ids, found)}", markup=False)
    if missed.size:
        out.print(f"  missed: {_cell_list(ids, missed)}", markup=False)
    if others.size:
        out.print("  others: " + ", ".join(
            f"{ids[i]} ({roles[i]})" if roles is not None else str(ids[i]) for i in others),
            markup=False)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; bad input and usage errors print one line and exit with 2.

    Usage errors are typer's (its vendored click's) exceptions, all subclasses of
    ``typer.TyperException``: they print the command's usage and one error line. Ctrl-C
    prints ``interrupted`` and exits with 130. Running out of memory is one line too.
    """
    def _show_warning(message, category, filename, lineno, file=None, line=None):
        err.print(f"[yellow]warning:[/yellow] {escape(str(message))}", highlight=False, soft_wrap=True)

    if argv is None:
        # The process is this command: what its imports made (about 190,000 objects) lives
        # until exit, so the collector need not walk it while decoding or at exit (0.3 s).
        gc.freeze()
    warnings.showwarning = _show_warning
    np.seterr(all="ignore")
    for console in (out, err):  # piped: tables as wide as they need, not cut to 80 columns
        if not console.is_terminal and "COLUMNS" not in os.environ:
            console.width = PIPE_WIDTH
    outputs.COMMAND_LINE = ["gpudecode", *map(str, argv)] if argv is not None else None
    try:
        code = app(args=argv, standalone_mode=False)
    except GpudecodeError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        code = 130
    except MemoryError as exc:
        detail = f" ({exc})" if str(exc) else ""
        err.print(f"[red]error:[/red] out of memory{escape(detail)}; the problem is too large "
                  "for this machine: use fewer --permutations, --shuffles or cells",
                  highlight=False, soft_wrap=True)
        return 2
    except typer.TyperException as exc:  # usage errors: bad option, missing argument, ...
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            err.print(f"error: {exc.format_message()}", markup=False, highlight=False,
                      soft_wrap=True)
        return exc.exit_code if exc.exit_code else 2
    except typer.Abort:
        err.print("aborted")
        return 1
    # Without standalone mode typer returns Exit's code (0 for --help; 130 for Ctrl-C, which
    # it turns into Exit(130)), or the command's return value (None).
    if code == 130:
        err.print("interrupted")
        return 130
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
