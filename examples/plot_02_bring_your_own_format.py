"""
Bring your own format: NWB, suite2p, CaImAn, a plain-text matrix
================================================================

Imaging pipelines write traces in many layouts. gpudecode reads them all into the same
:class:`~gpudecode.Session`: cells x frames, frame times in seconds, cell ids, and the
behavioural events. This example writes one simulated session the way four pipelines would,
reads each back, checks they agree, and decodes from the least informative one: a bare
``C.txt`` matrix whose frame times come from a separate file.

:doc:`/formats` describes every format and its options.
"""

# %%
# One session, four layouts
# -------------------------
import tempfile
import warnings
from pathlib import Path

import h5py
import matplotlib.pyplot as plt
import numpy as np

import gpudecode as gd

work = Path(tempfile.mkdtemp(prefix="gpudecode-formats-"))
# Object cells planted strongly (6 of 30 cells), so that a short example finds them.
session, truth = gd.simulate_session(
    seed=0, session_index=10, n_cells=30, n_trials=72, effect=2.0, reliability=0.9,
    roles={"outcome": 0.0, "location": 0.0, "object": 0.2, "ensemble": 0.0})
traces, frame_times = session.traces, session.frame_times          # cells x frames, seconds
rate_hz = 1.0 / np.median(np.diff(frame_times))
print(session)

# NWB 2.x, written by pynwb (the simulator's writer): traces, ROIs, trials table, events.
nwb_path = next(p for p in gd.write_simulation(work / "nwb", [(session, truth)], formats=("nwb",))
                if p.suffix == ".nwb")

# suite2p: a plane0 folder of .npy arrays (ROIs x frames) and iscell (label, probability).
plane = work / "suite2p" / "plane0"
plane.mkdir(parents=True)
np.save(plane / "F.npy", traces)
np.save(plane / "Fneu.npy", np.zeros_like(traces))
np.save(plane / "spks.npy", np.zeros_like(traces))
np.save(plane / "iscell.npy", np.ones((session.n_cells, 2)))

# CaImAn: what cnm.save() writes, the datasets gpudecode reads.
with h5py.File(work / "caiman.hdf5", "w") as f:
    f["estimates/C"] = traces
    f["estimates/idx_components"] = np.arange(session.n_cells)
    f["params/data/fr"] = rate_hz

# A plain-text matrix (one row per cell, no header, no times) and a frame-times file.
np.savetxt(work / "C.txt", traces, fmt="%.6f")
np.savetxt(work / "frame_times.txt", frame_times, fmt="%.6f")

# The behaviour: an events CSV (time, event, attribute columns) on the imaging clock.
written = gd.write_simulation(work / "csv", [(session, truth)], formats=("csv",))
events_csv = next(p for p in written if p.name.endswith("_events.csv"))
print(events_csv.read_text().splitlines()[0][:120])

# %%
# Read each back
# --------------
# The format is sniffed from the content; options supply what a format lacks: suite2p keeps no
# frame times (``frame_rate``), and the text matrix gets them from the frame-times file. CaImAn
# and suite2p keep only frame *rate*, so their times start at 0 and step evenly; NWB and the
# frame-times file keep the real, slightly jittered times.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    read = {
        "NWB": gd.load_session(nwb_path),
        "suite2p": gd.load_session(plane, events_csv, frame_rate=rate_hz),
        "CaImAn": gd.load_session(work / "caiman.hdf5", events_csv),
        "C.txt": gd.load_session(work / "C.txt", events_csv,
                                 frame_times=work / "frame_times.txt"),
    }
for name, s in read.items():
    same = np.allclose(s.traces, traces, atol=1e-5)
    print(f"{name:8s} {s.source.get('format'):9s} {s.n_cells} cells x {s.n_frames} frames, "
          f"{s.frame_rate:.2f} Hz, {len(s.events.names)} events; traces identical: {same}")
    assert same

# %%
# The NWB file carries its own events: each trials-table row became an event named ``trial``
# with the table's columns as attributes, and the annotations became named events.
nwb = read["NWB"]
print(sorted(set(nwb.events.names)))
print("trial attributes:", sorted(nwb.events.attrs)[:8], "...")

# %%
# Decode from the text matrix
# ---------------------------
# Which object did the display show? Cells planted as object cells fire 0.1-0.7 s after the
# display of their preferred object. The built-in ``object`` target cuts trials around
# ``Display Image`` and labels them by the event's ``object`` attribute (three classes).
text_session = read["C.txt"]
target = gd.resolve_targets("object")[0]
with warnings.catch_warnings():
    warnings.simplefilter("ignore", gd.DroppedTrialsWarning)
    epochs = gd.make_epochs(text_session, target.spec)
plan = gd.SplitPlan(n_shuffles=8, n_folds=3, n_permutations=200, seed=0).fit(epochs.labels)
res = gd.decode_cells(epochs, plan, classifiers="lda", window_frames=4, step_frames=4,
                      metric="balanced")
found = np.flatnonzero(res.significant[0])
planted = truth["object_cells"]
print(f"object cells planted: {planted}; significant (q < 0.05): {found}")

# %%
# Per-cell balanced accuracy (chance = 1/3), planted object cells in colour.
bacc = res.test_balanced[0].mean(-1)
fig, ax = plt.subplots(figsize=(7, 3))
colors = np.where(np.isin(np.arange(epochs.n_cells), planted), "C2", "0.7")
ax.bar(np.arange(epochs.n_cells), bacc, color=colors)
ax.scatter(found, bacc[found] + 0.03, marker="*", color="k", label="q < 0.05")
ax.axhline(1 / 3, color="k", lw=0.8, ls="--", label="chance (1/3)")
ax.set(xlabel="cell", ylabel="test balanced accuracy", title="object shown, LDA per cell "
       "(from C.txt + frame_times.txt); green: planted object cells")
ax.legend(fontsize=8)
fig.tight_layout()

assert len(set(found) & set(planted)) >= len(planted) // 2
assert len(set(found) - set(planted)) <= 1
