"""Fault injection: kills, a full disk, changed and deleted files, two runs at once.

Every case ends the same way: the result folder holds one complete run (old or new, as
``check_one_run`` confirms file by file), the next run leaves no temporary file or folder,
and the cohort tables describe only complete sessions of the current inputs.

Kills are real ``SIGKILL``s: a child process runs ``gpudecode decode`` (or ``cohort``) with
one function wrapped to kill the process at a chosen point. The decode plan is small
(summed activity and correlations with a random forest, 3 shuffles, no numba compile), so a
child takes a few seconds.
"""

import csv
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpudecode import outputs
from gpudecode.cli import main
from gpudecode.cohort import LOCK_NAME, run_cohort
from gpudecode.errors import FormatError
from gpudecode.io.native import save_session
from gpudecode.outputs import check_one_run
from gpudecode.pipeline import DecodeConfig
from gpudecode.simulate import simulate_cohort, write_simulation
from result_folders import FAST, cli_decode_args, decode_into, outcome_spec, small_session

# A child that kills itself with SIGKILL when a chosen function is called for the n-th time
# (counting only calls whose first argument contains plan["arg"], if given), before or after
# the call runs; then runs the command line. The function is replaced in its module and in
# every gpudecode module that imported it by name.
KILLER = r"""
import importlib, json, os, signal, sys
plan = json.loads(sys.argv[1])
if plan.get("no_exchange"):
    import errno
    import gpudecode.atomic as atomic
    def no_exchange(a, b):
        raise OSError(errno.EINVAL, "not supported here")
    atomic.exchange_paths = no_exchange
module = importlib.import_module(plan["module"])
real = getattr(module, plan["attr"])
calls = []
def wrapped(*args, **kwargs):
    hit = False
    if plan.get("arg") is None or plan["arg"] in str(args[0] if args else ""):
        calls.append(1)
        hit = len(calls) == plan["call"]
    if hit and plan["when"] == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    result = real(*args, **kwargs)
    if hit and plan["when"] == "after":
        os.kill(os.getpid(), signal.SIGKILL)
    return result
from gpudecode.cli import main
# every module that imported the function by name gets the wrapper too
for name, mod in list(sys.modules.items()):
    if (name == plan["module"] or name.startswith("gpudecode")) and \
            getattr(mod, plan["attr"], None) is real:
        setattr(mod, plan["attr"], wrapped)
sys.exit(main(sys.argv[2:]))
"""

# (id, module, function, call number, kill before/after it, extra options)
DECODE_KILLS = [
    ("computing", "gpudecode.population", "decode_summed", 1, "before", {}),
    ("first-csv-written", "gpudecode.outputs", "write_csv", 1, "after", {}),
    ("results-h5-written", "gpudecode.outputs", "file_manifest", 1, "before", {}),
    ("summary-written", "gpudecode.outputs", "write_summary", 1, "after", {}),
    ("drawing-report", "gpudecode.pipeline", "_write_report_into", 1, "before",
     {"report": True}),
    ("after-exchange", "gpudecode.atomic", "exchange_paths", 1, "after", {}),
    ("between-two-renames", "os", "rename", 1, "after", {"no_exchange": True}),
]


def _kill_child(plan: dict, argv: list[str], cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", KILLER, json.dumps(plan), *map(str, argv)],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _leftovers(folder: Path) -> list[str]:
    """Temporary things beside or inside a result folder."""
    beside = [p.name for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}.")]
    inside = [str(p.relative_to(folder)) for p in folder.rglob(".*")] if folder.exists() else []
    return beside + inside


@pytest.fixture(scope="module")
def traces_file(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    path = data / "session.h5"
    save_session(small_session(), path)
    return path


@pytest.mark.parametrize("name,module,attr,call,when,extra", DECODE_KILLS,
                         ids=[k[0] for k in DECODE_KILLS])
def test_kill_9_while_decode_overwrites_an_earlier_result(name, module, attr, call, when,
                                                          extra, traces_file, tmp_path):
    from gpudecode.io import load_session
    out = tmp_path / "out"
    decode_into(out, "summed,correlation", session=load_session(traces_file))
    old = _snapshot(out)
    assert "pairs.csv" in old
    argv = cli_decode_args(traces_file, out, "summed") + (["--report"] if extra.get("report")
                                                          else [])
    plan = {"module": module, "attr": attr, "call": call, "when": when,
            "arg": str(out) if attr == "rename" else None, **extra}
    proc = _kill_child(plan, argv, tmp_path)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]

    if name == "between-two-renames":
        # Without RENAME_EXCHANGE the swap is two renames; killed between them, the old
        # folder waits aside, complete, and the next run on the folder puts it back first.
        assert not out.exists()
        (aside,) = [p for p in tmp_path.iterdir() if ".gpudecode-old-" in p.name]
        assert _snapshot(aside) == old
        from gpudecode.atomic import clean_leftovers
        clean_leftovers(out)
    now = _snapshot(out)
    check_one_run(out)                                  # every file of one run
    if name == "after-exchange":
        summary = json.loads(now["summary.json"])
        assert summary["analyses"] == ["summed"] and "pairs.csv" not in now
    else:
        assert now == old, f"killed at {name}: the old result changed"

    # The next run replaces the folder whole and leaves nothing temporary behind.
    decode_into(out, "summed", session=load_session(traces_file))
    check_one_run(out)
    assert sorted(p.name for p in out.iterdir()) == ["models.csv", "results.h5",
                                                      "summary.json"]
    assert _leftovers(out) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_rerun_with_fewer_analyses_leaves_nothing_of_the_earlier_run(tmp_path):
    out = tmp_path / "out"
    decode_into(out, "summed,correlation")
    (out / "figures").mkdir()                          # as `gpudecode report` leaves them
    (out / "figures" / "pairs.png").write_bytes(b"png")
    (out / "report.html").write_text("<html>old</html>")
    (out / ".results.h5.x1y2.tmp").write_bytes(b"killed mid-write by an older version")
    decode_into(out, "summed")
    assert sorted(p.name for p in out.iterdir()) == ["models.csv", "results.h5",
                                                      "summary.json"]
    assert _leftovers(out) == []


def _assert_one_error_line(code, err, *needles):
    assert code == 2, err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_full_disk_injected_one_line_and_the_old_result_stays(traces_file, tmp_path,
                                                              monkeypatch, capsys):
    out = tmp_path / "out"
    assert main(cli_decode_args(traces_file, out, "summed,correlation")) == 0
    old = _snapshot(out)
    capsys.readouterr()

    def full_disk(path, mode="r", *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))
    monkeypatch.setattr(outputs, "open", full_disk, raising=False)   # results.h5's writer
    code = main(cli_decode_args(traces_file, out, "summed"))
    _assert_one_error_line(code, capsys.readouterr().err, "No space left on device",
                           "results.h5", "free disk space")
    assert _snapshot(out) == old
    assert _leftovers(out) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


FILE_SIZE_LIMIT = r"""
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # writes past the limit fail with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
from gpudecode.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_file_size_limit_hits_inside_hdf5_one_line_not_a_crash(traces_file, tmp_path):
    """A real write failure (RLIMIT_FSIZE, no root needed) where HDF5 used to hit it."""
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", FILE_SIZE_LIMIT,
                           *cli_decode_args(traces_file, out, "summed")],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    _assert_one_error_line(proc.returncode, proc.stderr, "File too large", "--out")
    assert not out.exists() and list(tmp_path.iterdir()) == []


def _mount_tmpfs(path: Path, size: str, options: str = "") -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (f",{options}" if options else "")
    return subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def test_real_full_disk_on_a_small_tmpfs(traces_file, tmp_path):
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "40k"):
        pytest.skip("needs root and mount to make a small tmpfs (the injected case runs)")
    try:
        proc = subprocess.run([sys.executable, "-m", "gpudecode.cli",
                               *cli_decode_args(traces_file, disk / "out", "summed")],
                              capture_output=True, text=True, timeout=300, cwd=tmp_path)
        _assert_one_error_line(proc.returncode, proc.stderr, "No space left on device")
        assert list(disk.iterdir()) == []
    finally:
        subprocess.run(["umount", str(disk)], check=False)


# ----------------------------------------------------------------------------- cohorts

CONFIG = DecodeConfig(analyses="summed", **FAST)


def _read(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _sessions_in(out: Path) -> set:
    return {(r["animal"], r["session"]) for r in _read(out / "cohort.csv")}


def _cohort(manifest, out):
    return run_cohort(manifest, out, [("outcome", outcome_spec())], CONFIG,
                      scheduler="synchronous", n_permutations_trend=50)


@pytest.fixture()
def cohort_data(tmp_path):
    sims = simulate_cohort(n_animals=2, n_sessions=2, seed=5, n_cells=10, n_trials=36)
    write_simulation(tmp_path / "data", sims, formats=("h5", "csv"))
    return tmp_path / "data"


def _keep_stat(path: Path, edit) -> None:
    """Edit a file keeping its size and modification time."""
    st = path.stat()
    edit(path)
    assert path.stat().st_size == st.st_size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_changed_input_whose_rerun_fails_leaves_the_tables(cohort_data, tmp_path):
    out = tmp_path / "out"
    first = _cohort(cohort_data / "manifest.csv", out)
    assert first.n_done == 4 and _sessions_in(out) == {("sim01", "s01"), ("sim01", "s02"),
                                                       ("sim02", "s01"), ("sim02", "s02")}
    broken = cohort_data / "sim01_s02.h5"
    _keep_stat(broken, lambda p: p.write_bytes(b"\0" * p.stat().st_size))
    second = _cohort(cohort_data / "manifest.csv", out)
    assert second.n_skipped == 3 and [(f["animal"], f["session"]) for f in second.failures] \
        == [("sim01", "s02")]
    assert _sessions_in(out) == {("sim01", "s01"), ("sim02", "s01"), ("sim02", "s02")}
    assert [(f["animal"], f["session"]) for f in _read(out / "failures.csv")] == \
        [("sim01", "s02")]
    learning = _read(out / "learning.csv")
    per_animal = {r["scope"]: int(r["n_sessions"]) for r in learning
                  if r["measure"] == "balanced_accuracy"}
    assert per_animal["sim01"] == 1 and per_animal["sim02"] == 2
    assert not (out / "sim01" / "s02" / "outcome").exists()     # results of the old input
    check_one_run(out)


def test_edit_keeping_size_and_mtime_is_seen(cohort_data, tmp_path):
    out = tmp_path / "out"
    manifest = cohort_data / "manifest-csv.csv"
    _cohort(manifest, out)
    before = json.loads((out / "sim02" / "s01" / "outcome" / "summary.json").read_text())
    traces = cohort_data / "sim02_s01_traces.csv"

    def change_one_digit(p):
        text = p.read_text()
        cut = text.index("\n", text.index("\n") + 1) + 1    # a data row
        i = next(j for j in range(cut, len(text)) if text[j] in "123456789")
        p.write_text(text[:i] + ("2" if text[i] == "1" else "1") + text[i + 1:])
    _keep_stat(traces, change_one_digit)
    again = _cohort(manifest, out)
    done = [(r["animal"], r["session"]) for r in again.results if r["status"] == "done"]
    assert done == [("sim02", "s01")] and again.n_skipped == 3
    after = json.loads((out / "sim02" / "s01" / "outcome" / "summary.json").read_text())
    assert after["input_hash"] != before["input_hash"]
    check_one_run(out)


def test_finished_session_with_a_deleted_file_is_redone(cohort_data, tmp_path):
    out = tmp_path / "out"
    _cohort(cohort_data / "manifest.csv", out)
    (out / "sim02" / "s02" / "outcome" / "models.csv").unlink()
    again = _cohort(cohort_data / "manifest.csv", out)
    assert not again.failures and again.n_skipped == 3
    assert [(r["animal"], r["session"]) for r in again.results if r["status"] == "done"] == \
        [("sim02", "s02")]
    assert len(_sessions_in(out)) == 4
    check_one_run(out)


def _cohort_argv(manifest, out):
    return ["cohort", str(manifest), "--out", str(out), "--target", "outcome", "--analysis",
            "summed", "--population-classifier", "random-forest", "--shuffles", "3",
            "--folds", "2", "--permutations", "0", "--select-k", "10", "--scheduler",
            "synchronous", "--device", "cpu"]


def test_cohort_killed_while_writing_tables_then_rerun(cohort_data, tmp_path):
    out = tmp_path / "out"
    plan = {"module": "gpudecode.outputs", "attr": "write_csv", "call": 1, "when": "before",
            "arg": "learning.csv"}
    proc = _kill_child(plan, _cohort_argv(cohort_data / "manifest.csv", out), tmp_path)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert (out / "cohort.csv").exists() and not (out / "cohort.json").exists()
    with pytest.raises(FormatError, match="not from one run: cohort.json is missing"):
        check_one_run(out)
    assert main(["report", str(out)]) == 2             # the report refuses the half tables
    assert main(_cohort_argv(cohort_data / "manifest.csv", out)) == 0
    assert json.loads((out / "cohort.json").read_text())["n_skipped"] == 4
    assert len(_sessions_in(out)) == 4
    check_one_run(out)
    assert not (out / LOCK_NAME).exists()


# A cohort run whose first session waits for a file to appear (it holds the folder's lock
# meanwhile), however fast the decoding is.
HOLDER = r"""
import os, sys, time
import gpudecode.cohort as cohort
real = cohort.decode_session
def held(*args, **kwargs):
    deadline = time.time() + 120
    while not os.path.exists(sys.argv[1]) and time.time() < deadline:
        time.sleep(0.05)
    return real(*args, **kwargs)
cohort.decode_session = held
from gpudecode.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_two_cohort_runs_at_once_the_second_says_who_holds_the_folder(cohort_data, tmp_path):
    out = tmp_path / "out"
    release = tmp_path / "release"
    args = _cohort_argv(cohort_data / "manifest.csv", out)
    first = subprocess.Popen([sys.executable, "-c", HOLDER, str(release), *args],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             cwd=tmp_path)
    try:
        deadline = time.time() + 120
        while not (out / LOCK_NAME).exists() and first.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert first.poll() is None, first.stderr.read()
        second = subprocess.run([sys.executable, "-m", "gpudecode.cli", *args],
                                capture_output=True, text=True, timeout=120, cwd=tmp_path)
        release.touch()
        _assert_one_error_line(second.returncode, second.stderr,
                               "in use by another gpudecode run", f"pid {first.pid}")
        assert first.wait(timeout=300) == 0, first.stderr.read()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert len(_sessions_in(out)) == 4
    check_one_run(out)
    assert not [p for p in out.rglob(".*")]           # no lock, no temporary folder
