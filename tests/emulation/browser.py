"""Debian's Chromium, headless, driven by Playwright, for the tests of what a browser does (the
`browser` fixture is in conftest.py)."""
import shutil
from contextlib import contextmanager

import pytest

CHROMIUM = "/usr/bin/chromium"
# As root, in a closed network: no sandbox, and no background calls to the internet.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: run scripts/install.sh")


@contextmanager
def headless_chromium():
    if not shutil.which(CHROMIUM):
        pytest.skip("chromium is not installed: run scripts/install.sh")
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()
