"""Fuzzing the JSON API: random methods, paths, queries, bodies and headers never reach a 500.

Every /api route of the app (its own url_map, so the calibration helper's
routes are in too) with random path arguments, plus random paths under /api,
from a paired and an unpaired browser, against a fake device whose replies
are random too (one of them: the device is gone). Every answer below 500, or
503 when the device cannot be reached (README: never a 500); every error and
every JSON answer a JSON body, errors as {"error": "one line"}.
"""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from server.device_link import DeviceUnavailable
from server.store import open_store, sessions_path
from server.web import create_app
from tests.conftest import NOW, FakeDevice, frame, pair

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
NAMES = ("start", "mark_knot", "next", "pause", "resume", "stop", "rate", "steer", "state", "explode")
FIELDS = ("person", "region", "tool", "pain_before", "pain_after", "signs", "anyway", "command", "kwargs",
          "tenderness", "bruising", "mass", "mass_kg", "preset", "fresh", "body_kg", "ratings", "ramp_s",
          "sim_follows", "rating", "step", "name", "timeout_s")
WORDS = ("ana", "Ben", "calf", "quads", "it band", "glutes", "roller", "ball", "lacrosse_ball", "5kg", "corners:540:340",
         "press_harder", "lift_off", "swelling", "2026-11-20", "-1", "", "é", "../..", "\x00", "a" * 100)

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(WORDS), st.text(max_size=20))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.sampled_from(WORDS), inner, max_size=4)),
                      max_leaves=12)
objects = st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=10)), values, max_size=6)
path_text = st.one_of(st.sampled_from(WORDS + NAMES + ("1", "0", str(2**70), "0" * 32)),
                      st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/?#%"),
                              min_size=1, max_size=24))


def _routes(app) -> list[tuple[str, tuple[str, ...]]]:
    return sorted((r.rule, tuple(sorted(r.methods))) for r in app.url_map.iter_rules() if r.rule.startswith("/api"))


def _fill(rule: str, draw) -> str:
    def one(m: re.Match) -> str:
        converter = m.group(1) or ""
        if converter.startswith("int"):
            return str(draw(st.one_of(st.integers(0, 5), st.integers(0, 2**80))))
        return draw(path_text)
    return re.sub(r"<(?:(\w+):)?\w+>", one, rule)


@st.composite
def requests(draw, routes):
    rule, methods = draw(st.sampled_from(routes))
    path = "/api/" + draw(path_text) if draw(st.integers(0, 9)) == 0 else _fill(rule, draw)
    kw = {"method": draw(st.sampled_from(methods if draw(st.integers(0, 3)) else METHODS)),
          "query_string": draw(st.dictionaries(st.sampled_from(("person", "region", "since", "x", "fmt")),
                                               st.one_of(st.sampled_from(WORDS), st.text(max_size=12)), max_size=3))}
    kind = draw(st.sampled_from(("none", "json", "object", "raw")))
    if kind == "json":
        kw["data"], kw["content_type"] = json.dumps(draw(values)), "application/json"
    elif kind == "object":
        kw["data"] = json.dumps(draw(objects))
        kw["content_type"] = draw(st.sampled_from(("application/json", "application/json; charset=utf-8",
                                                   "text/plain", "application/x-www-form-urlencoded")))
    elif kind == "raw":
        kw["data"] = draw(st.binary(max_size=64))
        kw["content_type"] = draw(st.sampled_from(("application/json", "application/octet-stream")))
    headers = {}
    csrf = draw(st.sampled_from(("good", "good", "good", "missing", "bad")))
    if csrf == "bad":
        headers["X-CSRF-Token"] = draw(st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=70))
    if draw(st.integers(0, 9)) == 0:
        headers["Host"] = draw(st.sampled_from(("evil.example", "localhost:99999", "[::1]", "127.0.0.1:8080")))
    return path, kw, headers, csrf, draw(st.integers(0, 5)) > 0


replies = st.one_of(st.just({"ok": True}), st.fixed_dictionaries({"ok": st.just(False), "error": st.text(max_size=30)}),
                    st.fixed_dictionaries({"ok": st.just(True), "summary": values}), st.just({"ok": False}),
                    st.just(DeviceUnavailable("gone")))


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory):
    data = tmp_path_factory.mktemp("fuzz")
    with open_store(sessions_path(data)) as store:
        for day in (24, 25, 26):
            sid = store.start_session("ana", "calf", "roller", f"2026-11-{day}T09:00:00+01:00", pain_before=5,
                                      knot_x_mm=300.0, knot_y_mm=200.0, recording_path="recordings/r.csv")
            store.finish_session(sid, f"2026-11-{day}T09:05:00+01:00", "done", pain_after=3, t_s=300, time_in_band_s=100)
    device = FakeDevice(state={k: v for k, v in frame().items() if k != "type"})
    app = create_app({"DATA_DIR": data, "DEVICE": device, "NOW": lambda: NOW, "TESTING": False})
    return app, device, pair(app), app.test_client()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_api_never_answers_500_and_always_json(fuzz, data):
    app, device, paired, unpaired = fuzz
    path, kw, headers, csrf, use_paired = data.draw(requests(_routes(app)))
    device.replies = {name: data.draw(replies) for name in NAMES}
    device.state = data.draw(st.sampled_from([device.state, {}, {"t_s": None, "platform": "junk", "cues": 3}]))
    client = paired if use_paired else unpaired
    token = paired.environ_base.get("HTTP_X_CSRF_TOKEN")
    if csrf != "good":
        paired.environ_base.pop("HTTP_X_CSRF_TOKEN", None)
    try:
        response = client.open(path, headers=headers, **kw)
    finally:
        paired.environ_base["HTTP_X_CSRF_TOKEN"] = token
    try:
        status = response.status_code
        event(f"status {status}")
        assert status < 500 or status == 503, (path, kw, headers, response.data[:300])
        if response.mimetype == "text/event-stream":
            assert status == 200 and kw["method"] in ("GET", "HEAD")
            return
        if status >= 400 and kw["method"] != "HEAD":
            body = json.loads(response.data)
            assert isinstance(body["error"], str) and "\n" not in body["error"] and body["error"], body
        elif response.mimetype == "application/json" and kw["method"] != "HEAD":
            json.loads(response.data)
    finally:
        response.close()
    assert app.extensions["knotcoach"]["broadcaster"].viewer_count == 0
