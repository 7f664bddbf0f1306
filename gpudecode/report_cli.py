"""``gpudecode report DIR [-o report.html]``: the command behind the CLI's ``report``."""

from __future__ import annotations

from pathlib import Path

from .outputs import check_writable_folder
from .report import detect_folder, write_report
from .text import PrintableConsole

__all__ = ["report_command"]


def report_command(result_dir: Path, out: Path | None = None) -> Path:
    """Write the figures and the HTML report of a session or cohort folder; say where.

    Parameters
    ----------
    result_dir : Path
        A ``gpudecode decode --out`` folder (summary.json) or a ``gpudecode cohort --out``
        folder (cohort.csv).
    out : Path, optional
        The HTML file; default ``result_dir/report.html``.

    Returns
    -------
    Path
        The HTML file written.
    """
    detect_folder(result_dir)
    check_writable_folder(result_dir, what="the figures into the result folder", field="DIR")
    if out is not None:
        check_writable_folder(Path(out).parent, what="the report", field="--out")
    path = write_report(result_dir, out)
    figures = Path(result_dir) / "figures"
    n = len(list(figures.glob("*.png"))) if figures.is_dir() else 0
    PrintableConsole().print(f"wrote {path} ({n} figures, PNG and SVG, in {figures})",
                             markup=False, highlight=False, soft_wrap=True)
    return path
