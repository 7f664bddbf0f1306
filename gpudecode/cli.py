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
    out.print(repr(s))
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
            et.add_row(name, str(n))
        out.print(et)
        if s.events.attrs:
            out.print(f"event attributes: {', '.join(s.events.attrs)}")


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
    from .backend import Backend
    from .trials import TrialSpec, make_epochs
    spec = _spec_from_options(anchor, pre, post, label_events, label_window, label_attr,
                              exclude, exclude_within)
    s = _load(path, events, format, events_format, signal, frame_rate, trust_pickle,
              keep_rejected, event_offset, sync_event, sync_pulses, sync_channel, interpolate_gaps)
    ep = make_epochs(s, spec)
    backend = Backend.from_device(device)
    out.print(f"device: {backend.reason}")
    features = backend.to_host(backend.sliding_mean(ep.data, window, step))
    t = Table(title=f"trials by label ({len(ep.labels)} kept)")
    t.add_column("label")
    t.add_column("trials", justify="right")
    for label, n in ep.counts().items():
        t.add_row(str(label), str(n))
    out.print(t)
    if ep.dropped:
        dt = Table(title="dropped trials")
        dt.add_column("reason")
        dt.add_column("trials", justify="right")
        for reason, n in ep.dropped.items():
            dt.add_row(reason, str(n))
        out.print(dt)
    else:
        out.print("dropped trials: none")
    out.print(f"epochs: {ep.data.shape[0]} trials x {ep.data.shape[1]} cells x "
              f"{ep.data.shape[2]} frames ({-pre:g} .. +{post:g} s); "
              f"windowed (width {window}, step {step}): {features.shape[2]} windows")
    ep.check_min_trials(folds, path=s.source.get("events") or s.source.get("traces"))


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
    """Simulate a touchscreen session, read it back and cut outcome trials (end to end)."""
    from .simulate import simulate_session, write_simulation
    sim = simulate_session(seed=seed, session_index=6)
    paths = write_simulation(out_dir, [sim], formats=("h5", "csv", "abet"))
    out.print(f"[bold]1. simulated[/bold] one session ({sim[0].n_cells} cells) into {out_dir}")
    traces_csv = next(p for p in paths if str(p).endswith(".csv") and "events" not in Path(p).name
                      and "abet" not in Path(p).name and "manifest" not in Path(p).name)
    abet_csv = next(p for p in paths if "abet" in Path(p).name)
    out.print(f"[bold]2. reading[/bold] {traces_csv} with {abet_csv}")
    info(traces_csv, events=abet_csv, format="auto", events_format="auto", signal=None,
         frame_rate=None, trust_pickle=False, keep_rejected=False, event_offset=0.0,
         sync_event=None, sync_pulses=None, sync_channel=None, interpolate_gaps=0)
    out.print("[bold]3. cutting trials[/bold] around Correct / Incorrect (-1 s .. +2 s)")
    epochs(traces_csv, anchor="Correct,Incorrect", pre=1.0, post=2.0, label_events=None,
           label_window=None, label_attr=None, exclude=None, exclude_within=0.0, folds=2,
           window=4, step=1, device="auto", events=abet_csv, format="auto",
           events_format="auto", signal=None, frame_rate=None, trust_pickle=False,
           keep_rejected=False, event_offset=0.0, sync_event=None, sync_pulses=None,
           sync_channel=None, interpolate_gaps=0)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning bad input into one line and exit status 2."""
    def _show_warning(message, category, filename, lineno, file=None, line=None):
        err.print(f"[yellow]warning:[/yellow] {message}", highlight=False, soft_wrap=True)

    warnings.showwarning = _show_warning
    np.seterr(all="ignore")
    try:
        app(args=argv, standalone_mode=False)
    except GpudecodeError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
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
