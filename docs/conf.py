"""Sphinx configuration for the gpudecode documentation.

Build (from the repository root): ``pip install -e ".[docs]" && sphinx-build -W -b html docs docs/_build/html``.

Stack: Sphinx + pydata-sphinx-theme + sphinx-gallery + numpydoc + autosummary, the one
scikit-learn and MNE use: the docstrings are NumPy style (numpydoc renders them as those
projects do), autosummary gives every public name its own page, and sphinx-gallery runs every
script in ``examples/`` at build time and puts its output and figures in the gallery, so an
example that breaks fails the build.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import gpudecode  # noqa: E402  (the installed package: pip install -e ".[docs]")

project = "gpudecode"
author = "gpudecode developers"
copyright = "gpudecode developers"
release = gpudecode.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "gpudecode_cli",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
default_role = "py:obj"
nitpicky = False

# -- API reference --------------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"          # numpydoc writes the types from the docstrings
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_attributes_as_param_list = True

intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "sklearn": ("https://scikit-learn.org/stable", None),
}
# The build must work without network access (CI, offline laptops): intersphinx inventories
# are fetched only when GPUDECODE_DOCS_INTERSPHINX=1.
if os.environ.get("GPUDECODE_DOCS_INTERSPHINX") != "1":
    intersphinx_mapping = {}

# -- Gallery --------------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(HERE.parent / "examples"),
    "gallery_dirs": str(HERE / "auto_examples"),
    "filename_pattern": r"/plot_",       # run every plot_*.py example at build time
    "ignore_pattern": r"__init__\.py|/_",
    "doc_module": ("gpudecode",),           # "Examples using ..." on each API page
    "backreferences_dir": str(HERE / "generated" / "backreferences"),
    "reference_url": {"gpudecode": None},
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "capture_repr": ("_repr_html_", "__repr__"),
    "min_reported_time": 0,
    "show_memory": False,
    "plot_gallery": "True",
    "abort_on_example_error": False,   # run them all, then fail the build listing every failure
    "only_warn_on_example_error": False,
}

# -- HTML -----------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"gpudecode {release}"
html_static_path = ["_static"]
html_css_files = ["gpudecode.css"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_sidebars = {"**": ["sidebar-nav-bs"]}
html_show_sourcelink = False
