"""Warnings on the tablet: the simulated person presses too hard, or stays on the knot."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.flows import (
    let_simulated_time_pass,
    seen_values,
    start_session,
    steer,
    take_control_of_simulator,
    watch_attribute,
)


def in_session(page, product) -> None:
    """A session finding or rolling around a knot: the one running, or a new one."""
    step = page.locator("#step-name").text_content()
    if "Find the knot" in step or "Roll around" in step:
        take_control_of_simulator(page)
    else:
        start_session(page, product.base_url, "Cara", "hamstrings", 6)


def settle(page) -> None:
    """Back at the top of the page, the one-off flash over (the strip and the border stay)."""
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_function("!document.getAnimations().some(a => a.animationName === 'flash')")


def test_pressing_too_hard_flashes_the_screen_and_says_ease_off(page, product, shoot):
    in_session(page, product)
    expect(page.locator("#warning")).to_be_hidden()
    watch_attribute(page, "#flash", "data-warning")
    steer(page, "press_harder")
    warning = page.locator("#warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("Too hard: ease off")
    expect(warning).to_have_attribute("data-warning", "over_band")  # the most urgent one leads
    expect(page.locator("body")).to_have_class("page-live alarm")
    assert "over_band" in seen_values(page, "#flash", "data-warning")  # the whole screen flashed for it
    expect(page.locator("#band-state")).to_have_text("Too hard")
    shoot(page, "warning-too-hard-flash")
    settle(page)
    shoot(page, "warning-too-hard")
    steer(page, "ease_off")
    expect(warning).to_be_hidden()
    expect(page.locator("body")).not_to_have_class("page-live alarm")


def test_staying_on_the_knot_warns_move_off(page, product, shoot):
    in_session(page, product)
    watch_attribute(page, "#flash", "data-warning")
    if "Find the knot" in page.locator("#step-name").text_content():
        steer(page, "move_onto_knot")  # rest on the tender spot, mark it there, then go around
        let_simulated_time_pass(page, 2.0)  # arrived and settled (the move takes under a second)
        page.locator("#btn-mark").click()
        expect(page.locator("#btn-next")).to_be_enabled()
        page.click("#btn-next")
        expect(page.locator("#step-name")).to_contain_text("Roll around")
    else:
        steer(page, "move_onto_knot")
    warning = page.locator("#warning")
    expect(warning).to_contain_text("On the knot: move off it")
    expect(warning).to_have_attribute("data-warning", "on_knot")
    assert "on_knot" in seen_values(page, "#flash", "data-warning")
    expect(page.locator("#map circle.map-zone")).to_have_class("map-zone inside")
    shoot(page, "warning-on-knot-flash")
    settle(page)
    shoot(page, "warning-on-knot")
    steer(page, "move_off_knot")
    expect(warning).to_be_hidden()
    expect(page.locator("#map circle.map-zone")).to_have_class("map-zone")
