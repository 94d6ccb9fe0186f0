"""Screenshot report.html and print it to PDF in headless Chromium, to look at it as an examiner would.

Not a test (a browser is too heavy and too slow for CI); run it after changing the template:

    .venv/bin/python bench/screenshot_report.py                 # the synthetic hostile sample
    .venv/bin/python bench/screenshot_report.py triage-out/laptop --mismatch

Writes ``report.png`` (1280 px wide, full page height by default) and ``report.pdf`` (A4, the page's own print
CSS) into ``--out`` and prints their paths. Needs Debian's ``chromium`` (``apt-get install -y chromium``).
The browser runs with networking features off and a throw-away profile; the report needs no network anyway.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",  # runs as root on the lab and CI machines
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def find_browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    sys.exit("no Chromium found: apt-get install -y chromium")


def sample_folder(folder: Path, verification: str) -> Path:
    """Write the synthetic hostile sample's reports into ``folder``."""
    sys.path.insert(0, str(ROOT))
    from tests.report.sample import sample_records, sample_summary
    from triage.report import write_reports

    records = sample_records()
    write_reports(folder, sample_summary(records, verification=verification), records)
    return folder


def chromium(browser: str, url: str, *args: str) -> None:
    with tempfile.TemporaryDirectory(prefix="triage-chromium-") as profile:
        command = [browser, *FLAGS, f"--user-data-dir={profile}", *args, url]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        sys.exit(f"chromium failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "folder", nargs="?", type=Path, help="device output folder (default: synthetic sample)"
    )
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "triage-report-shot")
    parser.add_argument("--mismatch", action="store_true", help="sample only: render a failed verification")
    parser.add_argument(
        "--height", type=int, default=0, help="window height in px (0: whole page, estimated)"
    )
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    if args.folder is None:
        folder = sample_folder(args.out / "sample", "mismatch" if args.mismatch else "verified")
    else:
        from triage.report import render_dir

        folder = args.folder
        render_dir(folder)
    html = folder / "report.html"
    url = html.resolve().as_uri()
    browser = find_browser()
    # About 14 px of page per 100 bytes of this report's HTML; enough to show the whole page in one image.
    height = args.height or max(2400, min(16000, html.stat().st_size * 14 // 100))
    png, pdf = args.out / "report.png", args.out / "report.pdf"
    chromium(browser, url, f"--screenshot={png}", f"--window-size=1280,{height}")
    chromium(browser, url, f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
    print(png)
    print(pdf)


if __name__ == "__main__":
    main()
