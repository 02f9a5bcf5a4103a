"""Headless Chromium from the Debian packages, driven by Playwright (no browser download)."""

import shutil

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def launch(playwright):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (scripts/test installs it when run as root on Debian)")
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
