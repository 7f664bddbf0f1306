"""Every import in gpudecode/ and kernels/ is stdlib, gpudecode, a declared dependency, or guarded.

A module that is not declared in pyproject.toml's ``dependencies`` (``cupy``, ``cuml``,
``dask``, ``pynwb``...) may only be imported inside ``try`` whose ``except`` catches an
import failure, so a ``pip install .`` environment never meets a ``ModuleNotFoundError``.
Relying on a package that a dependency happens to install is the same bug: typer >= 0.29
stopped installing click, and ``import click`` broke every usage error.
"""

import ast
import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIRS = ("gpudecode", "kernels")
OWN = {"gpudecode", "kernels"}
CATCHES_IMPORT_ERROR = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}


def _normalise(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def declared_distributions(pyproject: Path) -> set[str]:
    """Normalised distribution names in ``[project] dependencies``."""
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return {_normalise(re.match(r"[A-Za-z0-9_.\-]+", d).group(0)) for d in deps}


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(t, ast.Name) and t.id in CATCHES_IMPORT_ERROR for t in types)


def _branch_on_kind(node: ast.If) -> set[str]:
    """Names ``x`` of tests ``... == "x"``: an array the caller passed is of kind ``x``."""
    return {c.value for c in ast.walk(node.test) if isinstance(node.test, ast.Compare)
            and isinstance(c, ast.Constant) and isinstance(c.value, str)}


def imports(source: str) -> list[tuple[str, int, bool]]:
    """(top-level module, line, guarded) for every absolute import in ``source``.

    Guarded means one of:

    - inside the body of a ``try`` with a handler that catches ImportError;
    - inside ``if kind == "cupy":`` (an array of that module was passed in, so it imports);
    - inside a private function (``_name``) that is only called inside such a ``try``.
    """
    tree = ast.parse(source)
    found, calls = [], {}

    def visit(node, guarded, kinds, func):
        if isinstance(node, ast.Try):
            body_guarded = guarded or any(_catches_import_error(h) for h in node.handlers)
            for child in node.body:
                visit(child, body_guarded, kinds, func)
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                visit(child, guarded, kinds, func)
            return
        if isinstance(node, ast.If):
            visit(node.test, guarded, kinds, func)
            for child in node.body:
                visit(child, guarded, kinds | _branch_on_kind(node), func)
            for child in node.orelse:
                visit(child, guarded, kinds, func)
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            func = node.name
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            calls.setdefault(node.func.id, []).append(guarded)
        if isinstance(node, ast.Import):
            found.extend((a.name.split(".")[0], node.lineno, guarded, kinds, func)
                         for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module.split(".")[0], node.lineno, guarded, kinds, func))
        for child in ast.iter_child_nodes(node):
            visit(child, guarded, kinds, func)

    visit(tree, False, frozenset(), None)
    called_under_guard = {name for name, g in calls.items() if name.startswith("_") and all(g)}
    return [(m, line, g or m in kinds or func in called_under_guard)
            for m, line, g, kinds, func in found]


def unguarded_undeclared(source: str, declared: set[str]) -> list[tuple[str, int]]:
    """Imports of modules that are neither stdlib, gpudecode, nor declared, outside a guard."""
    dists = packages_distributions()
    bad = []
    for module, line, guarded in imports(source):
        if module in sys.stdlib_module_names or module in OWN or module == "__future__":
            continue
        if {_normalise(d) for d in dists.get(module, ())} & declared:
            continue
        if not guarded:
            bad.append((module, line))
    return bad


def _source_files():
    # gpudecode/kernels is a link to kernels/: each file once, by its real path
    return sorted({p.resolve() for d in SOURCE_DIRS for p in (ROOT / d).rglob("*.py")})


def test_gpudecode_kernels_imports_from_a_source_checkout(tmp_path):
    """``import gpudecode.kernels`` works with the checkout on sys.path and no install.

    Tools, editors and ``python -c`` in the repository root meet the source tree, not the
    installed package; the top-level ``kernels/`` is reachable there through the
    ``gpudecode/kernels`` link, and it is the same directory pyproject.toml installs.
    """
    if not (ROOT / "gpudecode" / "kernels").is_symlink():
        pytest.skip("not a source checkout (installed package)")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "import gpudecode, gpudecode.kernels.linear_svm as m; "
            "print(gpudecode.__file__); print(m.__file__)")
    out = subprocess.run([sys.executable, "-I", "-c", code, str(ROOT)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    package_file, kernel_file = (Path(line) for line in out.stdout.split())
    assert package_file == ROOT / "gpudecode" / "__init__.py"
    assert kernel_file.resolve() == ROOT / "kernels" / "linear_svm.py"
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert mapping["package-dir"]["gpudecode.kernels"] == "kernels"


def test_the_checker_flags_what_it_should():
    declared = declared_distributions(ROOT / "pyproject.toml")
    assert {"numpy", "scikit-learn", "typer"} <= declared
    assert unguarded_undeclared("import click\n", declared) == [("click", 1)]
    assert unguarded_undeclared("def f():\n    from dask.distributed import as_completed\n",
                                declared) == [("dask", 2)]
    # a try that only cleans up (finally) does not guard the import
    assert unguarded_undeclared("try:\n    import cupy\nfinally:\n    pass\n", declared) \
        == [("cupy", 2)]
    assert unguarded_undeclared("try:\n    import cupy\nexcept ValueError:\n    pass\n",
                                declared) == [("cupy", 2)]
    assert unguarded_undeclared("if kind == 'numpy':\n    import cupy\n", declared) \
        == [("cupy", 2)]
    # a private function counts as guarded only if every call of it is guarded
    helper = "def _gpu():\n    import cuml\n"
    assert unguarded_undeclared(helper + "try:\n    _gpu()\nexcept Exception:\n    pass\n"
                                "_gpu()\n", declared) == [("cuml", 2)]
    assert unguarded_undeclared(helper + "try:\n    _gpu()\nexcept Exception:\n    pass\n",
                                declared) == []
    ok = ("import os, numpy\nfrom sklearn.svm import SVC\nfrom . import x\n"
          "try:\n    import cupy\nexcept Exception:\n    cupy = None\n"
          "try:\n    from pynwb import NWBFile\nexcept (ValueError, ImportError):\n    pass\n"
          "if kind == 'cupy':\n    import cupy\n")
    assert unguarded_undeclared(ok, declared) == []


@pytest.mark.parametrize("path", _source_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_import_is_declared_or_guarded(path):
    declared = declared_distributions(ROOT / "pyproject.toml")
    bad = unguarded_undeclared(path.read_text(), declared)
    assert not bad, (f"{path.relative_to(ROOT)} imports undeclared modules outside a guard "
                     f"(declare them in pyproject.toml, or import inside try/except ImportError): "
                     + ", ".join(f"{m} (line {n})" for m, n in bad))


def test_no_module_imports_click():
    """typer >= 0.29 vendors click: ``click`` is not installed by ``pip install .``."""
    users = [str(p.relative_to(ROOT)) for p in _source_files()
             if any(m == "click" for m, _, _ in imports(p.read_text()))]
    assert users == []


def private_names_imported(source: str, modules: set[str]) -> list[tuple[str, int]]:
    """``from <own module> import _name`` where ``_name`` is not itself a module."""
    bad = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ImportFrom):
            continue
        own = node.level > 0 or (node.module or "").split(".")[0] in OWN
        if not own:
            continue
        for alias in node.names:
            private = alias.name.startswith("_") and not alias.name.startswith("__")
            if private and alias.name not in modules:
                bad.append((alias.name, node.lineno))
    return bad


def test_the_private_name_checker_flags_what_it_should():
    assert private_names_imported("from .single_cell import _bytes_per_problem\n", set()) \
        == [("_bytes_per_problem", 1)]
    assert private_names_imported("from . import _numba_cache\n", {"_numba_cache"}) == []
    assert private_names_imported("from numpy import _NoValue\n", set()) == []


def test_no_module_imports_another_modules_private_names():
    """A name with a leading underscore belongs to its module; share it by making it public."""
    files = _source_files()
    modules = {p.stem for p in files}
    bad = [f"{p.relative_to(ROOT)}:{line} imports {name}"
           for p in files for name, line in private_names_imported(p.read_text(), modules)]
    assert not bad, "\n".join(bad)
