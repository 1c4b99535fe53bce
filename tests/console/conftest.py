"""Fixtures for the console: a real browser against the real app served by uvicorn on loopback.

`console` is the ledger stack of tests/support/vendors.py (the app on a free loopback port, with the
Beluga and pharmacy sandboxes and the policy worker), plus helpers to sign in with a link printed by
`ledger console-link`, and to save a screenshot of the page.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from typer.testing import CliRunner

from ledger.cli import app as cli
from tests.console.browser import ARGS, ensure_chromium, screenshot_dir
from tests.support.vendors import ORG, Stack, running_stack


# Module scope, not session: Playwright's sync API keeps an event loop running on the main thread
# while it is open, and a later test on the same xdist worker that calls asyncio.run() (the NATS
# tests do) would fail. A module's browser closes before the worker moves to another module.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = ensure_chromium()
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, args=ARGS, headless=True)
        yield launched
        launched.close()


@dataclass
class Console:
    stack: Stack
    browser: Browser
    shots: Path
    var_dir: Path

    @property
    def url(self) -> str:
        return self.stack.url

    def link(self, role: str, subject: str | None = None, minutes: int = 15) -> str:
        """Run `ledger console-link` as a person would, and take the last word it prints."""
        args = ["console-link", "--role", role, "--url", self.url, "--minutes", str(minutes)]
        if subject:
            args += ["--subject", subject]
        env = {  # the same secret and organization as the running app
            "LEDGER_SECRET": self.stack.runtime.token_secret,
            "LEDGER_ORGANIZATION_ID": ORG,
            "LEDGER_ENV": "local",
            "LEDGER_VAR_DIR": str(self.var_dir),
        }
        result = CliRunner().invoke(cli, args, env=env)
        assert result.exit_code == 0, result.output
        return result.output.split()[-1]

    def page(self, width: int = 1280, height: int = 900) -> Page:
        context = self.browser.new_context(viewport={"width": width, "height": height})
        return context.new_page()

    def signed_in(self, role: str, subject: str | None = None, **page_kw: int) -> Page:
        page = self.page(**page_kw)
        page.goto(self.link(role, subject))
        page.wait_for_url(lambda url: "/sign-in" not in url)
        return page

    def shot(self, page: Page, name: str) -> Path:
        path = self.shots / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def console(tmp_path: Path, browser: Browser) -> Iterator[Console]:
    with running_stack(tmp_path / "var") as stack:
        yield Console(stack, browser, screenshot_dir(tmp_path), tmp_path / "var")
