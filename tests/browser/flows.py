"""Steps the browser tests share: what a person taps, on the pages as they are."""

from __future__ import annotations

from playwright.sync_api import Page, expect

NOBODY = "Nobody on the roller"


def choose_on_start_page(page: Page, base_url: str, person: str, region: str, pain: int,
                         signs: tuple[str, ...] = ()) -> None:
    """Fill in the start page (a new name is typed; a known one is tapped)."""
    page.goto(base_url + "/start")
    known = page.locator(f'#people button[data-person="{person.casefold()}"]')
    expect(page.locator("#people")).not_to_be_empty()
    if known.count():
        known.click()
    else:
        page.fill("#new-person", person)
    page.click(f'[data-region="{region}"]')
    expect(page.locator("#tools button").first).to_be_visible()
    for sign in signs:
        page.check(f'#signs input[value="{sign}"]')
    page.click(f'#pain [data-pain="{pain}"]')


def start_session(page: Page, base_url: str, person: str, region: str, pain: int) -> None:
    """From the start page to the live page's first step, with the simulated person lying still-ish."""
    choose_on_start_page(page, base_url, person, region, pain)
    page.click("#btn-begin")
    reach_live_page(page, base_url)
    expect(page.locator("#step-name")).to_contain_text("Find the knot")
    take_control_of_simulator(page)


def reach_live_page(page: Page, base_url: str) -> None:
    """After a Start tap: the live page, or a failure quoting what the start page said instead."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    try:
        page.wait_for_url(base_url + "/")
    except PlaywrightTimeout:
        said = " / ".join(t for t in (page.locator("#form-error").text_content(),
                                      page.locator("#decision").text_content(),
                                      page.locator("#advice-list").text_content()) if t and t.strip())
        raise AssertionError(f"the session did not start; the start page says: {said!r}") from None


def take_control_of_simulator(page: Page) -> None:
    """Autopilot off (no surprise episodes) and the person on the roller."""
    expect(page.locator("#sim")).to_be_visible()
    page.click('#sim [data-steer="autopilot"][data-on="false"]')
    page.click('#sim [data-steer="lie_down"]')
    page.click('#sim [data-steer="ease_off"]')
    expect(page.locator("#band-state")).not_to_have_text(NOBODY)


def mark_knot_and_go_around(page: Page) -> None:
    page.click("#btn-mark")
    expect(page.locator("#countdown-label")).to_have_text("Knot marked")
    expect(page.locator("#btn-next")).to_be_enabled()
    page.click("#btn-next")
    expect(page.locator("#step-name")).to_contain_text("Roll around")


def mark_on_the_knot(page: Page) -> None:
    """Rest on the simulated knot, mark it there, roll off again: the same mark every session."""
    steer(page, "move_onto_knot")
    let_simulated_time_pass(page, 2.0)  # arrived and settled (the move takes under a second)
    page.click("#btn-mark")
    expect(page.locator("#countdown-label")).to_have_text("Knot marked")
    steer(page, "move_off_knot")


def steer(page: Page, command: str) -> None:
    page.click(f'#sim [data-steer="{command}"]')


def wait_for_text(page: Page, selector: str, text: str) -> None:
    """Wait, checking every animation frame, until an element shows exactly ``text``
    (for phases that last well under a second at --speed 10)."""
    page.wait_for_function("([sel, want]) => { const el = document.querySelector(sel);"
                           " return !!el && el.textContent.trim() === want; }",
                           arg=[selector, text], polling="raf")


def stop_if_running(page: Page) -> None:
    """End a session left running by an earlier step, so the next one can start."""
    stop = page.locator("#btn-stop")
    if stop.is_visible():
        stop.click()
        expect(page.locator("#summary")).to_be_visible()


def let_simulated_time_pass(page: Page, seconds: float) -> None:
    """Wait until the device's clock (the latest frame's t_s) has moved on by ``seconds``."""
    t0 = float(page.locator("body").get_attribute("data-t"))
    page.wait_for_function("([t0, s]) => Number(document.body.dataset.t) >= t0 + s", arg=[t0, seconds])


def watch_attribute(page: Page, selector: str, attribute: str) -> None:
    """Record in the page every value ``attribute`` of ``selector`` takes from now on."""
    page.evaluate("""([sel, attr]) => {
      const el = document.querySelector(sel);
      window.seenValues = window.seenValues || {};
      const seen = window.seenValues[sel + "@" + attr] = [];
      new MutationObserver(() => seen.push(el.getAttribute(attr))).observe(el, { attributes: true, attributeFilter: [attr] });
    }""", [selector, attribute])


def seen_values(page: Page, selector: str, attribute: str) -> list:
    return page.evaluate("key => (window.seenValues || {})[key] || []", f"{selector}@{attribute}")
