"""Screenshot the top of a gpudecode report with headless Chromium (for docs/report_top.png).

    gpudecode demo --out /tmp/demo
    python docs/report_screenshot.py /tmp/demo/results/report.html docs/report_top.png

The page is drawn at 1200 x HEIGHT CSS pixels and the PNG reduced to a 256-colour palette
so it stays small in the repository.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

from PIL import Image


def screenshot(page: Path, png: Path, width: int = 1200, height: int = 1400) -> Path:
    """Write the first ``width`` x ``height`` pixels of ``page`` as rendered by Chromium."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium not found (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        raw = Path(profile) / "shot.png"
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-dev-shm-usage", "--hide-scrollbars", "--no-first-run",
                        f"--user-data-dir={profile}", f"--window-size={width},{height}",
                        f"--screenshot={raw}", page.resolve().as_uri()],
                       check=True, capture_output=True, timeout=180)
        image = Image.open(raw).convert("RGB")
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(png, optimize=True)
    return png


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path, help="report.html")
    parser.add_argument("png", type=Path, help="output PNG")
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=1400)
    args = parser.parse_args()
    print(screenshot(args.page, args.png, args.width, args.height))


if __name__ == "__main__":
    main()
