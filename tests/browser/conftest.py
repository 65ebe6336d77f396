"""Browser tests: the real product (``knotcoach run`` on the simulator) driven by Debian's Chromium.

``product`` starts ``knotcoach run --source sim --speed 10`` on a free loopback port with its
own data directory, waits for its pairing link on standard error, and at the end stops it
with SIGTERM and checks it exits 0. ``page`` is a browser tab paired with it through a
real one-time link. ``shoot(page, name)`` saves a PNG to tests/browser/screenshots/ for review.

Playwright never downloads a browser here: it drives /usr/bin/chromium (scripts/test-deps
installs it). Without it the tests are skipped with the reason.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect

expect.set_options(timeout=15_000)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).parent / "screenshots"
PAIR_LINE = re.compile(r"knotcoach: pair a tablet: (http://\S+/pair/\S+)")
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
SPEED = 10          # simulated time runs 10x: a whole session takes seconds
#: Shorter than the defaults but inside the coach's allowed ranges (simulated seconds): Next
#: opens after 30 s of rolling around (ends by itself at 45), 2 s to get in place, two cycles
#: of 5 s contract and 8 s relax.
COACH_SETTINGS = {"around_min_s": 30, "around_max_s": 45, "place_s": 2, "contract_s": 5, "relax_s": 8,
                  "cycles": 2}
TABLET = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Product:
    """One ``knotcoach run`` process on the simulator; standard error is kept in ``lines``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.lines: list[str] = []
        self.first_link: str | None = None
        self._linked = threading.Event()
        self.proc: subprocess.Popen | None = None

    def start(self) -> Product:
        exe = Path(sys.executable).with_name("knotcoach")
        cmd = [str(exe), "run", "--source", "sim", "--host", "127.0.0.1", "--port", str(self.port),
               "--data-dir", str(self.data_dir), "--speed", str(SPEED)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace")
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        if not self._linked.wait(START_TIMEOUT_S):
            code = self.proc.poll()
            self.stop()
            pytest.fail(f"knotcoach run printed no pairing link in {START_TIMEOUT_S:g} s "
                        f"(exit {code}):\n" + "\n".join(self.lines[-20:]))
        return self

    def _read_stderr(self) -> None:
        for line in self.proc.stderr:  # read to the end, so the process never blocks on a full pipe
            self.lines.append(line.rstrip("\n"))
            found = PAIR_LINE.search(line)
            if found and self.first_link is None:
                self.first_link = found.group(1)
                self._linked.set()

    def pair_link(self) -> str:
        """A fresh one-time link: the one printed at start first, then from ``knotcoach pair``."""
        if self.first_link is not None:
            link, self.first_link = self.first_link, None
            return link
        exe = Path(sys.executable).with_name("knotcoach")
        done = subprocess.run([str(exe), "pair", "--data-dir", str(self.data_dir)], capture_output=True,
                              text=True, timeout=30, check=False)
        found = PAIR_LINE.search(done.stdout + done.stderr)
        assert found, f"knotcoach pair printed no link: {done.stdout} {done.stderr}"
        return found.group(1)

    def device_pid(self) -> int:
        """The device process ``knotcoach run`` started (its child running firmware.device.main)."""
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            except (OSError, IndexError, ValueError):
                continue  # ended meanwhile
            if ppid == self.proc.pid and b"firmware.device.main" in cmdline:
                return int(proc.name)
        raise AssertionError("knotcoach run has no device process")

    def stop(self) -> int | None:
        """SIGTERM, then the exit status (None if it was never started)."""
        if self.proc is None:
            return None
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
                    pytest.fail(f"knotcoach run did not stop within {STOP_TIMEOUT_S:g} s of SIGTERM")
            return self.proc.returncode
        finally:
            self._reader.join(5)
            self.proc.stderr.close()


def start_product(tmp_path_factory) -> Product:
    data_dir = tmp_path_factory.mktemp("knotcoach-data")
    (data_dir / "coach.json").write_text(json.dumps(COACH_SETTINGS))
    return Product(data_dir).start()


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (scripts/test-deps installs it)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def product(tmp_path_factory, browser):
    """A running product for the tests of one module (they share its device and history)."""
    running = start_product(tmp_path_factory)
    yield running
    code = running.stop()
    assert code == 0, "knotcoach run exited {} on SIGTERM:\n{}".format(code, "\n".join(running.lines[-20:]))


def open_tab(browser, viewport=None, storage_state=None):
    """A new browser context (its own cookies, or ``storage_state``'s) and tab; page errors are kept."""
    context = browser.new_context(viewport=viewport or TABLET, storage_state=storage_state)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return context, page


def pair(page, product: Product) -> None:
    page.goto(product.pair_link())
    page.wait_for_url(product.base_url + "/")


@pytest.fixture(scope="module")
def paired_state(browser, product):
    """The cookies of a tablet paired through a real one-time link (once per product)."""
    context, tab = open_tab(browser)
    try:
        pair(tab, product)
        return context.storage_state()
    finally:
        context.close()


@pytest.fixture
def page(browser, product, paired_state):
    """A tablet-sized tab paired with the product, on the live page, frames arriving
    (the device process may still be starting when the pairing link is printed)."""
    context, tab = open_tab(browser, storage_state=paired_state)
    tab.goto(product.base_url + "/")
    expect(tab.locator("#force")).to_have_text(re.compile(r"^\d+ N on the platform$"), timeout=START_TIMEOUT_S * 1000)
    yield tab
    errors = list(tab.errors)
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="session")
def shoot():
    """shoot(page, name): a PNG of what the page shows now, for a person to review."""
    if os.environ.get("KNOTCOACH_KEEP_SCREENSHOTS") != "1":
        shutil.rmtree(SCREENSHOTS, ignore_errors=True)  # this run's pictures only
    SCREENSHOTS.mkdir(exist_ok=True)

    def save(page, name: str, full_page: bool = False) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.evaluate("window.scrollTo(0, 0)")  # what the tablet shows when nobody scrolls
        page.screenshot(path=str(path), full_page=full_page)
        return path
    return save

