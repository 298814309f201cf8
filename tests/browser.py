"""Headless Chromium for the tests: a page rendered as a browser shows it, without a kernel.

Needs Debian's ``chromium`` (``environments/system_packages.sh`` installs it, as ``.ci/run``
does); without it the tests that need it are skipped with the reason.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


class Unavailable(Exception):
    pass


def executable() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    raise Unavailable("chromium is not installed (environments/system_packages.sh installs it)")


def render(chromium: str, page: Path, screenshot: Path, height: int = 4000) -> str:
    """The DOM of ``page`` after its scripts ran (offline, 15 s of virtual time), and its
    screenshot, 1300 px wide, in ``screenshot``."""
    common = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--virtual-time-budget=15000",
        f"--user-data-dir={screenshot.parent / 'chromium_profile'}",
    ]
    url = Path(page).resolve().as_uri()
    subprocess.run(
        [*common, f"--window-size=1300,{height}", f"--screenshot={screenshot}", url],
        capture_output=True,
        timeout=180,
        check=True,
    )
    return subprocess.run(
        [*common, "--dump-dom", url], capture_output=True, text=True, timeout=180, check=True
    ).stdout
