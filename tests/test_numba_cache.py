"""Numba's disk cache of the CPU kernels: every kernel cachable and GIL-free, a second process
loads what the first compiled (Numba's own hit/miss counters, no timing), the warm-up uses the
signatures the pipeline calls, the user's NUMBA_CACHE_DIR wins, and the first-run message."""

import importlib
import json
import os
import pkgutil
import subprocess
import sys
import textwrap

import numba
import pytest
from numba.core.dispatcher import Dispatcher

import gpudecode.kernels
from gpudecode import _numba_cache


def _cpu_dispatchers():
    """Every module-level Numba CPU dispatcher in gpudecode.kernels (GPU twin modules skipped)."""
    found = {}
    for info in pkgutil.iter_modules(gpudecode.kernels.__path__):
        if info.name.endswith("_cuda"):
            continue
        module = importlib.import_module(f"gpudecode.kernels.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, Dispatcher) and value.py_func.__module__ == module.__name__:
                found[f"{info.name}.{name}"] = value
    return found


def test_every_cpu_kernel_is_cached_on_disk_and_releases_the_gil():
    kernels = _cpu_dispatchers()
    assert {"logistic._batch", "lda._batch", "rbf_svm.svm_batch",
            "rbf_svm._svm_fixed_block", "tree._tree_batch", "windowing._sliding_mean_kernel",
            "correlation._pair_dots_kernel", "_prep.gather_rows"} <= set(kernels)
    for name, dispatcher in kernels.items():
        assert type(dispatcher._cache).__name__ == "FunctionCache", f"{name} is not cached"
        assert dispatcher.targetoptions.get("nogil") is True, f"{name} holds the GIL"
        assert dispatcher.py_func.__closure__ is None, f"{name} is a closure"


def _run(code: str, env: dict) -> dict:
    """Run ``code`` in a fresh interpreter (outside the source tree); it prints one JSON line."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=env["HOME"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _env(tmp_path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "XDG_"))}
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env.update(HOME=str(home), **extra)
    return env


STATS = """
    import json, numba
    from gpudecode.kernels import lda, windowing
    from gpudecode.kernels.warmup import compile_group
    compile_group("lda")
    compile_group("features")
    stats = {name: (sum(d.stats.cache_hits.values()), sum(d.stats.cache_misses.values()))
             for name, d in (("lda", lda._batch), ("window", windowing._sliding_mean_kernel))}
    print(json.dumps({"stats": stats, "dir": numba.config.CACHE_DIR}))
"""


def test_a_second_process_loads_the_kernels_the_first_compiled(tmp_path):
    cache = tmp_path / "cache"
    env = _env(tmp_path, NUMBA_CACHE_DIR=str(cache))
    first = _run(STATS, env)
    assert first["dir"] == str(cache)
    assert first["stats"] == {"lda": [0, 1], "window": [0, 1]}  # compiled, nothing to load
    assert list(cache.rglob("lda._batch-*.nbi")) and list(cache.rglob("lda._batch-*.nbc"))
    second = _run(STATS, env)
    assert second["stats"] == {"lda": [1, 0], "window": [1, 0]}  # loaded, not compiled

    # the warm-up compiled the signatures the pipeline calls: decoding compiles nothing more
    decoded = _run("""
        import json, warnings
        from gpudecode import _numba_cache, SplitPlan, TrialSpec, make_epochs, simulate_session
        _numba_cache.marker_path().touch()  # skip the full warm-up; lda was compiled above
        from gpudecode.kernels import lda, windowing
        from gpudecode.single_cell import decode_cells
        sess, _ = simulate_session(n_cells=4, n_trials=24, session_index=5, seed=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ep = make_epochs(sess, TrialSpec(anchors=("Correct", "Incorrect"), pre=0.5,
                                             post=1.0))
        plan = SplitPlan(n_shuffles=2, n_folds=2, n_permutations=2, seed=0).fit(ep.labels)
        decode_cells(ep, plan, classifiers="lda", window_frames=4, step_frames=2)
        misses = {name: sum(d.stats.cache_misses.values())
                  for name, d in (("lda", lda._batch), ("window", windowing._sliding_mean_kernel))}
        print(json.dumps(misses))
    """, env)
    assert decoded == {"lda": 0, "window": 0}


def test_the_cache_folder_defaults_to_the_user_cache_and_the_users_choice_wins(tmp_path):
    code = """
        import json, os, numba
        import gpudecode
        from gpudecode import _numba_cache
        print(json.dumps({"env": os.environ.get("NUMBA_CACHE_DIR"),
                          "numba": numba.config.CACHE_DIR, "ours": str(_numba_cache.cache_dir())}))
    """
    xdg = tmp_path / "xdg"
    got = _run(code, _env(tmp_path, XDG_CACHE_HOME=str(xdg)))
    want = str(xdg / "gpudecode" / "numba" / _numba_cache.cache_key())
    assert got == {"env": want, "numba": want, "ours": want}

    # numba imported before gpudecode: its already-read config is pointed there too
    got = _run("import numba\n" + textwrap.dedent(code), _env(tmp_path, XDG_CACHE_HOME=str(xdg)))
    assert got["numba"] == want

    mine = str(tmp_path / "mine")
    got = _run(code, _env(tmp_path, XDG_CACHE_HOME=str(xdg), NUMBA_CACHE_DIR=mine))
    assert got == {"env": mine, "numba": mine, "ours": mine}


def test_the_first_run_says_it_compiles_and_later_runs_say_nothing(tmp_path, monkeypatch):
    import gpudecode.kernels.warmup as warmup
    compiled = []
    monkeypatch.setattr(warmup, "compile_cpu_kernels", lambda: compiled.append(1))
    monkeypatch.setattr(_numba_cache, "_DIR", str(tmp_path))
    monkeypatch.setattr(_numba_cache, "_warm_in_process", False)
    said = []

    def say(text, end="\n"):
        said.append(text + end)

    assert not _numba_cache.is_warm()
    seconds = _numba_cache.warm_kernels(say=say)
    assert compiled == [1] and seconds is not None
    line = "".join(said)
    assert line.startswith("compiling kernels (first run on this machine, ~")
    assert line.rstrip().endswith(f"done in {seconds:.0f} s") and line.count("\n") == 1
    assert _numba_cache.is_warm()
    assert _numba_cache.marker_path().parent == tmp_path

    said.clear()
    assert _numba_cache.warm_kernels(say=say) is None  # same process
    monkeypatch.setattr(_numba_cache, "_warm_in_process", False)
    assert _numba_cache.warm_kernels(say=say) is None  # a later process: the marker is there
    assert said == [] and compiled == [1]


def test_a_failed_warm_up_is_said_and_leaves_no_marker(tmp_path, monkeypatch):
    import gpudecode.kernels.warmup as warmup

    def broken():
        raise RuntimeError("no compiler")

    monkeypatch.setattr(warmup, "compile_cpu_kernels", broken)
    monkeypatch.setattr(_numba_cache, "_DIR", str(tmp_path))
    monkeypatch.setattr(_numba_cache, "_warm_in_process", False)
    said = []
    assert _numba_cache.warm_kernels(say=lambda text, end="\n": said.append(text)) is None
    assert "failed (RuntimeError: no compiler)" in said[-1]
    assert not _numba_cache.is_warm()


def test_no_warm_up_and_no_marker_with_the_jit_disabled(tmp_path, monkeypatch):
    import gpudecode.kernels.warmup as warmup
    compiled = []
    monkeypatch.setattr(warmup, "compile_cpu_kernels", lambda: compiled.append(1))
    monkeypatch.setattr(_numba_cache, "_DIR", str(tmp_path))
    monkeypatch.setattr(_numba_cache, "_warm_in_process", False)
    monkeypatch.setattr(numba.config, "DISABLE_JIT", True)
    assert _numba_cache.warm_kernels(say=lambda *a, **k: compiled.append("said")) is None
    assert compiled == [] and not _numba_cache.is_warm()


@pytest.mark.parametrize("child_exit, here", [(0, []), (3, ["a", "b", "c"])])
def test_the_warm_up_compiles_here_what_its_children_could_not(monkeypatch, child_exit, here):
    import gpudecode.kernels.warmup as warmup
    ran, shares = [], []
    monkeypatch.setattr(warmup, "GROUPS", {n: (lambda n=n: ran.append(n)) for n in "abc"})
    monkeypatch.setattr(warmup, "COMPILE_S", {"a": 5, "b": 3, "c": 2})

    def child(names):
        shares.append(sorted(names))
        return subprocess.Popen([sys.executable, "-c", f"raise SystemExit({child_exit})"])

    monkeypatch.setattr(warmup, "_child", child)
    warmup.compile_cpu_kernels(processes=2)
    assert sorted(shares) == [["a"], ["b", "c"]]  # longest first, to the least loaded
    assert sorted(ran) == here


def test_warm_up_children_import_this_gpudecode_not_one_in_the_working_directory(tmp_path):
    """README's first command runs from a checkout: a child started with ``python -c`` would
    import the checkout's gpudecode (the working directory comes first) and compile kernels
    this process never loads. Here the working directory holds a decoy that leaves a file
    when imported."""
    from gpudecode.kernels.warmup import child_command
    decoy = tmp_path / "gpudecode"
    (decoy / "kernels").mkdir(parents=True)
    (decoy / "__init__.py").write_text(
        "import pathlib\npathlib.Path(__file__).with_name('imported').write_text('decoy')\n")
    (decoy / "kernels" / "__init__.py").write_text("")
    (decoy / "kernels" / "warmup.py").write_text("def compile_group(name):\n    pass\n")
    probe = child_command([])
    assert probe[:2] == [sys.executable, "-c"]
    code = probe[2] + "import gpudecode\nprint(gpudecode.__file__)\n"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert not (decoy / "imported").exists()
    import gpudecode
    assert out.stdout.strip() == gpudecode.__file__


@pytest.mark.parametrize("cpu", ["skylake", "znver4"])
def test_the_marker_names_the_build_and_the_cpu(monkeypatch, cpu):
    monkeypatch.setattr(numba.config, "CPU_NAME", cpu)
    marker = _numba_cache.marker_path()
    assert _numba_cache.cache_key() in marker.name and marker.name.endswith(f"-{cpu}.ready")
