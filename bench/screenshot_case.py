"""Screenshot case.html in headless Chromium, to look at the ranked case as an examiner would.

Not a test (a browser is too heavy for CI); run it after changing the case page or the ranking:

    .venv/bin/python bench/screenshot_case.py              # builds and scans the synthetic ranking case
    .venv/bin/python bench/screenshot_case.py triage-out   # an existing case output folder (holds case.html)

The synthetic case is the one tests/case/test_rank.py ranks: the committed fixture images copied to a temporary
folder (a laptop E01 set and a phone with category A matches, a USB stick with category B, a camera matched by a
list without categories, a truncated E01 that fails, a LUKS2 volume made by cryptsetup and scanned without its
password, a disc with nothing listed), scanned with that test's two small sets (a graded CSV, a plain md5 list).
Writes ``case.png`` (1280 px wide) into ``--out`` and prints its path. Needs Debian's ``chromium``
(``apt-get install -y chromium``) and ``cryptsetup`` (for the locked device).
The page never shows a picture, so neither does the screenshot.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.screenshot_report import chromium, find_browser  # noqa: E402 - after the path is set


def synthetic_case(work: Path) -> Path:
    """Build and scan the synthetic ranking case under ``work``; returns its output folder."""
    from tests.case.test_rank import build_ranking_case, ranking_sets
    from triage.case import CaseSettings, run_case

    case = build_ranking_case(work)
    out = work / "out"
    run_case(case, out, CaseSettings(hashsets=ranking_sets(work / "sets"), cache_dir=work / "cache"), jobs=2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, help="case output folder (default: the synthetic case)")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "triage-case-shot")
    parser.add_argument("--height", type=int, default=1800, help="window height in px")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    folder = args.folder or synthetic_case(Path(tempfile.mkdtemp(prefix="case-", dir=args.out)))
    html = folder / "case.html"
    if not html.is_file():
        sys.exit(f"{folder}: no case.html here; give the output folder of 'triage case'")
    png = args.out / "case.png"
    chromium(find_browser(), html.resolve().as_uri(), f"--screenshot={png}", f"--window-size=1280,{args.height}")
    print(png)


if __name__ == "__main__":
    main()
