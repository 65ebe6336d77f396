"""The tablet's pages: each renders for a paired tablet, points only at this server, and
shows the pairing instructions (not the page) to a browser that is not paired."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from server.web import pages

PAGES = ("/", "/start", "/history")


class Links(HTMLParser):
    """Every src/href/action in a page, and the CSRF meta tag."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.csrf: str | None = None

    def handle_starttag(self, tag, attrs) -> None:
        attrs = dict(attrs)
        for name in ("src", "href", "action", "poster", "data"):
            if attrs.get(name):
                self.urls.append(attrs[name])
        if tag == "meta" and attrs.get("name") == "csrf-token":
            self.csrf = attrs.get("content")


def parse(html: str) -> Links:
    links = Links()
    links.feed(html)
    return links


@pytest.mark.parametrize("path", PAGES)
def test_page_renders_for_a_paired_tablet(paired_client, path):
    r = paired_client.get(path)
    assert r.status_code == 200
    assert r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assert "not medical advice" in html  # the disclaimer is on every page
    links = parse(html)
    assert links.csrf and links.csrf == paired_client.environ_base["HTTP_X_CSRF_TOKEN"]
    for nav in ("/", "/start", "/history", "/calibrate/person", "/calibrate/platform"):
        assert nav in links.urls


@pytest.mark.parametrize("path", PAGES)
def test_page_uses_only_this_server(paired_client, path):
    html = paired_client.get(path).get_data(as_text=True)
    urls = parse(html).urls
    assert urls, "a page with no links at all would pass trivially"
    for url in urls:
        # relative to this server: no scheme, no other host, no protocol-relative //host
        assert not re.match(r"^[a-z][a-z0-9+.-]*:", url, re.IGNORECASE) and not url.startswith("//"), url
    assert not re.search(r"https?://", html), "an absolute URL in the page's text"


@pytest.mark.parametrize("path", PAGES)
def test_every_asset_a_page_loads_is_served(paired_client, path):
    html = paired_client.get(path).get_data(as_text=True)
    assets = [u for u in parse(html).urls if u.startswith("/static/")]
    assert any(u.endswith("common.js") for u in assets) and any(u.endswith("app.css") for u in assets)
    for url in assets:
        r = paired_client.get(url)
        assert r.status_code == 200, url
        assert r.data
        r.close()


def test_static_scripts_and_styles_reach_no_other_host(web_app):
    folder = web_app.static_folder
    import pathlib
    texts = {p.name: p.read_text(encoding="utf-8") for p in pathlib.Path(folder).glob("*.*")
             if p.suffix in (".js", ".css")}
    assert {"common.js", "live.js", "start.js", "history.js", "app.css"} <= set(texts)
    for name, text in texts.items():
        for url in re.findall(r"""(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s"'`)]*""", text):
            assert url.startswith("http://www.w3.org/2000/svg"), f"{name}: {url}"  # a namespace, not a fetch


@pytest.mark.parametrize("path", PAGES)
def test_unpaired_browser_gets_the_pairing_instructions(web_client, path):
    r = web_client.get(path)
    assert r.status_code == 401
    html = r.get_data(as_text=True)
    assert "pair" in html.lower()
    assert "live.js" not in html and "start.js" not in html


def test_live_page_has_every_control(paired_client):
    html = paired_client.get("/").get_data(as_text=True)
    for element in ('id="reading"', 'id="gauge"', 'id="map"', 'id="chart"', 'id="countdown"', 'id="warning"',
                    'id="flash"', 'id="rerate"', 'id="summary"', 'id="sim"',
                    'data-command="mark_knot"', 'data-command="next"', 'data-command="pause"',
                    'data-command="stop"'):
        assert element in html, element
    assert html.count("data-pain-after=") == 11  # 0..10
    for steer in ("press_harder", "ease_off", "lift_off", "move_onto_knot", "move_off_knot", "autopilot"):
        assert f'data-steer="{steer}"' in html


def test_start_page_offers_every_region_and_the_it_band(paired_client):
    html = paired_client.get("/start").get_data(as_text=True)
    from calibration.profiles import REGIONS
    for region in REGIONS:
        assert f'data-region="{region}"' in html
    assert 'data-region="it-band"' in html
    assert html.count("data-pain=") == 11


def test_region_labels_cover_every_known_region():
    from calibration.profiles import REGIONS
    keys = [key for key, _ in pages.regions()]
    assert keys == [*REGIONS, "it-band"]
    assert all(label and label[0].isupper() for _, label in pages.regions())


def test_favicon_is_served(paired_client):
    r = paired_client.get("/favicon.ico")
    assert r.status_code == 200 and b"<svg" in r.data
    r.close()


def test_live_page_draws_the_band_and_zone_the_coach_is_set_to(web_app, paired_client):
    (web_app.config["DATA_DIR"] / "coach.json").write_text('{"band_lo": 3, "band_hi": 4.5, "zone_mm": 60}')
    html = paired_client.get("/").get_data(as_text=True)
    assert 'data-band-lo="3"' in html and 'data-band-hi="4.5"' in html and 'data-zone-mm="60"' in html
    assert 'id="gauge-band" class="gauge-band" x="300" ' in html and 'width="150.0"' in html
    assert "3–4.5 band" in html


@pytest.mark.parametrize("text", ["{not json", '{"zone_mm": 5000}', '["a list"]', '{"nonsense": 1}'])
def test_a_broken_coach_file_leaves_the_protocol_defaults(web_app, paired_client, text):
    (web_app.config["DATA_DIR"] / "coach.json").write_text(text)
    r = paired_client.get("/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert 'data-band-lo="4.0"' in html and 'data-band-hi="5.0"' in html and 'data-zone-mm="50.8"' in html


class Regions(HTMLParser):
    """The region mapping base.html puts in every page, and each region button's key and text."""

    def __init__(self) -> None:
        super().__init__()
        self.mapping_text = ""
        self.buttons: dict[str, str] = {}
        self._in: str | None = None

    def handle_starttag(self, tag, attrs) -> None:
        attrs = dict(attrs)
        if tag == "script" and attrs.get("id") == "kc-regions":
            self._in = "mapping"
        elif tag == "button" and attrs.get("data-region"):
            self._in = attrs["data-region"]
            self.buttons[self._in] = ""

    def handle_endtag(self, tag) -> None:
        self._in = None

    def handle_data(self, data) -> None:
        if self._in == "mapping":
            self.mapping_text += data
        elif self._in:
            self.buttons[self._in] += data


def regions_of(html: str) -> Regions:
    found = Regions()
    found.feed(html)
    return found


@pytest.mark.parametrize("path", [*PAGES, "/calibrate/person", "/calibrate/platform"])
def test_every_page_carries_the_one_region_mapping(paired_client, path):
    import json
    found = regions_of(paired_client.get(path).get_data(as_text=True))
    assert json.loads(found.mapping_text) == dict(pages.regions())


@pytest.mark.parametrize("path", ["/start", "/calibrate/person"])
def test_region_buttons_show_everyday_names_and_keep_the_keys(paired_client, path):
    from calibration.profiles import REGIONS
    buttons = regions_of(paired_client.get(path).get_data(as_text=True)).buttons
    assert set(REGIONS) <= set(buttons)  # the keys the API takes
    shown = {key: " ".join(text.split()) for key, text in buttons.items()}
    assert shown["adductors"] == "Adductors (inner thigh)"
    assert shown["tfl"] == "TFL (front of the hip)"
    assert shown["upper-back"] == "Upper back"
    assert shown["glutes"] == "Glutes"
    for key, text in shown.items():
        assert text == pages.region_label(key) and text != key, (key, text)


def test_region_label_of_a_key_it_does_not_list_still_reads_as_words():
    assert pages.region_label("lower-back") == "Lower back"
    assert pages.region_label("tfl") == "TFL (front of the hip)"


def test_platform_page_states_the_masses_the_api_accepts(paired_client):
    from calibration.platform_geometry import MAX_MASS_KG, MIN_MASS_KG
    html = paired_client.get("/calibrate/platform").get_data(as_text=True)
    assert f'<span id="mass-min">{MIN_MASS_KG:g}</span> kg' in html
    assert f'<span id="mass-max">{MAX_MASS_KG:g}</span> kg' in html
    assert "known weight, 2–20 kg." not in html  # not the old, narrower limit
