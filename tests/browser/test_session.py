"""A whole simulated session clicked through on the tablet, and the history after two sessions."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import PHONE, open_tab
from tests.browser.flows import (
    choose_on_start_page,
    let_simulated_time_pass,
    mark_knot_and_go_around,
    mark_on_the_knot,
    reach_live_page,
    start_session,
    stop_if_running,
    take_control_of_simulator,
    wait_for_text,
)

# What the timer said during the reset, every time it changed (collected in the page).
WATCH_TIMER = """() => {
  window.seenTimer = [];
  const box = document.getElementById("countdown");
  const note = () => {
    const text = box.querySelector("#countdown-label").textContent + " | " + box.querySelector("#countdown-note").textContent;
    if (window.seenTimer[window.seenTimer.length - 1] !== text) window.seenTimer.push(text);
  };
  new MutationObserver(note).observe(box, { subtree: true, childList: true, characterData: true });
}"""


def test_whole_session_from_start_page_to_summary(page, product, shoot):
    start_session(page, product.base_url, "Ana", "calf", 7)
    expect(page.locator("#scale-note")).to_have_text("default scale: calibrate yours under My scale")
    expect(page.locator("#btn-mark")).to_be_visible()
    expect(page.locator("#btn-next")).to_be_disabled()
    shoot(page, "live-find")

    mark_knot_and_go_around(page)
    expect(page.locator("#countdown-note")).to_contain_text("Next opens in")
    expect(page.locator("#map circle.map-knot")).to_be_visible()
    expect(page.locator("#map circle.map-zone")).to_be_visible()
    shoot(page, "live-around")

    # Next opens after the minimum time rolling around (30 simulated seconds here)
    expect(page.locator("#btn-next")).to_be_enabled(timeout=30_000)
    expect(page.locator("#btn-next")).to_have_text("Next: contract–relax")
    expect(page.locator("#fact-band")).not_to_have_text("0 s")  # time in the band was counted
    # paused with Next open: nothing invites a tap on Next until Resume
    page.click("#btn-pause")
    expect(page.locator("#btn-next")).to_have_text("Paused")
    expect(page.locator("#btn-next")).to_be_disabled()
    expect(page.locator("#countdown-note")).to_have_text("Paused: tap Resume to go on")
    shoot(page, "live-around-paused")
    page.click("#btn-pause")
    expect(page.locator("#btn-next")).to_have_text("Next: contract–relax")
    expect(page.locator("#btn-next")).to_be_enabled()
    expect(page.locator("#countdown-note")).to_have_text("You may go on: tap Next")
    page.evaluate(WATCH_TIMER)
    page.click("#btn-next")
    expect(page.locator("#step-name")).to_contain_text("Contract–relax")

    # pause during a contraction: the countdown holds still until Resume
    wait_for_text(page, "#countdown-label", "Contract")
    page.click("#btn-pause")
    expect(page.locator("#step-name")).to_contain_text("Paused")
    expect(page.locator("#btn-pause")).to_have_text("Resume")
    held = page.locator("#countdown-value").text_content()
    shoot(page, "live-contract-paused")
    # let more simulated time pass than the whole contraction lasts (frames keep coming)
    let_simulated_time_pass(page, 6.0)
    assert page.locator("#countdown-value").text_content() == held
    page.click("#btn-pause")
    expect(page.locator("#btn-pause")).to_have_text("Pause")

    wait_for_text(page, "#countdown-label", "Relax")
    shoot(page, "live-relax")

    expect(page.locator("#rerate")).to_be_visible(timeout=30_000)
    seen = page.evaluate("window.seenTimer")
    for expected in ("Get in place | then contract", "Contract | cycle 1 of 2", "Relax | cycle 1 of 2",
                     "Contract | cycle 2 of 2", "Relax | cycle 2 of 2"):
        assert expected in seen, (expected, seen)
    expect(page.locator("#rerate-before")).to_have_text("7/10")
    shoot(page, "live-rerate")

    page.click('#rerate [data-pain-after="3"]')
    expect(page.locator("#summary")).to_be_visible()
    expect(page.locator("#summary-title")).to_have_text("Session finished")
    expect(page.locator("#sum-pain")).to_have_text("7 → 3")
    expect(page.locator("#sum-cycles")).to_have_text(re.compile(r"^2\b"))
    expect(page.locator("#btn-new")).to_be_visible()
    # the coach's cues reached the page and were played (sound is on by default)
    played = page.evaluate("Object.keys(KC.sound.lastPlayed)")
    for cue in ("contract", "relax", "step_done", "session_done"):
        assert cue in played, (cue, played)
    shoot(page, "live-summary")


def test_history_after_two_sessions(page, product, shoot):
    # first session: marked on the knot, then stopped while rolling around it
    stop_if_running(page)
    start_session(page, product.base_url, "Ben", "quads", 6)
    mark_on_the_knot(page)
    page.click("#btn-next")
    expect(page.locator("#step-name")).to_contain_text("Roll around")
    page.click("#btn-stop")
    expect(page.locator("#summary-title")).to_have_text("Session stopped early")

    # second session on the same knot the same day: the once-a-day advice, then "start anyway"
    choose_on_start_page(page, product.base_url, "Ben", "quads", 5)
    page.click("#btn-begin")
    expect(page.locator("#advice")).to_be_visible()
    expect(page.locator("#advice-list")).to_contain_text("Once a day is enough")
    expect(page.locator("#advice-list [data-kind='second_today']")).to_have_count(1)
    expect(page.locator("#btn-begin")).to_be_hidden()  # going on is a deliberate second choice
    shoot(page, "start-once-a-day", full_page=True)
    page.click("#btn-anyway")
    reach_live_page(page, product.base_url)
    expect(page.locator("#step-name")).to_contain_text("Find the knot")
    take_control_of_simulator(page)
    mark_on_the_knot(page)
    page.click("#btn-next")
    expect(page.locator("#btn-next")).to_be_enabled(timeout=30_000)
    page.click("#btn-next")
    expect(page.locator("#rerate")).to_be_visible(timeout=30_000)
    page.click('#rerate [data-pain-after="2"]')
    expect(page.locator("#sum-pain")).to_have_text("5 → 2")

    page.goto(product.base_url + "/history?person=ben")
    rows = page.locator("#sessions tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("5 → 2")   # newest first
    expect(rows.nth(1)).to_contain_text("6 → –")
    expect(rows.nth(1)).to_contain_text("stopped early")
    cards = page.locator(".knot-card")
    expect(cards).to_have_count(1)  # both sessions on one knot
    card = cards.first
    expect(card.locator(".knot-name")).to_contain_text("Quads")
    expect(card.locator(".knot-meta")).to_contain_text("2 sessions")
    expect(card.locator(".knot-today")).to_contain_text("Worked 2 times today")
    expect(card.locator(".knot-today")).to_contain_text("Once a day is enough")
    for chart in (".chart-pain", ".chart-band"):
        expect(card.locator(f"{chart} canvas")).to_have_count(1)
    # the day's point: tender 6 before the first session, 2 after the last
    expect(card.locator(".chart-pain")).to_have_attribute("aria-label", re.compile(r"6 to 2$"))
    expect(page.locator("#export-csv")).to_have_attribute("href", "/api/sessions.csv")
    expect(page.locator("#export-json")).to_have_attribute("href", "/api/sessions.json")
    csv = page.request.get(product.base_url + "/api/sessions.csv")
    assert csv.ok and csv.text().count("\n") >= 3  # a header and Ben's two sessions (and Ana's)
    shoot(page, "history", full_page=True)


def test_history_on_a_phone(browser, product, paired_state, shoot):
    """After the sessions above (or none, run alone): the history page fits a phone."""
    context, tab = open_tab(browser, PHONE, storage_state=paired_state)
    try:
        tab.goto(product.base_url + "/history")
        expect(tab.locator("h1")).to_have_text("How your knots are doing")
        expect(tab.locator("#history-error")).to_be_empty()
        assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        shoot(tab, "history-phone-with-sessions", full_page=True)
        assert tab.errors == []
    finally:
        context.close()
