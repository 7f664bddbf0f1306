"""The report opens in headless Chromium: every image decodes, no script errors, tables sort.

The page sets ``data-images-total``, ``data-images-loaded`` and ``data-js-errors`` on <html>
once loaded; ``chromium --dump-dom`` returns the DOM after the load event. Skipped where
Chromium is not installed (CI installs Debian's ``chromium`` and sets
``GPUDECODE_REQUIRE_CHROMIUM=1``, so there it must run).
"""

import base64
import hashlib
import os
import re
import shutil
import subprocess

import pytest
from report_folders import cohort_folder, session_folder

from gpudecode.report import cohort_figures, read_csv_rows, session_figures

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"),
                             "/usr/bin/chromium") if p and os.access(p, os.X_OK)),
                None)
# CI sets GPUDECODE_REQUIRE_CHROMIUM=1 so that a missing browser fails instead of skipping.
REQUIRED = os.environ.get("GPUDECODE_REQUIRE_CHROMIUM") == "1"
pytestmark = pytest.mark.skipif(CHROMIUM is None and not REQUIRED,
                                reason="Chromium is not installed")


def dump_dom(page, tmp_path) -> str:
    assert CHROMIUM, "GPUDECODE_REQUIRE_CHROMIUM=1 but no chromium on PATH"
    profile = tmp_path / f"profile-{page.stem}"
    res = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}",
         "--dump-dom", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=180, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def root_attrs(dom: str) -> dict:
    tag = re.search(r"<html\b[^>]*>", dom)
    assert tag, dom[:500]
    return dict(re.findall(r'([\w-]+)="([^"]*)"', tag.group(0)))


def allow_script(page_text: str, script: str) -> str:
    """The page with ``script`` appended to the body and its hash added to the CSP: the
    report only runs scripts whose SHA-256 its policy lists."""
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    text = page_text.replace("script-src ", f"script-src 'sha256-{digest}' ", 1)
    return text.replace("</body>", f"<script>{script}</script></body>")


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """The pages ``decode --analysis all --report`` and ``cohort --report`` wrote, with the
    number of figures of each folder."""
    session = session_folder(tmp_path_factory)
    cohort = cohort_folder(tmp_path_factory)
    return {"session": (session / "report.html", len(session_figures(session))),
            "cohort": (cohort / "report.html", len(cohort_figures(cohort)))}


@pytest.mark.parametrize("kind", ["session", "cohort"])
def test_report_loads_every_image_without_errors(reports, kind, tmp_path):
    page, n_figures = reports[kind]
    a = root_attrs(dump_dom(page, tmp_path))
    assert a.get("data-report-ready") == "1", a
    assert a["data-js-errors"] == "0", a.get("data-js-error-text")
    assert int(a["data-images-total"]) == n_figures >= 3
    assert a["data-images-loaded"] == a["data-images-total"]


def test_the_check_sees_broken_images_and_script_errors(reports, tmp_path):
    page, n_figures = reports["session"]
    bad = tmp_path / "broken.html"
    text = page.read_text(encoding="utf-8").replace(
        "</main>", '<img alt="x" src="data:image/png;base64,AAAA"></main>')
    bad.write_text(allow_script(text, "undefinedFunction();"), encoding="utf-8")
    a = root_attrs(dump_dom(bad, tmp_path))
    assert int(a["data-images-total"]) == n_figures + 1
    assert int(a["data-images-loaded"]) == n_figures
    assert a["data-js-errors"] == "1" and "undefinedFunction" in a["data-js-error-text"]


def test_an_injected_script_does_not_run(reports, tmp_path):
    """Scripts run by hash: one the report did not write (not in its CSP) is blocked, and the
    report's own scripts still run (the page is ready, tables sortable)."""
    page, _ = reports["session"]
    script = "document.documentElement.setAttribute('data-pwned','1');"
    text = page.read_text(encoding="utf-8")
    injected = tmp_path / "injected.html"
    injected.write_text(text.replace("</body>", f"<script>{script}</script></body>"),
                        encoding="utf-8")
    a = root_attrs(dump_dom(injected, tmp_path))
    assert "data-pwned" not in a
    assert a.get("data-report-ready") == "1"
    # The only error the page may see is the policy's report of the blocked script (the
    # violation event can arrive before or after the load event).
    errors = [e for e in a.get("data-js-error-text", "").split(" | ") if e]
    assert len(errors) == int(a["data-js-errors"]) <= 1
    assert all(e.startswith("blocked") for e in errors), errors
    # Control: the same script with its hash in the policy runs.
    allowed = tmp_path / "allowed.html"
    allowed.write_text(allow_script(text, script), encoding="utf-8")
    assert root_attrs(dump_dom(allowed, tmp_path)).get("data-pwned") == "1"


def test_tables_sort_by_clicked_column(reports, tmp_path):
    page, _ = reports["session"]
    models = read_csv_rows(page.parent / "models.csv")
    col = list(models[0]).index("test_accuracy")
    probe = (
        "(function(){var t=document.querySelector('table[data-title=\"models.csv\"]');"
        f"var th=t.tHead.rows[0].cells[{col}];function order(){{"
        "return Array.prototype.map.call(t.tBodies[0].rows,function(r){"
        f"return r.cells[{col}].getAttribute('data-v');}}).join(',');}}"
        "th.click();var up=order();th.click();var down=order();"
        "document.documentElement.setAttribute('data-up',up);"
        "document.documentElement.setAttribute('data-down',down);})();")
    test_page = tmp_path / "sorted.html"
    test_page.write_text(allow_script(page.read_text(encoding="utf-8"), probe),
                         encoding="utf-8")
    a = root_attrs(dump_dom(test_page, tmp_path))
    assert a["data-js-errors"] == "0", a.get("data-js-error-text")
    values = [r["test_accuracy"] for r in models]
    assert a["data-up"].split(",") == sorted(values, key=float)
    assert a["data-down"].split(",") == sorted(values, key=float, reverse=True)
