"""bench/gpu_check.sh (and its Python half, bench/gpu_check.py) on a machine without a GPU.

The script's GPU run cannot happen here; its CPU mode (``--cpu``) runs every step (probe,
twin tests in the CUDA simulator, the bench and the demo at tiny sizes, the summary), and
the GPU mode must stop with one line when CUDA is not usable. Each run gets the interpreter
of this test run (``--python``), so nothing is installed, except in the install test, which
points pip at a closed port to check what the script says when no package index answers.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gpudecode.backend import probe_gpu

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "bench" / "gpu_check.sh"
TWIN_TEST = "tests/test_cudasim_windowing.py::test_equals_cpu_kernel"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None,
                                reason="needs bash and coreutils' timeout")


def run_script(out: Path, *args, env=None, drop=(), timeout_s=900):
    drop = ("NUMBA_ENABLE_CUDASIM", "GPUDECODE_REAL_CUDA", "GPUDECODE_GPU_CHECK_CPU", *drop)
    environ = {k: v for k, v in os.environ.items() if k not in drop}
    environ.update(env or {}, OUT=str(out))
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                          env=environ, cwd=out.parent, timeout=timeout_s)


def steps(out: Path) -> dict:
    rows = [line.split("\t") for line in (out / "steps.tsv").read_text().splitlines()]
    return {row[0]: row[1] for row in rows}


def table_row(summary: str, label: str) -> list[str]:
    line = next(ln for ln in summary.splitlines() if ln.startswith(f"| {label} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_cpu_mode_runs_every_step_and_summarizes_what_they_wrote(tmp_path):
    import json

    out = tmp_path / "check"
    done = run_script(out, "--cpu", "--python", sys.executable, "--tests", TWIN_TEST)
    assert done.returncode == 0, done.stdout + done.stderr
    # it says what it found before running anything
    assert re.search(r"^\s+nvidia-smi: ", done.stdout, re.M)
    assert re.search(r"^\s+CuPy: ", done.stdout, re.M)
    assert re.search(r"^\s+numba .*numba\.cuda ", done.stdout, re.M)
    assert re.search(r"^\s+cuML: ", done.stdout, re.M)
    assert steps(out) == dict.fromkeys(
        ["probe", "compile", "tests", "fits-gpu", "fits-cpu", "demo-gpu", "demo-cpu"], "ok")
    summary = (out / "summary.md").read_text()
    assert "CPU mode: no GPU was used" in summary
    assert f"--python {sys.executable}" in summary and "Commit: " in summary

    # the test counts are pytest's own (its terminal summary line in tests.log)
    log = (out / "tests.log").read_text()
    n_passed = int(re.search(r"(\d+) passed", log).group(1))
    assert n_passed == 6 and "failed" not in log
    assert f"{n_passed} passed, 0 failed, 0 errors, 0 skipped" in summary
    assert "NUMBA_ENABLE_CUDASIM=1 pytest -m cudasim " + TWIN_TEST in summary

    # the fits table holds the numbers the bench wrote, per device column
    gpu, cpu = (json.loads((out / f"fits-{d}.json").read_text()) for d in ("gpu", "cpu"))
    assert gpu["n_cells"] == cpu["n_cells"] == 2 and gpu["permutations"] == 2
    row = table_row(summary, "permutation run: fits/s")
    assert row[1:3] == [f"{gpu['permutation_fits_per_s']:,.0f}",
                        f"{cpu['permutation_fits_per_s']:,.0f}"]
    row = table_row(summary, "permutation run: fits (observed + permuted labels)")
    assert row[1] == f"{gpu['permutation_fits']:,}"

    # the demo rows hold each demo's own 'planted ... found' line and its whole-process time
    for dev in ("gpu", "cpu"):
        found = re.search(r"^(\d+) of (\d+) planted outcome cells found",
                          (out / f"demo-{dev}.log").read_text(), re.M)
        label = "gpu (ran on the CPU)" if dev == "gpu" else dev
        row = table_row(summary, label)
        assert row[2] == f"{found.group(1)} of {found.group(2)}"
        assert float(row[1]) > 0


@pytest.mark.skipif(probe_gpu().usable, reason="a usable GPU: the script would run on it")
def test_gpu_mode_stops_with_one_line_when_cuda_is_not_usable(tmp_path):
    out = tmp_path / "check"
    done = run_script(out, "--python", sys.executable, "--steps", "probe,compile,tests")
    assert done.returncode == 3, done.stdout + done.stderr
    last = done.stdout.strip().splitlines()[-2]  # the last line names the summary
    assert last.startswith("gpu_check: CUDA not usable here: ")
    assert (out / "cuda_problem.txt").read_text().strip() in last
    assert list(steps(out)) == ["probe"] and not (out / "tests.xml").exists()
    summary = (out / "summary.md").read_text()
    assert "CUDA not usable here" in summary and "Nothing ran on a GPU" in summary


def test_a_step_past_its_limit_is_cut_and_the_next_ones_run(tmp_path):
    out = tmp_path / "check"
    done = run_script(out, "--cpu", "--python", sys.executable, "--steps", "tests,compile",
                      "--tests", TWIN_TEST, env={"GPU_CHECK_CAP_TESTS": "1"})
    assert done.returncode == 1
    assert steps(out) == {"compile": "ok", "tests": "timed out after 1 s"}
    summary = (out / "summary.md").read_text()
    if (out / "tests.xml").exists():
        # the twin test ran and pytest wrote its report inside the second; the cut came
        # during pytest's exit: the summary reports what the report says
        assert " passed, 0 failed, 0 errors" in summary
    else:
        assert "No test report" in summary


def test_steps_past_the_budget_are_skipped(tmp_path):
    out = tmp_path / "check"
    done = run_script(out, "--cpu", "--python", sys.executable, "--budget", "20",
                      "--steps", "probe,compile")
    assert done.returncode == 1
    assert steps(out) == dict.fromkeys(["probe", "compile"], "skipped: out of time (budget 20 s)")
    assert (out / "summary.md").exists()


def test_no_package_index_is_said_plainly(tmp_path):
    out = tmp_path / "check"
    # only a closed port as the index: no pip configuration file, local mirror or wheel folder
    pip_off = {"PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
               "PIP_RETRIES": "0", "PIP_TIMEOUT": "2", "PIP_DEFAULT_TIMEOUT": "2",
               "PIP_NO_CACHE_DIR": "1"}
    done = run_script(out, "--cpu", "--venv", str(tmp_path / "venv"), env=pip_off,
                      drop=[k for k in os.environ if k.startswith("PIP_")], timeout_s=300)
    assert done.returncode == 4, done.stdout + done.stderr
    assert (tmp_path / "venv" / "bin" / "python").exists()
    assert "gpu_check: no package index reachable from this machine" in done.stdout
    assert "gpu_check: gpudecode does not import" in done.stdout
    assert steps(out)["install"].startswith("failed")


def test_usage_errors_exit_2(tmp_path):
    for args in (["--budget", "soon"], ["--frobnicate"]):
        done = run_script(tmp_path / "check", *args)
        assert done.returncode == 2 and done.stderr.startswith("gpu_check: ")


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_script_is_shellcheck_clean():
    done = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
