"""Headless Chromium for the console tests: Debian's `/usr/bin/chromium`, driven by Playwright.

The browser is installed with apt-get when missing. A laptop without it skips with the reason;
under `CI=true` a missing browser fails the run, never skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = Path(__file__).resolve().parents[2]


def ensure_chromium() -> str:
    if not Path(CHROMIUM).exists():
        apt = shutil.which("apt-get")
        if apt is not None:
            subprocess.run([apt, "install", "-y", "chromium"], check=False, capture_output=True, timeout=900)
    if Path(CHROMIUM).exists():
        return CHROMIUM
    reason = f"{CHROMIUM} is missing and `apt-get install -y chromium` did not provide it"
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(f"SKIPPED (would FAIL in CI): {reason}")


def screenshot_dir(tmp: Path) -> Path:
    """`docs/console/` when LEDGER_CONSOLE_SCREENSHOTS=1 (to refresh the README's pictures), else tmp.

    Writing into the tree on every run would leave each developer's worktree dirty.
    """
    if os.environ.get("LEDGER_CONSOLE_SCREENSHOTS") == "1":
        target = REPO / "docs" / "console"
        target.mkdir(parents=True, exist_ok=True)
        return target
    return tmp
