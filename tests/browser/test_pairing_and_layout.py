"""Pairing a tablet, and the pages on a tablet in both orientations and on a phone."""

from __future__ import annotations

import os
import re
import signal

from playwright.sync_api import expect

from tests.browser.conftest import PHONE, open_tab
from tests.browser.flows import start_session


def test_unpaired_tablet_is_told_how_to_pair_then_sees_live_data(browser, product, shoot):
    context, tab = open_tab(browser)
    try:
        tab.goto(product.base_url + "/")
        expect(tab.get_by_role("heading", name="Pair this tablet with Knot Coach")).to_be_visible()
        expect(tab.locator("#reading")).to_have_count(0)  # the live page is not shown
        shoot(tab, "pairing-instructions")
        assert tab.request.get(product.base_url + "/api/state").status == 401

        link = product.pair_link()
        tab.goto(link)
        expect(tab).to_have_url(product.base_url + "/")
        # frames arrive from the simulated platform: the force line and the reading fill in
        expect(tab.locator("#force")).to_have_text(re.compile(r"^\d+ N on the platform$"))
        expect(tab.locator("#reading-int")).to_have_text(re.compile(r"^\d+$"))
        expect(tab.locator("#step-name")).to_have_text("No session")
        expect(tab.locator("#sim")).to_be_visible()
        expect(tab.locator("#chart canvas")).to_have_count(1)
        expect(tab.locator("#link-banner")).to_be_hidden()
        assert tab.errors == []

        # the link was used up: another browser opening it is refused and stays unpaired
        other, other_tab = open_tab(browser)
        other_tab.goto(link)
        expect(other_tab.get_by_role("alert")).to_contain_text("used already")
        other.close()
    finally:
        context.close()


def no_sideways_scroll(tab) -> bool:
    return tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def check_injury_signs(tab, base_url: str) -> None:
    """The start page asks exactly the device's injury signs (/api/screen), in its words, each
    beside a tick box of one fixed, big size however its label wraps."""
    want = tab.request.get(base_url + "/api/screen").json()["signs"]
    boxes = tab.locator("#signs input[type=checkbox]")
    expect(boxes).to_have_count(len(want))
    shown = tab.evaluate("""() => [...document.querySelectorAll('#signs label.check')].map(l => {
        const box = l.querySelector('input').getBoundingClientRect();
        return {name: l.querySelector('input').value, text: l.textContent.trim(),
                w: box.width, h: box.height, lines: Math.round(l.querySelector('span').offsetHeight /
                  parseFloat(getComputedStyle(l.querySelector('span')).lineHeight))};
      })""")
    assert [s["name"] for s in shown] == [s["name"] for s in want]
    assert [s["text"].casefold() for s in shown] == [s["text"].casefold() for s in want]
    sizes = {(round(s["w"]), round(s["h"])) for s in shown}
    assert len(sizes) == 1, shown  # a wrapped label does not squeeze its box
    (width, height), = sizes
    assert width >= 30 and height >= 30, shown
    if tab.viewport_size["width"] < 600:
        assert max(s["lines"] for s in shown) >= 2, shown  # on a phone a label does wrap: the case that matters


def test_tablet_landscape_fits_the_reading_timer_and_buttons_on_one_screen(page, shoot):
    expect(page.locator("#force")).to_have_text(re.compile(r"N on the platform"))
    height = page.viewport_size["height"]
    for selector in ("#reading", "#step-name", "#map", "#chart canvas", "#btn-start"):
        box = page.locator(selector).bounding_box()
        assert box is not None and box["y"] + box["height"] <= height, f"{selector} below the fold: {box}"
    reading_px = page.locator("#reading").evaluate("el => parseFloat(getComputedStyle(el).fontSize)")
    assert reading_px >= 150, reading_px  # about 2.5 cm high on a 10-inch tablet: readable from 2 m
    assert no_sideways_scroll(page)
    shoot(page, "live-tablet-landscape")


def test_tablet_portrait_and_phone_layouts(browser, product, paired_state, shoot):
    for name, viewport in (("tablet-portrait", {"width": 800, "height": 1280}), ("phone", PHONE)):
        context, tab = open_tab(browser, viewport, storage_state=paired_state)
        try:
            tab.goto(product.base_url + "/")
            expect(tab.locator("#force")).to_have_text(re.compile(r"N on the platform"))
            assert no_sideways_scroll(tab), name
            reading = tab.locator("#reading").bounding_box()
            start = tab.locator("#btn-start").bounding_box()
            assert reading["y"] + reading["height"] <= viewport["height"], name
            assert start["height"] >= 56 and start["width"] >= 150, (name, start)  # a big tap target
            shoot(tab, f"live-{name}")
            for path in ("/start", "/history"):
                tab.goto(product.base_url + path)
                expect(tab.locator(".disclaimer")).to_be_visible()
                assert no_sideways_scroll(tab), (name, path)
                if path == "/start":
                    check_injury_signs(tab, product.base_url)
                    spilled = tab.evaluate("() => [...document.querySelectorAll('#pain .scale-btn')]"
                                           ".filter(b => b.scrollWidth > b.clientWidth).map(b => b.textContent)")
                    assert spilled == [], (name, "pain buttons whose number does not fit", spilled)
                shoot(tab, f"{path.strip('/')}-{name}", full_page=True)
            assert tab.errors == []
        finally:
            context.close()


def test_start_page_redirects_the_it_band_and_stops_on_an_injury_sign(page, product, shoot):
    page.goto(product.base_url + "/start")
    page.fill("#new-person", "Dee")
    page.click('[data-region="it-band"]')
    expect(page.locator("#it-band")).to_be_visible()
    expect(page.locator("#it-band-text")).to_contain_text("glutes")
    # the muscles to roll instead, by their everyday names (the keys stay in the data)
    expect(page.locator("#it-band-targets button")).to_have_text(["Glutes", "TFL (front of the hip)"])
    expect(page.locator('[data-region="adductors"]')).to_have_text("Adductors (inner thigh)")
    expect(page.locator('[data-region="upper-back"]')).to_have_text("Upper back")
    expect(page.locator("#tool-section")).to_be_hidden()
    page.click('#pain [data-pain="6"]')
    expect(page.locator("#btn-begin")).to_be_disabled()
    expect(page.locator("#missing")).to_contain_text("other than the IT band")
    shoot(page, "start-it-band", full_page=True)

    page.click('#it-band-targets [data-redirect="glutes"]')
    expect(page.locator('#regions [data-region="glutes"]')).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#it-band")).to_be_hidden()
    expect(page.locator('#tools [aria-pressed="true"]')).to_have_text("Lacrosse ball (suggested)")
    expect(page.locator("#btn-begin")).to_be_enabled()

    page.check('#signs input[value="swelling"]')
    expect(page.locator("#signs-note")).to_be_visible()
    page.click("#btn-begin")
    decision = page.locator("#decision")
    expect(decision).to_contain_text("No session today")
    expect(decision).to_contain_text("swelling")  # the device's own reason
    expect(page).to_have_url(product.base_url + "/start")
    shoot(page, "start-injury-stop", full_page=True)
    page.goto(product.base_url + "/")
    expect(page.locator("#step-name")).to_have_text("No session")


def test_device_lost_mid_session_says_so_and_what_the_restart_ended(page, product, shoot):
    """Last in this module: the device process is killed during a session and the product
    starts a new one, which knows nothing of that session."""
    start_session(page, product.base_url, "Eve", "calf", 5)
    banner = page.locator("#link-banner")
    expect(banner).to_be_hidden()
    os.kill(product.device_pid(), signal.SIGKILL)
    restarted = ("The coach restarted: the session that was running ended (it is kept in History as interrupted). "
                 "Tap Start for a new one.")
    # While it is away the banner claims nothing goes on; the supervisor may bring the
    # device back before a poll sees that, so either text may come first.
    expect(banner).to_have_text(re.compile(r"^(The coach is not answering — reconnecting…|"
                                           + re.escape(restarted) + ")$"))
    shoot(page, "live-device-disconnected")
    expect(banner).to_have_text(restarted, timeout=60_000)  # the new device process is there
    expect(page.locator("#force")).to_have_text(re.compile(r"^\d+ N on the platform$"))
    expect(page.locator("#step-name")).to_have_text("No session")
    expect(page.locator("body")).not_to_have_class(re.compile(r"device-lost"))  # live data again, not faded
    shoot(page, "live-device-restarted")
    # what the banner says of History is so: the session was kept, as crashed (History's "interrupted")
    sessions = page.request.get(product.base_url + "/api/sessions?person=eve").json()
    assert [s["outcome"] for s in sessions] == ["crashed"], sessions
    # the notice stays on this page while nothing new runs; a reload starts with a clean slate
    page.reload()
    expect(page.locator("#force")).to_have_text(re.compile(r"^\d+ N on the platform$"))
    expect(banner).to_be_hidden()
