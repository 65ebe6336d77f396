"""Who may use the tablet app: pairing links, the device cookie, CSRF, the Host check, revoking."""

import os
import stat

import pytest

from server.web import create_app
from server.web.pairing import (
    LAST_SEEN_EVERY_S,
    TOKEN_TTL_S,
    PairingStore,
    device_name,
    load_or_create_secret,
    sign_device,
    verify_cookie,
)
from tests.conftest import pair


def _token(app):
    return app.extensions["knotcoach"]["pairing"].issue_token()


def test_unpaired_browser_gets_401_json_on_the_api_and_the_pairing_page_elsewhere(web_client):
    for path in ("/api/state", "/api/stream", "/api/command/next", "/api/nope", "/api"):
        r = web_client.get(path)
        assert r.status_code == 401 and r.is_json and "not paired" in r.json["error"], path
    r = web_client.post("/api/command/stop", json={})
    assert r.status_code == 401 and r.is_json
    for path in ("/", "/history", "/no/such/page"):
        r = web_client.get(path)
        assert r.status_code == 401 and r.mimetype == "text/html", path
        page = r.get_data(as_text=True)
        assert "Pair this tablet" in page and "knotcoach pair" in page and "not medical advice" in page
    assert web_client.get_cookie("knotcoach_device") is None


def test_a_pairing_link_works_once_and_sets_a_long_lived_strict_httponly_cookie(web_app):
    token = _token(web_app)
    first = web_app.test_client()
    r = first.get(f"/pair/{token}")
    assert r.status_code == 303 and r.headers["Location"] == "/"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=34560000" in cookie
    assert first.get("/api/state").status_code == 200
    second = web_app.test_client()
    r = second.get(f"/pair/{token}")  # the same link again, from another browser
    assert r.status_code == 403 and "used already or has expired" in r.get_data(as_text=True)
    assert second.get("/api/state").status_code == 401


def test_a_pairing_link_expires_after_ten_minutes(web_app, web_clock):
    late, in_time = _token(web_app), _token(web_app)
    web_clock.now_s += TOKEN_TTL_S - 1
    assert web_app.test_client().get(f"/pair/{in_time}").status_code == 303
    web_clock.now_s += 2
    assert web_app.test_client().get(f"/pair/{late}").status_code == 403


def test_malformed_and_unknown_tokens_are_refused_without_writing(web_app, tmp_path):
    for token in ("x", "a" * 30, "../../etc", "%00" * 20, "é" * 20):
        assert web_app.test_client().get(f"/pair/{token}").status_code in (401, 403, 404)
    assert not (tmp_path / "data" / "web-pairing.json").exists()


def test_a_link_opened_from_another_app_hops_through_a_same_site_page(web_app):
    client = web_app.test_client()
    r = client.get(f"/pair/{_token(web_app)}", headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 200 and 'http-equiv="refresh"' in r.get_data(as_text=True)
    assert client.get("/api/state").status_code == 200


def test_an_already_paired_browser_leaves_the_link_for_another_tablet(web_app, paired_client):
    token = _token(web_app)
    assert paired_client.get(f"/pair/{token}").status_code == 303
    assert web_app.test_client().get(f"/pair/{token}").status_code == 303  # still unused


def test_state_changing_requests_need_the_csrf_token(web_app, paired_client, fake_device):
    good = paired_client.environ_base.pop("HTTP_X_CSRF_TOKEN")
    for headers in ({}, {"X-CSRF-Token": "nope"}, {"X-CSRF-Token": good[:-1] + "0"}, {"X-CSRF-Token": "é"}):
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            r = paired_client.open("/api/command/next", method=method, json={}, headers=headers)
            assert r.status_code == 403 and "X-CSRF-Token" in r.json["error"], (method, headers)
    assert fake_device.commands == []
    assert paired_client.get("/api/state").status_code == 200  # reading needs no token
    r = paired_client.post("/api/command/next", json={}, headers={"X-CSRF-Token": good})
    assert r.status_code == 200 and fake_device.commands == [("next", {})]


def test_the_csrf_token_differs_per_device_and_is_a_jinja_global(web_app):
    a, b = pair(web_app), pair(web_app)
    assert a.environ_base["HTTP_X_CSRF_TOKEN"] != b.environ_base["HTTP_X_CSRF_TOKEN"]
    r = a.post("/api/command/next", json={}, headers={"X-CSRF-Token": b.environ_base["HTTP_X_CSRF_TOKEN"]})
    assert r.status_code == 403
    with web_app.test_request_context("/"):
        from flask import g, render_template_string
        assert render_template_string("{{ csrf_token() }}") == ""
        g.device_id = a.device_id
        assert render_template_string("{{ csrf_token() }}") == a.environ_base["HTTP_X_CSRF_TOKEN"]


@pytest.mark.parametrize("host", ["evil.example", "localhost.evil.example", "127.0.0.2", "", "[::1", "[nope]:80",
                                  "localhost:80:80", "localhost:abc", "a" * 300])
def test_a_foreign_host_header_is_refused(paired_client, host):
    r = paired_client.get("/api/state", headers={"Host": host})
    assert r.status_code == 400 and r.is_json and "address" in r.json["error"]


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:8080", "127.0.0.1:8080", "[::1]:8080", "knotcoach.local",
                                  "knotcoach.local.", "tablet-box.home"])
def test_the_machines_own_names_and_allowed_hosts_pass(tmp_path, fake_device, host):
    # Unpaired (the test client keeps cookies per host): passing the Host check leaves the 401.
    app = create_app({"DATA_DIR": tmp_path, "DEVICE": fake_device, "ALLOWED_HOSTS": ["Tablet-Box.Home"]})
    assert app.test_client().get("/api/state", headers={"Host": host}).status_code == 401


def test_the_hostname_and_its_dot_local_name_pass(web_client):
    import socket
    name = socket.gethostname()
    for host in (name, f"{name.split('.')[0]}.local:8080"):
        assert web_client.get("/api/state", headers={"Host": host}).status_code == 401, host


def test_revoking_a_tablet_refuses_its_cookie_at_once(web_app, paired_client):
    other = pair(web_app)
    listed = paired_client.get("/api/paired").json
    assert {d["id"] for d in listed} == {paired_client.device_id, other.device_id}
    assert [d["this_browser"] for d in listed if d["id"] == paired_client.device_id] == [True]
    assert listed[0]["name"] == "Chrome on Android"
    r = paired_client.delete(f"/api/paired/{other.device_id}")
    assert r.status_code == 200 and r.json == {"ok": True, "revoked": other.device_id}
    assert other.get("/api/state").status_code == 401
    assert other.get("/").status_code == 401
    assert paired_client.delete(f"/api/paired/{other.device_id}").status_code == 404
    assert paired_client.get("/api/state").status_code == 200


def test_a_revoke_by_another_process_is_seen_at_the_next_request(web_app, paired_client, tmp_path):
    PairingStore(tmp_path / "data").revoke(paired_client.device_id)  # as `knotcoach pair --revoke` does
    assert paired_client.get("/api/state").status_code == 401


def test_a_token_issued_by_another_process_is_accepted(web_app, tmp_path, web_clock):
    token = PairingStore(tmp_path / "data", web_clock).issue_token()
    assert web_app.test_client().get(f"/pair/{token}").status_code == 303


def test_forged_or_foreign_cookies_are_refused(web_app, paired_client, tmp_path):
    secret = web_app.extensions["knotcoach"]["secret"]
    forged = web_app.test_client()
    for value in ("0" * 32 + ".abc", sign_device(b"another secret", paired_client.device_id),
                  sign_device(secret, "f" * 32), "garbage", "a.b.c", ""):
        forged.set_cookie("knotcoach_device", value)
        assert forged.get("/api/state").status_code == 401, value
    assert verify_cookie(secret, sign_device(secret, paired_client.device_id)) == paired_client.device_id


def test_last_seen_is_written_at_most_once_a_minute(web_app, paired_client, web_clock, tmp_path):
    store = PairingStore(tmp_path / "data")
    seen = store.devices()[0]["last_seen_s"]
    web_clock.now_s += LAST_SEEN_EVERY_S - 1
    paired_client.get("/api/state")
    assert store.devices()[0]["last_seen_s"] == seen
    web_clock.now_s += 2
    paired_client.get("/api/state")
    assert store.devices()[0]["last_seen_s"] == web_clock.now_s


def test_the_secret_is_0600_made_once_and_read_again(tmp_path):
    first = load_or_create_secret(tmp_path)
    path = tmp_path / "web-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(first) == 32
    assert load_or_create_secret(tmp_path) == first
    os.chmod(path, 0o644)
    assert load_or_create_secret(tmp_path) == first and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["web-secret"]  # no temporary file left behind


def test_a_damaged_secret_or_pairing_file_is_a_clear_refusal(tmp_path, fake_device):
    from calibration.files import StoreError
    (tmp_path / "web-secret").write_text("not hex")
    with pytest.raises(StoreError, match="web-secret"):
        load_or_create_secret(tmp_path)
    (tmp_path / "web-secret").unlink()
    (tmp_path / "web-pairing.json").write_text("{broken")
    app = create_app({"DATA_DIR": tmp_path, "DEVICE": fake_device})
    r = app.test_client().get("/pair/" + "a" * 32)
    assert r.status_code == 503 and "web-pairing.json" in r.json["error"]


def test_the_pairing_file_is_private(web_app, paired_client, tmp_path):
    assert stat.S_IMODE((tmp_path / "data" / "web-pairing.json").stat().st_mode) == 0o600


def test_device_names_summarise_the_user_agent():
    assert device_name("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) Version/17.0 Safari/605.1") == "Safari on iPad"
    assert device_name("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko Firefox/120.0") == "Firefox on Linux"
    assert device_name(None) == "a browser"


def test_an_unknown_host_is_looked_up_again_at_most_every_ten_seconds():
    from server.web.auth import HOSTS_REFRESH_S, _HostNames

    class Names(_HostNames):
        answer = frozenset({"localhost"})
        lookups = 0

        def _lookup(self):
            Names.lookups += 1
            return set(Names.answer)

    now = [0.0]
    names = Names((), clock=lambda: now[0])
    Names.answer = frozenset({"localhost", "192.168.1.50"})  # the machine got a new address from DHCP
    assert not names.allowed("192.168.1.50:8080") and Names.lookups == 1
    now[0] += HOSTS_REFRESH_S
    assert names.allowed("192.168.1.50:8080") and Names.lookups == 2
    assert not names.allowed("evil.example") and Names.lookups == 2  # not again within 10 s


def test_allowed_hosts_may_be_one_comma_separated_string(tmp_path):
    app = create_app({"DATA_DIR": tmp_path, "ALLOWED_HOSTS": "a.home, b.home"})
    client = app.test_client()
    assert client.get("/api/state", headers={"Host": "b.home"}).status_code == 401
    assert client.get("/api/state", headers={"Host": "h"}).status_code == 400  # not the letters of the string


def test_a_data_directory_that_cannot_be_written_is_a_503_not_a_500(web_app, tmp_path, monkeypatch):
    from server.web import pairing
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "data" / "web-pairing.json"))
    monkeypatch.setattr(pairing, "write_text_atomic", refuse)
    r = web_app.test_client().get(f"/pair/{_token_unwritten(web_app, tmp_path)}")
    assert r.status_code == 503 and "Permission denied" in r.json["error"] and "web-pairing.json" in r.json["error"]


def _token_unwritten(app, tmp_path):
    """A token put in the pairing file directly (the store's own writer is refused in this test)."""
    import hashlib
    import json
    path = tmp_path / "data" / "web-pairing.json"
    token = "t" * 32
    path.write_text(json.dumps({"format": "knotcoach-pairing", "version": 1, "devices": [],
                                "tokens": [{"sha256": hashlib.sha256(token.encode()).hexdigest(),
                                            "expires_s": 4e9}]}))
    return token
