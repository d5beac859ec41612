"""The officer's page in a real browser: Debian's Chromium (driven by Playwright) against a real
`chipclass serve` on SQLite.

Chromium is found at /usr/bin/chromium (`apt-get install -y chromium`; Playwright's own browser
download does not work offline). Without it these tests skip locally, and fail under CI=true, where
`.ci/run` installs it. Screenshots go to a temporary directory, or to $CHIPCLASS_UI_SCREENSHOTS
(the README's pictures: `CHIPCLASS_UI_SCREENSHOTS=docs/screenshots pytest tests/ui`).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserType, Page, Playwright, sync_playwright

from tests.conftest import ADMIN_KEY
from tests.e2e.conftest import Server, Servers

CHROMIUM = os.environ.get("CHIPCLASS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def chromium() -> str:
    found = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    if not found:
        if IN_CI:
            pytest.fail(f"CI=true but no Chromium at {CHROMIUM}: .ci/run installs it (apt-get install -y chromium)")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    return found


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, object], chromium: str) -> dict[str, object]:
    """pytest-playwright's launch arguments, pointed at Debian's Chromium."""
    return {**browser_type_launch_args, "executable_path": chromium, "args": CHROMIUM_ARGS}


# pytest-playwright keeps Playwright (and its event loop, which makes asyncio.run fail) for the whole
# session; here it lives only while the tests of this package run.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    pw = sync_playwright().start()
    yield pw
    pw.stop()


@pytest.fixture(scope="package")
def browser_type(playwright: Playwright) -> BrowserType:
    return playwright.chromium


@pytest.fixture(scope="package")
def browser(browser_type: BrowserType, browser_type_launch_args: dict[str, object]) -> Iterator[Browser]:
    launched = browser_type.launch(**browser_type_launch_args)  # type: ignore[arg-type]
    yield launched
    launched.close()


@pytest.fixture(scope="package")
def browser_context_args() -> dict[str, object]:
    return {"viewport": {"width": 1280, "height": 900}, "accept_downloads": True}


@dataclass
class Site:
    server: Server
    admin_key: str
    read_key: str

    @property
    def url(self) -> str:
        return f"{self.server.base_url}/ui"


@pytest.fixture(scope="session")
def site(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One real server for the browser tests: a fresh SQLite file it migrates and seeds itself."""
    root = tmp_path_factory.mktemp("ui-server")
    servers = Servers(root)
    try:
        server = servers.start(f"sqlite:///{root / 'ui.db'}", name="ui")
        with server.client() as client:
            created = client.post("/v1/keys", json={"name": "officer-read-only", "scopes": ["read"]})
            created.raise_for_status()
        yield Site(server, ADMIN_KEY, created.json()["key"])
    finally:
        servers.stop_all()


@dataclass
class Watch:
    """What a page reported: console errors (CSP refusals among them), uncaught errors, URLs requested."""

    errors: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


@pytest.fixture
def watch(page: Page) -> Iterator[Watch]:
    """Every test fails on a console error or a CSP violation it did not expect."""
    seen = Watch()
    page.on("console", lambda m: seen.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen.errors.append(f"uncaught: {e}"))
    page.on("request", lambda r: seen.urls.append(r.url))
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => "
        "console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))"
    )
    yield seen
    assert seen.unexpected() == []


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = os.environ.get("CHIPCLASS_UI_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def sign_in(page: Page, site: Site, key: str | None = None, remember: bool = False) -> None:
    page.goto(site.url)
    page.get_by_label("API key").fill(key or site.admin_key)
    if remember:
        page.get_by_label("Keep me signed in").check()
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("main[data-ready=catalog]")


def open_view(page: Page, site: Site, route: str, view: str) -> None:
    """Go to a route of the signed-in page and wait until the view says it is ready."""
    page.evaluate("r => { location.hash = r }", route)
    page.wait_for_selector(f"main[data-ready={view}]")
