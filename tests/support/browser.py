"""A real Chromium for the web client's tests: Playwright (async) driving Debian's `chromium`.

The browser is the system one (`/usr/bin/chromium`, from the distribution's `chromium` package,
installed by `make test` where it can be), not a downloaded build: nothing is fetched at test
time. Fake camera and microphone (`--use-fake-device-for-media-stream`, a test pattern and a
beep) stand in for real devices, and every background service of the browser is off, so a test
run makes no connection but to the server under test.

Where Chromium or the `playwright` package is missing, the browser tests are skipped and the run
ends with a banner saying so (a skipped browser test must never look like a passing one).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.support import banner

CHROMIUM = os.environ.get("LIVE_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}


def unavailable_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "the `playwright` package is not installed (pip install -e '.[test]')"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        found = shutil.which("chromium")
        hint = f" (one is at {found}: set LIVE_TEST_CHROMIUM)" if found else ""
        return f"no Chromium at {CHROMIUM}{hint}; install it with `apt-get install -y chromium`"
    return None


def require_browser() -> None:
    """Skip the calling test, loudly, when no browser can run."""
    reason = unavailable_reason()
    if reason is not None:
        banner.say(f"Browser tests were SKIPPED: {reason}.")
        pytest.skip(reason)


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A headless Chromium (playwright Browser) for one test."""
    require_browser()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


class Shots:
    """Screenshots of one test's steps, kept under test-artifacts/ (numbered, in step order)."""

    def __init__(self, test_name: str) -> None:
        self.prefix = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
        self.count = 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for old in ARTIFACTS.glob(f"{self.prefix}-*.png"):
            old.unlink()

    async def take(self, page: Any, step: str, *, full_page: bool = False) -> Path:
        self.count += 1
        path = ARTIFACTS / f"{self.prefix}-{self.count:02d}-{step}.png"
        if full_page:  # sticky bars are drawn where they are on screen: start from the top
            await page.evaluate("window.scrollTo(0, 0)")
        await page.screenshot(path=str(path), full_page=full_page)
        return path


async def new_page(browser: Any, base_url: str, *, viewport: dict[str, int] = DESKTOP,
                   errors: list[str] | None = None, locale: str = "en-US") -> Any:
    """A page in a fresh context (its own localStorage, i.e. its own signed-in user).

    `locale` is the browser's language (navigator.languages, Accept-Language): "ar-EG" opens the
    client in Arabic. JavaScript errors and console errors go to `errors` so that a test can
    assert there were none (a text missing from a catalog is such an error).
    """
    context = await browser.new_context(base_url=base_url, viewport=viewport, locale=locale,
                                        permissions=["camera", "microphone"])
    page = await context.new_page()
    if errors is not None:
        page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
        page.on("console", lambda msg: errors.append(f"console.{msg.type}: {msg.text}")
                if msg.type == "error" else None)
    return page


async def until(page: Any, script: str, timeout: float = 15) -> Any:
    """Poll an async page function until it returns something truthy, and return that.

    (`wait_for_function` takes a returned promise for a truthy value at once; and it cannot
    evaluate a string expression under the page's CSP.)"""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await page.evaluate(script)
        if value or loop.time() > deadline:
            return value
        await asyncio.sleep(0.1)


async def dev_sign_in(page: Any, user_id: str, name: str) -> None:
    """Sign in through the dev form (the server runs with dev=True), in whatever language."""
    await page.goto("/#/signin")
    form = page.get_by_test_id("dev-signin")
    await form.locator("input[name=user_id]").fill(user_id)
    await form.locator("input[name=name]").fill(name)
    await form.locator("button[type=submit]").click()
    await page.get_by_test_id("me").filter(has_text=name).wait_for()


async def token_sign_in(page: Any, token: str, user_id: str, name: str, path: str = "/#/") -> None:
    """Be signed in as a user whose token a test already has (as the page keeps it), at `path`."""
    await page.goto("/#/signin")
    await page.evaluate(
        "([token, user]) => { localStorage.setItem('live.token', token);"
        " localStorage.setItem('live.user', JSON.stringify(user)); }",
        [token, {"id": user_id, "name": name}])
    await page.goto(path)
    await page.reload()
    await page.get_by_test_id("me").filter(has_text=name).wait_for()


# Latin words an Arabic page may show: the product's name and formats' names.
LATIN_ALLOWED = r"\b(live|HLS|JPEG|PNG|WebP|JavaScript)\b"

UNTRANSLATED_JS = """
([allowed, known]) => {
  const strip = (text) => {
    let out = text.replace(new RegExp(allowed, 'g'), '');
    for (const k of known) out = out.split(k).join('');
    return out;
  };
  const latin = /[A-Za-z]/;
  // User text (dir=auto blocks, <bdi> names), other-language labels and hidden things are not
  // interface strings.
  const skip = '[dir="auto"], bdi, [translate="no"], noscript, script, style, [hidden], [lang]:not([lang="ar"])';
  const found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const el = node.parentElement;
    if (!el || el.closest(skip)) continue;
    if (latin.test(strip(node.textContent))) found.push(node.textContent.trim());
  }
  for (const el of document.querySelectorAll('[aria-label], [placeholder], [title], [alt]')) {
    if (el.closest('[translate="no"], [hidden], [lang]:not([lang="ar"])')) continue;
    for (const name of ['aria-label', 'placeholder', 'title', 'alt']) {
      const value = el.getAttribute(name);
      if (value && latin.test(strip(value))) found.push(`${name}="${value}"`);
    }
  }
  if (document.title && latin.test(strip(document.title))) found.push(`title: ${document.title}`);
  return found;
}
"""


async def untranslated(page: Any, known: Sequence[str] = ()) -> list[str]:
    """Interface text in Latin letters on an Arabic page (an untranslated string), but for
    `known` strings (user ids, names, words a test typed) and LATIN_ALLOWED."""
    return list(await page.evaluate(UNTRANSLATED_JS, [LATIN_ALLOWED, list(known)]))


async def assert_rtl(page: Any) -> None:
    """The page is Arabic and right to left, mirrored: the brand at the right, no sideways overflow."""
    state = await page.evaluate("""() => ({
      lang: document.documentElement.lang, dir: document.documentElement.dir,
      direction: getComputedStyle(document.body).direction,
      brand: document.querySelector('.brand').getBoundingClientRect().left / window.innerWidth,
      overflow: document.documentElement.scrollWidth - window.innerWidth,
    })""")
    assert state["lang"] == "ar" and state["dir"] == "rtl" and state["direction"] == "rtl", state
    assert state["brand"] > 0.5, f"the brand should sit at the right in RTL: {state}"
    assert state["overflow"] <= 1, f"the page overflows sideways: {state}"
