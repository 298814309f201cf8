"""Headless Chromium for the tests: a page rendered as a browser shows it, without a kernel.

Installs Debian's ``chromium`` when it is missing and this process may (root and apt-get);
otherwise the tests that need it are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


class Unavailable(Exception):
    pass


def executable() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise Unavailable("chromium is not installed and cannot be installed without root and apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
        if result.returncode != 0:
            raise Unavailable(f"{' '.join(command)} failed: {result.stderr[-500:]}")
    return shutil.which("chromium")


def render(chromium: str, page: Path, screenshot: Path, height: int = 4000) -> str:
    """The DOM of ``page`` after its scripts ran (offline, 15 s of virtual time), and its
    screenshot, 1300 px wide, in ``screenshot``."""
    common = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              "--virtual-time-budget=15000", f"--user-data-dir={screenshot.parent / 'chromium_profile'}"]
    url = Path(page).resolve().as_uri()
    subprocess.run([*common, f"--window-size=1300,{height}", f"--screenshot={screenshot}", url],
                   capture_output=True, timeout=180, check=True)
    return subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=180, check=True).stdout
