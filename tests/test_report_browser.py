"""index.html in a real headless Chromium (Debian's /usr/bin/chromium through playwright):
no request leaves file://, every image decodes, no console error, and it prints to PDF."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import report_fixtures as rf

from ganbench.report import build_report, load_inputs

CHROMIUM = os.environ.get("GANBENCH_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--no-first-run", "--disable-domain-reliability",
        "--disable-client-side-phishing-detection", "--no-sandbox", "--disable-dev-shm-usage"]



def test_chromium_is_installed():
    """The dev set-up installs Debian's chromium (`make chromium`): never a silent skip."""
    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} missing: `make chromium` installs it"


@pytest.fixture(scope="module")
def page_path(tmp_path_factory) -> Path:
    variants = {**{name: rf.DEFAULT[name] for name in ("cgan", "wgan")},
                **{name: rf.TRANSLATORS[name] for name in ("p2p", "cyc")}}
    root = rf.write_project(tmp_path_factory.mktemp("browser"), variants,
                            title="Browser <check> & co")
    inputs = load_inputs(root, rf.report_params(title="Browser <check> & co"),
                         rf.settings_of(variants),
                         data={"source": "mnist5k", "image_size": 28, "channels": 1},
                         git={"git_commit": "abc", "git_dirty": "false"})
    build_report(inputs, root / "reports")
    return root / "reports" / "index.html"


def test_page_loads_offline_with_all_images_and_no_errors(page_path, tmp_path):
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    console_errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})

            def handle(route):
                url = route.request.url
                requests.append(url)
                if url.startswith(("file:", "data:")):
                    route.continue_()
                else:
                    route.abort()

            context.route("**/*", handle)
            page = context.new_page()
            page.on("console", lambda msg: msg.type == "error" and console_errors.append(msg.text))
            page.on("pageerror", lambda exc: console_errors.append(str(exc)))
            page.on("requestfailed", lambda req: console_errors.append(f"failed {req.url}"))
            page.goto(page_path.as_uri(), wait_until="load")

            assert page.title() == "Browser <check> & co"   # escaped in the source, shown as is
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => [e.alt, e.complete, e.naturalWidth, e.naturalHeight])")
            # generators: grid, strip, curves each, 3 charts; translators: triplets and
            # curves each, a strip figure per task
            assert len(images) == 2 * 3 + 3 + 2 * 2 + 2, images
            for alt, complete, width, height in images:
                assert complete and width > 0 and height > 0, alt
            # the table fits a laptop screen: no horizontal scroll of the page itself
            assert page.evaluate("document.documentElement.scrollWidth") <= 1280
            assert page.locator("table.metrics tbody tr").count() == 2 + 1 + 1 + 1  # + floor;
            # a translation task's table each

            page.emulate_media(media="print")
            pdf = page.pdf(format="A4", print_background=True)
            assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
        finally:
            browser.close()

    outside = [u for u in requests if not u.startswith(("file:", "data:"))]
    assert not outside, outside
    assert not [u for u in requests if u.startswith(("http:", "https:"))]
    assert requests and requests[0].startswith("file:")
    assert not console_errors, console_errors
