"""The calibration wizards in Chromium against ``knotcoach run --source sim --speed 10``.

The personal scale end to end: the simulated person is steered to hold known forces during the
rise and the big target is tapped at each, so the stored 4/10-5/10 band can be checked against
the forces tapped. Then the platform wizard clicked through to a saved calibration the device
uses. Screenshots of each page go to tests/browser/screenshots/.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from calibration.intensity import IntensityScale, Mark
from calibration.platform_store import load_all
from calibration.profiles import ProfileStore

#: (force held in N, the rating its tap marks).
TAPS = ((110.0, 2.0), (190.0, 5.0), (260.0, 7.0))


def steer(page, command: str, **kwargs) -> None:
    """A simulator command through the page's own API helper (CSRF header and all)."""
    page.evaluate("([c, k]) => KC.api('POST', '/api/command/steer', {command: c, kwargs: k})", [command, kwargs])


def hold(page, force_n: float) -> None:
    """The simulated person presses steadily with ``force_n``; wait until the page shows it."""
    steer(page, "set_force", force_n=force_n, ramp_s=0.5, steady=True)
    page.wait_for_function(
        """(want) => { const t = document.getElementById('force-n').textContent;
                       const f = parseFloat(t); window.__held = (Math.abs(f - want) <= 0.02 * want)
                         ? (window.__held || 0) + 1 : 0; return window.__held >= 4; }""",
        arg=force_n, polling=150)


def device_running(page) -> None:
    """Frames arrive on the live page: the device process is up (it starts with the product)."""
    expect(page.locator("#force")).to_have_text(re.compile(r"N on the platform"))


def test_the_personal_scale_wizard_end_to_end(page, product, shoot):
    device_running(page)
    page.goto(product.base_url + "/calibrate/person")
    expect(page.get_by_role("heading", name="Your own 0–10 scale")).to_be_visible()
    expect(page.locator("#sim-note")).to_be_visible()
    # regions by their everyday names; the key is what goes to the API
    for key, name in (("adductors", "Adductors (inner thigh)"), ("tfl", "TFL (front of the hip)"),
                      ("upper-back", "Upper back"), ("calf", "Calf")):
        expect(page.locator(f'[data-region="{key}"]')).to_have_text(name)
    shoot(page, "calibrate-person-setup")
    page.click("#begin")
    expect(page.locator("#setup-error")).to_have_text("Type the name of who is calibrating.")
    page.fill("#person", "Dana")
    page.click('[data-region="calf"]')
    page.click("summary:has-text('quicker pacer')")
    page.fill("#ramp-s", "120")   # 12 s at --speed 10: time to hold three forces
    page.click("#begin")
    expect(page.locator("#press")).to_be_visible()
    expect(page.locator("#tap")).to_contain_text("Tap when it feels 2/10")
    expect(page.locator("#phase-text")).to_have_text("Press slowly harder, keeping up with the pacer.")
    for i, (force_n, rating) in enumerate(TAPS):
        hold(page, force_n)
        page.click("#tap")
        expect(page.locator("#marks li")).to_have_count(i + 1)
        marked = page.locator("#marks li").nth(i).text_content()
        found = re.fullmatch(r"(\d+(?:\.\d+)?)/10 at (\d+) N", marked)
        assert found and float(found.group(1)) == rating, marked
        assert abs(float(found.group(2)) - force_n) <= 0.03 * force_n, marked
        if i == 1:
            shoot(page, "calibrate-person-press")
    # the last mark ends the press; the page fits and shows the scale by itself (hands-free)
    expect(page.locator("#result")).to_be_visible()
    expect(page.locator("#curve canvas")).to_have_count(1)
    band_text = page.locator("#band-text").text_content()
    shown = re.search(r"(\d+)–(\d+) N", band_text)
    assert shown, band_text
    assert band_text.startswith("Your 4–5/10 band for Calf: "), band_text
    expect(page.locator("#result-note")).to_contain_text("Saved")
    shoot(page, "calibrate-person-result", full_page=True)

    profile = ProfileStore(product.data_dir).load("dana", "calf")
    assert profile is not None and len(profile.current.marks) == 3
    lo_n, hi_n = profile.band_n()
    want_lo, want_hi = IntensityScale([Mark(f, r) for f, r in TAPS]).band_n()
    assert lo_n == pytest.approx(want_lo, rel=0.05) and hi_n == pytest.approx(want_hi, rel=0.05)
    assert (int(shown.group(1)), int(shown.group(2))) == (round(lo_n), round(hi_n))
    for mark, (force_n, rating) in zip(profile.current.marks, TAPS):
        assert mark.rating == rating and mark.force_n == pytest.approx(force_n, rel=0.03)


def test_the_platform_wizard_clicked_through_to_a_saved_calibration(page, product, shoot):
    device_running(page)
    page.goto(product.base_url + "/calibrate/platform")
    expect(page.locator("#geometry-now")).to_contain_text("4 cell(s)")
    page.fill("#mass", "5")
    page.click("#begin")
    expect(page.locator("#setup-error")).to_contain_text("needs a unit")
    shoot(page, "calibrate-platform-setup")
    page.fill("#mass", "5kg")
    page.click("#begin")
    expect(page.locator("#step-list li")).to_have_count(7)
    for i in range(7):
        expect(page.locator("#step-count")).to_have_text(f"Step {i + 1} of 7")
        page.click("#measure")
        if i == 2:
            expect(page.locator("#progress-text")).to_contain_text("s left")
            expect(page.locator("#diagram .dia-target")).to_have_count(1)
            shoot(page, "calibrate-platform-sampling")
        expect(page.locator("#step-list li").nth(i)).to_have_attribute("data-state", "done")
        expect(page.locator("#refusal")).to_be_hidden()
    expect(page.locator("#cop-text")).to_contain_text("Centre of pressure within")
    expect(page.locator("#cells tr")).to_have_count(4)
    expect(page.locator("#save")).to_be_enabled()
    shoot(page, "calibrate-platform-result", full_page=True)
    page.click("#save")
    expect(page.locator("#result-note")).to_have_text("Saved. The coach uses it from now on.")
    current, _ = load_all(product.data_dir)
    assert current is not None and current.report["cop_error_mm"] < 5.0 and current.report["source"] == "simulated"
