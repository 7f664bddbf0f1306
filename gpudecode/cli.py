"""Command line: ``gpudecode simulate | info | epochs | demo``.

Bad input prints one line (``error: ...``) and exits with status 2, never a traceback.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .errors import GpudecodeError, ParameterError

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True,
                  help="Decode behaviour from calcium-imaging recordings.")
out = Console()
err = Console(stderr=True)


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


# Options shared by every command that reads a session.
EventsOpt = typer.Option(None, "--events", "-e", help="Behavioural event log (CSV, ABET II, Arduino, NWB).")
FormatOpt = typer.Option("auto", "--format", help="Traces format: auto, gpudecode, csv, nwb, caiman, suite2p, matlab.")
EventsFormatOpt = typer.Option("auto", "--events-format", help="Events format: auto, csv, abet, arduino, nwb.")
SignalOpt = typer.Option(None, "--signal", help="Which trace to read (C, S, F, spks, ...).")
RateOpt = typer.Option(None, "--frame-rate", help="Frame rate in Hz for files without frame times.")
TrustOpt = typer.Option(False, "--trust-pickle", help="suite2p: unpickle ops.npy for the frame rate (runs code).")
RejectedOpt = typer.Option(False, "--keep-rejected", help="Keep cells the pipeline rejected.")
OffsetOpt = typer.Option(0.0, "--event-offset", help="Seconds added to event times (behaviour -> imaging clock).")
SyncEventOpt = typer.Option(None, "--sync-event", help="Behaviour-log event name of the sync pulses (e.g. 'TTL #1').")
SyncPulsesOpt = typer.Option(None, "--sync-pulses", help="Imaging-side pulse times: one per line, or an Inscopix GPIO CSV.")
SyncChannelOpt = typer.Option(None, "--sync-channel", help="GPIO channel holding the pulses.")
GapOpt = typer.Option(0, "--interpolate-gaps", help="Fill NaN/inf runs up to N frames by interpolation (0: error).")


def _load(path, events, fmt, events_fmt, signal, rate, trust, keep_rejected, offset,
          sync_event, sync_pulses, sync_channel, max_gap):
    from .io import load_session
    return load_session(path, events, fmt, events_format=events_fmt, signal=signal,
                        frame_rate=rate, trust_pickle=trust, keep_rejected=keep_rejected,
                        event_offset=offset, sync_event=sync_event, sync_pulses=sync_pulses,
                        sync_channel=sync_channel, max_gap=max_gap)


@app.command()
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


@app.command()
def info(
    path: Path = typer.Argument(..., help="Traces file or folder."),
    events: Optional[Path] = EventsOpt, format: str = FormatOpt,
    events_format: str = EventsFormatOpt, signal: Optional[str] = SignalOpt,
    frame_rate: Optional[float] = RateOpt, trust_pickle: bool = TrustOpt,
    keep_rejected: bool = RejectedOpt, event_offset: float = OffsetOpt,
    sync_event: Optional[str] = SyncEventOpt, sync_pulses: Optional[Path] = SyncPulsesOpt,
    sync_channel: Optional[str] = SyncChannelOpt, interpolate_gaps: int = GapOpt,
):
    """What was read: cells, frames, duration, frame rate, events and the span of each clock."""
    s = _load(path, events, format, events_format, signal, frame_rate, trust_pickle,
              keep_rejected, event_offset, sync_event, sync_pulses, sync_channel, interpolate_gaps)
    _print_info(s)


def _print_info(s) -> None:
    out.print(repr(s), markup=False)
    t = Table(show_header=False, box=None)
    t.add_row("traces", f"{s.source.get('traces')} (format {s.source.get('format')})")
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


@app.command()
def epochs(
    path: Path = typer.Argument(..., help="Traces file or folder."),
    anchor: str = typer.Option(..., "--anchor", "-a", help="Anchor event name(s), comma-separated."),
    pre: float = typer.Option(1.0, help="Seconds before the anchor."),
    post: float = typer.Option(1.0, help="Seconds after the anchor."),
    label_events: Optional[str] = typer.Option(None, help="Label = first of these events after the anchor."),
    label_window: Optional[str] = typer.Option(None, help="A,B seconds after the anchor to look for label events."),
    label_attr: Optional[str] = typer.Option(None, help="Label = this attribute of the anchor event."),
    exclude: Optional[str] = typer.Option(None, help="Drop trials near these events (comma-separated)."),
    exclude_within: float = typer.Option(0.0, help="Seconds around an --exclude event that drop a trial."),
    folds: int = typer.Option(5, help="CV folds the decoding will use: every class needs this many trials."),
    window: int = typer.Option(4, help="Sliding-window width in frames."),
    step: int = typer.Option(1, help="Sliding-window step in frames."),
    device: str = typer.Option("auto", help="auto, cpu or gpu."),
    events: Optional[Path] = EventsOpt, format: str = FormatOpt,
    events_format: str = EventsFormatOpt, signal: Optional[str] = SignalOpt,
    frame_rate: Optional[float] = RateOpt, trust_pickle: bool = TrustOpt,
    keep_rejected: bool = RejectedOpt, event_offset: float = OffsetOpt,
    sync_event: Optional[str] = SyncEventOpt, sync_pulses: Optional[Path] = SyncPulsesOpt,
    sync_channel: Optional[str] = SyncChannelOpt, interpolate_gaps: int = GapOpt,
):
    """Cut trials around anchor events: trial counts per label, dropped trials and why."""
    spec = _spec_from_options(anchor, pre, post, label_events, label_window, label_attr,
                              exclude, exclude_within)
    s = _load(path, events, format, events_format, signal, frame_rate, trust_pickle,
              keep_rejected, event_offset, sync_event, sync_pulses, sync_channel, interpolate_gaps)
    _print_epochs(s, spec, folds, window, step, device)


def _print_epochs(s, spec, folds: int, window: int, step: int, device: str):
    from .backend import Backend
    from .trials import make_epochs
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


def _spec_from_options(anchor, pre, post, label_events, label_window, label_attr, exclude,
                       exclude_within):
    from .trials import TrialSpec
    if label_events and label_attr:
        raise ParameterError("choose one label rule", field="--label-events/--label-attr",
                             fix="pass either --label-events or --label-attr, not both")
    kw = {}
    if label_events:
        kw.update(label="events", label_events=_split(label_events))
        win = _pair(label_window, "--label-window")
        if win is not None:
            kw["label_window"] = win
    elif label_attr:
        kw.update(label="attr", label_attr=label_attr)
    return TrialSpec(anchors=_split(anchor), pre=pre, post=post,
                     exclude_events=_split(exclude), exclude_within=exclude_within, **kw)


@app.command()
def demo(
    out_dir: Path = typer.Option(Path("gpudecode-demo"), "--out", help="Where to write the demo data."),
    seed: int = typer.Option(0, help="Random seed."),
):
    """Simulate a touchscreen session, read it back from CSV + ABET files, cut outcome trials."""
    from .io import load_session
    from .simulate import simulate_session, write_simulation
    from .trials import TrialSpec
    sim = simulate_session(seed=seed, session_index=6)
    paths = [Path(p) for p in write_simulation(out_dir, [sim], formats=("h5", "csv", "abet"))]
    by_suffix = {p.name.rsplit("_", 1)[-1]: p for p in paths}
    traces, abet, sync = by_suffix["traces.csv"], by_suffix["abet.csv"], by_suffix["sync.txt"]
    out.rule("1. simulated a touchscreen session (ground truth stored in the .h5)")
    for p in paths:
        out.print(f"  {p}")
    out.rule("2. read the Inscopix-style traces and the ABET II log, clocks aligned on TTL #1")
    s = load_session(traces, abet, sync_event="TTL #1", sync_pulses=sync)
    _print_info(s)
    out.rule("3. trials around Correct / Incorrect (-1 .. +2 s), correction trials excluded")
    spec = TrialSpec(anchors=("Correct", "Incorrect"), pre=1.0, post=2.0,
                     exclude_events=("Start Correction Trial",), exclude_within=12.0)
    _print_epochs(s, spec, folds=5, window=4, step=1, device="auto")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning bad input into one line and exit status 2."""
    def _show_warning(message, category, filename, lineno, file=None, line=None):
        err.print(f"[yellow]warning:[/yellow] {escape(str(message))}", highlight=False, soft_wrap=True)

    warnings.showwarning = _show_warning
    np.seterr(all="ignore")
    try:
        app(args=argv, standalone_mode=False)
    except GpudecodeError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    except Exception as exc:  # click's own usage errors
        import click
        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return 2
        if isinstance(exc, click.exceptions.Abort):
            return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
