"""Write a minimal file of every binary input format gpudecode reads.

The formats page of the documentation shows each function; ``tests/test_docs.py`` runs them
and reads every file back with :func:`gpudecode.load_session`. Each file holds the same 3
cells x 12 frames at 10 Hz (``TRACES``), as the pipeline named would write it.

Run it to get the files: ``python docs/formats/write_minimal_files.py OUT_DIR``.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

FRAME_RATE_HZ = 10.0
TRACES = np.loadtxt(Path(__file__).with_name("C.txt"))      # cells x frames
N_CELLS, N_FRAMES = TRACES.shape


def write_native(out: Path) -> Path:
    """gpudecode's own HDF5 layout, with its events."""
    import gpudecode as gd
    session = gd.Session(traces=TRACES.astype(np.float32),
                         frame_times=np.arange(N_FRAMES) / FRAME_RATE_HZ,
                         cell_ids=np.array(["C0", "C1", "C2"]),
                         events=gd.Events([0.35, 0.72], ["Correct", "Incorrect"]),
                         animal="A7", session="s01", day=1)
    gd.save_session(session, out / "session.h5")
    return out / "session.h5"


def write_nwb(out: Path) -> Path:
    """NWB 2.x written by pynwb: traces (time x ROIs), ROIs, and a trials table."""
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.ophys import Fluorescence, ImageSegmentation, OpticalChannel

    nwb = NWBFile(session_description="minimal example", identifier="minimal-1",
                  session_start_time=datetime(2024, 1, 2, 9, 0, tzinfo=timezone.utc))
    device = nwb.create_device(name="Miniscope")
    plane = nwb.create_imaging_plane(
        name="ImagingPlane", device=device, imaging_rate=FRAME_RATE_HZ, indicator="GCaMP6f",
        location="CA1", excitation_lambda=470.0, description="field of view",
        optical_channel=OpticalChannel(name="green", description="GCaMP", emission_lambda=520.0))
    ophys = nwb.create_processing_module(name="ophys", description="cell traces")
    segmentation = ImageSegmentation()
    ophys.add(segmentation)
    rois = segmentation.create_plane_segmentation(name="PlaneSegmentation", description="ROIs",
                                                  imaging_plane=plane)
    for i in range(N_CELLS):
        mask = np.zeros((8, 8))
        mask[i, i] = 1.0
        rois.add_roi(image_mask=mask)
    fluorescence = Fluorescence()
    ophys.add(fluorescence)
    fluorescence.create_roi_response_series(
        name="RoiResponseSeries", data=TRACES.T, unit="dF/F", rate=FRAME_RATE_HZ,
        rois=rois.create_roi_table_region(region=list(range(N_CELLS)), description="all"))
    nwb.add_trial_column(name="outcome", description="Correct or Incorrect")
    nwb.add_trial(start_time=0.35, stop_time=0.6, outcome="Correct")
    nwb.add_trial(start_time=0.72, stop_time=0.9, outcome="Incorrect")
    with NWBHDF5IO(str(out / "session.nwb"), "w") as io:
        io.write(nwb)
    return out / "session.nwb"


def write_caiman(out: Path) -> Path:
    """CaImAn's ``cnm.save('caiman.hdf5')``: only the datasets gpudecode reads."""
    import h5py
    with h5py.File(out / "caiman.hdf5", "w") as f:
        f["estimates/C"] = TRACES                      # cells x frames, not transposed
        f["estimates/S"] = np.maximum(np.diff(TRACES, prepend=0.0, axis=1), 0.0)
        f["estimates/idx_components"] = np.array([0, 1])   # accepted; cell 2 was rejected
        f["params/data/fr"] = FRAME_RATE_HZ
    return out / "caiman.hdf5"


def write_suite2p(out: Path) -> Path:
    """A suite2p ``plane0`` folder: ``F.npy``, ``Fneu.npy``, ``spks.npy``, ``iscell.npy``."""
    plane = out / "suite2p" / "plane0"
    plane.mkdir(parents=True, exist_ok=True)
    np.save(plane / "F.npy", TRACES.astype(np.float32))          # ROIs x frames
    np.save(plane / "Fneu.npy", np.full_like(TRACES, 0.05, dtype=np.float32))
    np.save(plane / "spks.npy", np.maximum(TRACES - 0.2, 0).astype(np.float32))
    np.save(plane / "iscell.npy", np.array([[1, 0.9], [1, 0.8], [0, 0.1]]))  # [label, prob]
    return plane                                   # read with frame_rate=10 (--frame-rate 10)


def write_cnmfe_v5(out: Path) -> Path:
    """CNMF-E ``neuron.save_results`` as a MATLAB v5 file (scipy.io.savemat)."""
    import scipy.io
    scipy.io.savemat(out / "cnmfe_results.mat", {
        "neuron_results": {"C": TRACES, "C_raw": TRACES + 0.01, "S": TRACES * 0,
                           "Fs": FRAME_RATE_HZ}})
    return out / "cnmfe_results.mat"


def write_min1pipe_v73(out: Path) -> Path:
    """MIN1PIPE ``*_data_processed.mat`` as a MATLAB v7.3 (HDF5) file (hdf5storage)."""
    import hdf5storage
    hdf5storage.savemat(str(out / "session_data_processed.mat"),
                        {"sigfn": TRACES, "spkfn": TRACES * 0,
                         "Params": {"Fsi_new": FRAME_RATE_HZ}},
                        format="7.3", matlab_compatible=True)
    return out / "session_data_processed.mat"


WRITERS = {"gpudecode": write_native, "nwb": write_nwb, "caiman": write_caiman,
           "suite2p": write_suite2p, "matlab v5": write_cnmfe_v5,
           "matlab v7.3": write_min1pipe_v73}

if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "minimal-files")
    folder.mkdir(parents=True, exist_ok=True)
    for name, write in WRITERS.items():
        print(f"{name:12s} {write(folder)}")
