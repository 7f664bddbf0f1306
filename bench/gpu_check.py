"""The Python half of ``bench/gpu_check.sh``: what the machine has, and the summary.

::

    python bench/gpu_check.py probe DIR     # nvidia-smi, CuPy, numba.cuda, cuML -> DIR/probe.json
    python bench/gpu_check.py summary DIR   # DIR's logs and JSON -> DIR/summary.md

``probe`` prints one line per thing it looked for and writes ``DIR/cuda_problem.txt`` (one
line) when CUDA cannot run gpudecode's kernels here. ``summary`` reads what the shell script
left in DIR (``meta.tsv``, ``steps.tsv``, ``probe.json``, ``tests.xml``, ``fits-*.json``,
``demo-*.log``) and writes ``summary.md``, a section ready to paste into
``bench/RESULTS.md``. Standard library only (plus what it probes), so a summary is written
even when the install failed.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

FOUND_RE = re.compile(r"^(\d+) of (\d+) planted outcome cells found at q < ([0-9.]+)", re.M)
COMPILE_RE = re.compile(r"compiling kernels \(first run on this machine[^)]*\)\.\.\. done in ([0-9.]+) s")


# ----------------------------------------------------------------------------------- probe

def _run(cmd: list[str], timeout_s: float = 20.0) -> tuple[int, str]:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except FileNotFoundError:
        return 127, f"{cmd[0]}: not found"
    except subprocess.TimeoutExpired:
        return 124, f"{cmd[0]}: no answer in {timeout_s:g} s"
    return done.returncode, (done.stdout + done.stderr).strip()


def _version(dist: str) -> str | None:
    from importlib import metadata
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo``, else the platform's processor string."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return None


def probe_nvidia_smi() -> dict:
    if shutil.which("nvidia-smi") is None:
        return {"ok": False, "text": "nvidia-smi not found"}
    rc, text = _run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,compute_cap",
                     "--format=csv,noheader"])
    return {"ok": rc == 0 and bool(text), "text": text if text else f"nvidia-smi exited {rc}"}


def probe_numba_cuda() -> dict:
    out = {"numba": _version("numba"), "numba_cuda": _version("numba-cuda"), "simulator": None,
           "available": False, "device": None, "error": None}
    try:
        from numba import config
        out["simulator"] = bool(config.ENABLE_CUDASIM)
        from numba import cuda
        out["available"] = bool(cuda.is_available())
        if out["available"]:
            dev = cuda.get_current_device()
            name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
            out["device"] = f"{name}, compute capability {'.'.join(map(str, dev.compute_capability))}"
    except Exception as exc:  # broken CUDA installs fail in many ways
        out["error"] = _error(exc)
    return out


def probe_cupy() -> dict:
    out = {"version": _version("cupy-cuda12x") or _version("cupy"), "devices": 0, "device": None,
           "runtime": None, "error": None}
    try:
        import cupy
        out["version"] = cupy.__version__
        out["devices"] = int(cupy.cuda.runtime.getDeviceCount())
        rt = cupy.cuda.runtime.runtimeGetVersion()
        out["runtime"] = f"{rt // 1000}.{rt % 1000 // 10}"
        if out["devices"]:
            props = cupy.cuda.runtime.getDeviceProperties(0)
            name = props["name"]
            name = name.decode() if isinstance(name, bytes) else str(name)
            out["device"] = f"{name}, {props['totalGlobalMem'] / 2**30:.0f} GiB"
    except Exception as exc:
        out["error"] = _error(exc)
    return out


def probe_cuml() -> dict:
    try:
        import cuml
        return {"importable": True, "version": cuml.__version__, "error": None}
    except Exception as exc:
        return {"importable": False, "version": _version("cuml-cu12"), "error": _error(exc)}


def probe_gpudecode() -> dict:
    try:
        import gpudecode
        from gpudecode.backend import probe_gpu
        gpu = probe_gpu()
        return {"version": getattr(gpudecode, "__version__", _version("gpudecode")),
                "path": str(Path(gpudecode.__file__).parent), "gpu_usable": bool(gpu.usable),
                "gpu": gpu.device_name if gpu.usable else gpu.why, "error": None}
    except Exception as exc:
        return {"version": None, "path": None, "gpu_usable": False, "gpu": None,
                "error": _error(exc)}


def probe(out_dir: Path) -> dict:
    """Look for nvidia-smi, CuPy's device, numba.cuda, cuML and gpudecode; print and save it.

    Writes ``out_dir/probe.json``, and ``out_dir/cuda_problem.txt`` (one line) when
    gpudecode cannot run its kernels on a GPU here.
    """
    found = {
        "python": platform.python_version(), "executable": sys.executable,
        "platform": platform.platform(), "cpu": cpu_model(), "cores": os.cpu_count(),
        "memory_gib": memory_gib(), "nvidia_smi": probe_nvidia_smi(),
        "numba_cuda": probe_numba_cuda(), "cupy": probe_cupy(), "cuml": probe_cuml(),
        "gpudecode": probe_gpudecode(),
    }
    nv, nc, cp, cm, gd = (found[k] for k in ("nvidia_smi", "numba_cuda", "cupy", "cuml",
                                             "gpudecode"))
    print(f"python {found['python']} ({found['executable']}); {found['cpu']}, "
          f"{found['cores']} cores, {_gib(found['memory_gib'])} memory")
    print(f"nvidia-smi: {nv['text']}")
    print("CuPy: " + (f"{cp['version']}, CUDA runtime {cp['runtime']}, {cp['devices']} device(s)"
                      f"{': ' + cp['device'] if cp['device'] else ''}"
                      if cp["error"] is None else f"{cp['version'] or 'not installed'}: {cp['error']}"))
    cuda_text = ("simulator (NUMBA_ENABLE_CUDASIM=1)" if nc["simulator"]
                 else nc["device"] if nc["available"] else (nc["error"] or "no usable GPU"))
    print(f"numba {nc['numba']}, numba-cuda {nc['numba_cuda'] or 'not installed'}: "
          f"numba.cuda {cuda_text}")
    print("cuML: " + (f"{cm['version']} importable" if cm["importable"]
                      else f"not importable ({cm['error']})"))
    print("gpudecode: " + (f"{gd['version']} from {gd['path']}; GPU backend: "
                           + ("usable, " + gd["gpu"] if gd["gpu_usable"] else f"not usable ({gd['gpu']})")
                           if gd["error"] is None else f"does not import ({gd['error']})"))
    problem = cuda_problem(found)
    found["cuda_usable"] = not problem
    found["cuda_problem"] = problem
    out_dir.mkdir(parents=True, exist_ok=True)
    _write(out_dir / "probe.json", json.dumps(found, indent=2) + "\n")
    flag = out_dir / "cuda_problem.txt"
    if problem:
        _write(flag, problem + "\n")
        print(f"CUDA usable: no ({problem})")
    else:
        flag.unlink(missing_ok=True)
        print("CUDA usable: yes")
    return found


def cuda_problem(found: dict) -> str:
    """Why gpudecode cannot use a GPU here (first failed check, in install order), or ``""``."""
    gd, nc, cp = found["gpudecode"], found["numba_cuda"], found["cupy"]
    if gd["error"] is not None:
        return f"gpudecode does not import: {gd['error']}"
    if not found["nvidia_smi"]["ok"] and not cp["devices"]:
        return f"no NVIDIA driver or GPU ({found['nvidia_smi']['text']})"
    if nc["simulator"]:
        return "NUMBA_ENABLE_CUDASIM=1 is set (numba.cuda is the CPU simulator)"
    if cp["error"] is not None or not cp["devices"]:
        return f"CuPy sees no CUDA device ({cp['error'] or '0 devices'})"
    if not nc["available"]:
        return f"numba.cuda cannot use the GPU ({nc['error'] or 'cuda.is_available() is False'})"
    if not gd["gpu_usable"]:
        return f"gpudecode's GPU backend is not usable ({gd['gpu']})"
    return ""


# --------------------------------------------------------------------------------- summary

def read_tsv(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    return [line.split("\t") for line in path.read_text().splitlines() if line.strip()]


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def read_junit(path: Path) -> dict | None:
    """Counts and failing test ids from pytest's ``--junitxml`` file."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0, "seconds": 0.0}
    failing, skip_reasons = [], {}
    for case in root.iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        kinds = {child.tag for child in case}
        if "failure" in kinds:
            counts["failed"] += 1
            failing.append(name)
        elif "error" in kinds:
            counts["errors"] += 1
            failing.append(name)
        elif "skipped" in kinds:
            counts["skipped"] += 1
            why = case.find("skipped").get("message", "")
            skip_reasons[why] = skip_reasons.get(why, 0) + 1
        else:
            counts["passed"] += 1
    for suite in root.iter("testsuite"):
        counts["seconds"] += float(suite.get("time", 0) or 0)
    counts["failing"] = failing
    counts["skip_reasons"] = skip_reasons
    return counts


def _gib(x) -> str:
    return "?" if x is None else f"{x:.0f} GiB"


def _num(x, fmt: str = ",.0f") -> str:
    return "-" if x is None else format(x, fmt)


def _ratio(a, b) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def _machine_lines(probe_found: dict | None, meta: dict) -> list[str]:
    if probe_found is None:
        return [f"Machine: {cpu_model()}, {os.cpu_count()} cores, {_gib(memory_gib())} "
                "(the probe did not run)."]
    p = probe_found
    nv, cp, nc, cm = p["nvidia_smi"], p["cupy"], p["numba_cuda"], p["cuml"]
    gpu = (f"{nv['text']} (nvidia-smi: name, driver, memory, compute capability)" if nv["ok"]
           else cp["device"] or f"none found ({nv['text']})")
    cuml = f"cuML {cm['version']}" if cm["importable"] else f"cuML not importable ({cm['error']})"
    return [
        f"Machine: GPU {gpu}; CPU {p['cpu']}, {p['cores']} cores, {_gib(p['memory_gib'])}.",
        f"Software: Python {p['python']}, numba {nc['numba']}, numba-cuda "
        f"{nc['numba_cuda'] or 'not installed'}, CuPy {cp['version'] or 'not installed'}"
        f"{' (CUDA runtime ' + cp['runtime'] + ')' if cp['runtime'] else ''}, {cuml}.",
    ]


def summarize(out_dir: Path) -> str:
    """Write ``out_dir/summary.md`` from the files the shell script left there; return it."""
    meta = {row[0]: row[1] if len(row) > 1 else "" for row in read_tsv(out_dir / "meta.tsv")}
    steps = read_tsv(out_dir / "steps.tsv")
    probe_found = read_json(out_dir / "probe.json")
    cpu_mode = meta.get("mode") == "cpu"
    lines = [f"## GPU check ({meta.get('started_utc', '?')[:10]})", ""]
    if cpu_mode:
        lines += ["**CPU mode: no GPU was used.** The twin tests ran in numba's CUDA simulator and "
                  "every 'gpu' column below ran on the CPU, at tiny sizes: this checks the script, "
                  "it measures nothing. Do not paste these numbers as GPU results.", ""]
    problem = (out_dir / "cuda_problem.txt")
    if problem.exists() and not cpu_mode:
        lines += [f"**CUDA not usable here: {problem.read_text().strip()}.** Nothing ran on a GPU.",
                  ""]
    lines += _machine_lines(probe_found, meta)
    lines += [f"Date: {meta.get('started_utc', '?')} to {meta.get('finished_utc', '?')}. "
              f"Commit: {meta.get('commit', '?')}.",
              f"Command: `{meta.get('command', 'bench/gpu_check.sh')}` (time budget "
              f"{meta.get('budget_s', '?')} s; every step under `timeout`).", ""]
    lines += ["| step | status | seconds (whole process) | limit s |", "| --- | --- | ---: | ---: |"]
    for row in steps:
        name, status, seconds, cap = (row + ["", "", "", ""])[:4]
        lines.append(f"| {name} | {status} | {seconds} | {cap} |")
    lines.append("")
    wall = {row[0]: _float(row[2]) for row in steps if len(row) > 2}
    asked = set(meta.get("steps", "tests,fits,demo").split(","))
    if "tests" in asked:
        lines += _tests_section(out_dir, meta)
    if "fits" in asked:
        lines += _fits_section(out_dir, meta, wall, cpu_mode)
    if "demo" in asked:
        lines += _demo_section(out_dir, meta, wall, cpu_mode)
    text = "\n".join(lines).rstrip() + "\n"
    _write(out_dir / "summary.md", text)
    return text


def _float(x: str):
    try:
        return float(x)
    except ValueError:
        return None


def _tests_section(out_dir: Path, meta: dict) -> list[str]:
    junit = read_junit(out_dir / "tests.xml")
    where = "numba's CUDA simulator" if meta.get("mode") == "cpu" else "the GPU"
    lines = [f"### numba.cuda twins vs their CPU kernels, on {where}", "",
             f"Command: `{meta.get('tests_command', '?')}`.", ""]
    if junit is None:
        return lines + ["No test report (the step did not run or was cut short; see tests.log).",
                        ""]
    lines.append(f"{junit['passed']} passed, {junit['failed']} failed, {junit['errors']} errors, "
                 f"{junit['skipped']} skipped, in {junit['seconds']:.1f} s.")
    for why, n in junit["skip_reasons"].items():
        lines.append(f"Skipped ({n}): {why}")
    if junit["failing"]:
        lines += ["", "Failing:"] + [f"- `{name}`" for name in junit["failing"][:30]]
        if len(junit["failing"]) > 30:
            lines.append(f"- ... and {len(junit['failing']) - 30} more (tests.log)")
    return lines + [""]


def _fits_section(out_dir: Path, meta: dict, wall: dict, cpu_mode: bool) -> list[str]:
    legs = {dev: read_json(out_dir / f"fits-{dev}.json") for dev in ("gpu", "cpu")}
    lines = ["### Fits per second on the real-session shape", "",
             f"Command: `{meta.get('fits_command', '?')}` with `--device gpu`, then `--device cpu`.",
             ""]
    any_leg = next((v for v in legs.values() if v), None)
    if any_leg is None:
        return lines + ["No numbers (the steps did not run or failed; see fits-*.log).", ""]
    a = any_leg
    lines += [f"{a['n_cells']} cells x {a['n_trials']} trials x {a['n_features']} window features, "
              f"{a['shuffles']} shuffles x (test + {a['folds']} folds), "
              f"{', '.join(a['classifiers'])}, {a.get('permutations', 0)} permutations (permuted "
              "labels on the test splits). gpudecode's own timings exclude compilation (a warm-up "
              "run first); 'whole process' includes start-up, compilation and the scikit-learn "
              "baseline.", ""]
    g, c = legs["gpu"] or {}, legs["cpu"] or {}
    rows = [
        ("observed labels: fits/s", "gpudecode_fits_per_s"),
        ("observed labels: s", "gpudecode_s"),
        ("permutation run: fits/s", "permutation_fits_per_s"),
        ("permutation run: s", "permutation_s"),
        ("permutation run: fits (observed + permuted labels)", "permutation_fits"),
        ("scikit-learn loop on the CPU: fits/s (timed on 1 cell)", "sklearn_fits_per_s"),
    ]
    gpu_head = "gpu (ran on the CPU)" if cpu_mode else "gpu"
    lines += [f"| | {gpu_head} | cpu | gpu speed-up |", "| --- | ---: | ---: | ---: |"]
    for label, key in rows:
        gv, cv = g.get(key), c.get(key)
        seconds = label.endswith(": s")
        ratio = (_ratio(cv, gv) if seconds else
                 "" if key in ("permutation_fits", "sklearn_fits_per_s") else _ratio(gv, cv))
        lines.append(f"| {label} | {_num(gv, ',.2f' if seconds else ',.0f')} | "
                     f"{_num(cv, ',.2f' if seconds else ',.0f')} | {ratio} |")
    gw, cw = wall.get("fits-gpu"), wall.get("fits-cpu")
    lines.append(f"| whole process: s | {_num(gw, ',.1f')} | {_num(cw, ',.1f')} | "
                 f"{_ratio(cw, gw)} |")
    lines.append("")
    for dev, leg in legs.items():
        if leg:
            per = ", ".join(f"{k.removesuffix('_s')} {v:.2f} s"
                            for k, v in leg.get("per_classifier_s", {}).items())
            lines.append(f"- {dev}: {leg['device']}; observed labels, per stage: {per}.")
    return lines + [""]


def _demo_section(out_dir: Path, meta: dict, wall: dict, cpu_mode: bool) -> list[str]:
    lines = ["### The demo, whole process", "",
             f"Command: `{meta.get('demo_command', '?')}` with `--device gpu`, then `--device cpu`.",
             "", "| device | wall s | planted outcome cells found | CPU kernels compiled |",
             "| --- | ---: | --- | --- |"]
    for dev in ("gpu", "cpu"):
        log = out_dir / f"demo-{dev}.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        found = FOUND_RE.search(text)
        compiled = COMPILE_RE.search(text)
        label = "gpu (ran on the CPU)" if cpu_mode and dev == "gpu" else dev
        lines.append(f"| {label} | {_num(wall.get('demo-' + dev), ',.1f')} | "
                     f"{found.group(1) + ' of ' + found.group(2) if found else '-'} | "
                     f"{'compiled in ' + compiled.group(1) + ' s' if compiled else '-'} |")
    gw, cw = wall.get("demo-gpu"), wall.get("demo-cpu")
    lines += ["", f"GPU speed-up, whole demo (cpu wall s / gpu wall s): {_ratio(cw, gw)}.", ""]
    return lines


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("probe", "summary"):
        print("usage: python bench/gpu_check.py probe|summary DIR", file=sys.stderr)
        return 2
    out_dir = Path(argv[1])
    if argv[0] == "probe":
        probe(out_dir)
    else:
        summarize(out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
