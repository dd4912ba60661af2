"""Render a report page (``reports/index.html``) in headless Chromium and save a PNG screenshot.

    python scripts/screenshot_report.py reports/index.html docs/report-screenshot.png
    python scripts/screenshot_report.py --fixture docs/report-screenshot.png   # fake inputs

Offline: every request that is not ``file:`` or ``data:`` is aborted. Uses Debian's
``/usr/bin/chromium`` (``make chromium``) through the playwright package; no browser download.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--no-first-run", "--disable-domain-reliability",
        "--no-sandbox", "--disable-dev-shm-usage"]


def screenshot(page_path: Path, out: Path, width: int = 1280, height: int = 900,
               full_page: bool = False, executable: str = CHROMIUM) -> Path:
    """Open ``page_path`` at ``width`` x ``height`` CSS pixels and write a PNG to ``out``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.route("**/*", lambda route: route.continue_()
                       if route.request.url.startswith(("file:", "data:")) else route.abort())
            page.goto(Path(page_path).resolve().as_uri(), wait_until="load")
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=full_page)
        finally:
            browser.close()
    return out


def fixture_page(folder: Path) -> Path:
    """Build the report from tests/report_fixtures.py (fake but contract-shaped inputs)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import report_fixtures as rf

    from ganbench.report import build_report, load_inputs

    root = rf.write_project(folder)
    inputs = load_inputs(root, rf.report_params(), rf.settings_of(),
                         data={"source": "mnist5k", "image_size": 28, "channels": 1},
                         git={"git_commit": "0123456789abcdef", "git_dirty": "false"})
    build_report(inputs, root / "reports")
    return root / "reports" / "index.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("page", nargs="?", help="the index.html to render")
    parser.add_argument("out", help="PNG to write")
    parser.add_argument("--fixture", action="store_true",
                        help="render the report built from tests/report_fixtures.py")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--full-page", action="store_true")
    parser.add_argument("--chromium", default=CHROMIUM)
    args = parser.parse_args(argv)
    if args.fixture == bool(args.page):
        parser.error("give either an index.html or --fixture")
    with tempfile.TemporaryDirectory() as tmp:
        page = fixture_page(Path(tmp)) if args.fixture else Path(args.page)
        if not page.is_file():
            parser.error(f"{page}: no such file")
        screenshot(page, Path(args.out), args.width, args.height, args.full_page, args.chromium)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
