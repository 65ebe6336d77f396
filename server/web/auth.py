"""Who may use the tablet app: the Host check, pairing, the device cookie and CSRF.

Every request, for every blueprint, passes three checks before its view runs
(``init_app`` installs them as ``before_app_request`` hooks, so the pages and
calibration blueprints need do nothing):

1. Host: the ``Host`` header must name this machine (localhost, its host name,
   ``<hostname>.local``, ``knotcoach.local``, its addresses, ``ALLOWED_HOSTS``),
   else 400 JSON. This stops DNS-rebinding pages from reaching the API.
2. Pairing: without a valid device cookie, ``/api/...`` answers 401 JSON and
   every other path shows the "pair this tablet" page (status 401). Only
   ``/pair/<token>`` and ``/static/...`` are open.
3. CSRF: POST, PUT, PATCH and DELETE need ``X-CSRF-Token`` equal to
   ``csrf_token()`` (a Jinja global for the pages' meta tag), else 403 JSON.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
import threading
import time

from flask import Blueprint, Flask, current_app, g, jsonify, make_response, redirect, render_template, request

from server.web.pairing import PairingStore, csrf_for, device_name, sign_device, verify_cookie

bp = Blueprint("auth", __name__)

COOKIE_NAME = "knotcoach_device"
COOKIE_MAX_AGE_S = 400 * 24 * 3600  # the longest browsers keep a cookie
CSRF_HEADER = "X-CSRF-Token"
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OPEN_ENDPOINTS = frozenset({"auth.pair", "static"})
HOSTS_REFRESH_S = 10.0  # a Host not known is looked up again at most this often (DHCP changes addresses)


def pairing_store() -> PairingStore:
    return current_app.extensions["knotcoach"]["pairing"]


def _secret() -> bytes:
    return current_app.extensions["knotcoach"]["secret"]


def current_device_id() -> str | None:
    """The paired device making this request, or None."""
    return g.get("device_id")


def is_paired() -> bool:
    return current_device_id() is not None


def csrf_token() -> str:
    """The CSRF token for this browser ('' when not paired); pages put it in a meta tag."""
    device_id = current_device_id()
    return csrf_for(_secret(), device_id) if device_id else ""


def json_error(status: int, message: str, **extra):
    response = jsonify({"error": message, **extra})
    response.status_code = status
    return response


# -- the pairing link ----------------------------------------------------------------

@bp.get("/pair/<token>")
def pair(token: str):
    """Use up a one-time pairing token: the long-lived cookie, then the coach's front page."""
    if is_paired():  # already paired: keep the token for another tablet
        return redirect("/", code=303)
    device = pairing_store().redeem(token, device_name(request.headers.get("User-Agent")))
    if device is None:
        return pairing_page("That pairing link has been used already or has expired (links work once, for "
                            "10 minutes). Ask for a new one as shown below.", 403)
    # A link opened from another app is a cross-site navigation: a SameSite=Strict cookie is not
    # sent on a redirect in that chain, so hop through a tiny same-site page instead.
    if request.headers.get("Sec-Fetch-Site", "none") in ("none", "same-origin"):
        response = redirect("/", code=303)
    else:
        response = make_response(render_template("pairing.html", paired=True, message=None), 200)
    response.set_cookie(COOKIE_NAME, sign_device(_secret(), device["id"]), max_age=COOKIE_MAX_AGE_S,
                        httponly=True, samesite="Strict", path="/")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the used token stays out of logs elsewhere
    return response


def pairing_page(message: str | None = None, status: int = 401):
    response = make_response(render_template("pairing.html", paired=False, message=message), status)
    response.headers["Cache-Control"] = "no-store"
    return response


# -- the checks before every request -----------------------------------------------------

def init_app(app: Flask) -> None:
    app.extensions["knotcoach"]["hosts"] = _HostNames(app.config.get("ALLOWED_HOSTS") or ())
    app.before_request(_check_request)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["is_paired"] = is_paired
    app.register_blueprint(bp)


def _check_request():
    if not current_app.extensions["knotcoach"]["hosts"].allowed(request.headers.get("Host", "")):
        return json_error(400, "this address is not the coach's: open it by the coach's own name or address")
    device_id = verify_cookie(_secret(), request.cookies.get(COOKIE_NAME))
    if device_id is not None and pairing_store().is_paired(device_id):
        g.device_id = device_id
        pairing_store().touch(device_id)
    if request.endpoint in OPEN_ENDPOINTS or request.path.startswith("/static/"):
        return None
    if not is_paired():
        if request.path == "/api" or request.path.startswith("/api/"):
            return json_error(401, "this browser is not paired with the coach: open a pairing link first")
        return pairing_page()
    if request.method in STATE_CHANGING:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode("utf-8", "replace"), csrf_token().encode()):
            return json_error(403, f"missing or wrong {CSRF_HEADER} header: reload the page and try again")
    return None


class _HostNames:
    """The names and addresses this machine answers to, looked up again when a Host is unknown."""

    def __init__(self, extra, clock=time.monotonic) -> None:
        if isinstance(extra, str):  # "a.local, b.home" from a command line or environment
            extra = extra.replace(",", " ").split()
        self.extra = {_normal(h) for h in extra}
        self.clock = clock
        self._lock = threading.Lock()
        self._names = self._lookup()
        self._looked_up_s = clock()

    def allowed(self, host_header: str) -> bool:
        host = _host_part(host_header)
        if host is None:
            return False
        if host in self._names:
            return True
        with self._lock:
            if self.clock() - self._looked_up_s >= HOSTS_REFRESH_S:
                self._names, self._looked_up_s = self._lookup(), self.clock()
        return host in self._names

    def _lookup(self) -> set[str]:
        names = {"localhost", "127.0.0.1", "::1", "knotcoach.local", *self.extra}
        hostname = socket.gethostname()
        names |= {_normal(hostname), _normal(hostname) + ".local"}
        if "." in hostname:
            names.add(_normal(hostname.split(".")[0]) + ".local")
        try:
            for info in socket.getaddrinfo(hostname, None):
                names.add(_normal(str(info[4][0]).split("%")[0]))
        except OSError:
            pass
        names |= _outward_addresses()
        return names


def _outward_addresses() -> set[str]:
    """The addresses other machines reach this one by (a UDP 'connect' sends nothing)."""
    found = set()
    for family, probe in ((socket.AF_INET, "10.255.255.255"), (socket.AF_INET6, "fd00::1")):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.connect((probe, 9))
                found.add(_normal(s.getsockname()[0].split("%")[0]))
        except OSError:
            pass
    return found


def _normal(name: str) -> str:
    return str(name).strip().lower().rstrip(".")


def _host_part(header: str) -> str | None:
    """The host of a Host header without its port ('[::1]:8080' -> '::1'); None if malformed."""
    header = header.strip()
    if not header or len(header) > 255:
        return None
    if header.startswith("["):
        end = header.find("]")
        rest = header[end + 1:] if end >= 0 else None
        if rest is None or (rest and not _port_ok(rest)):
            return None
        host = header[1:end]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return None
        return _normal(host)
    host, _, port = header.partition(":")
    if ":" in port or (port and not _port_ok(":" + port)):
        return None
    return _normal(host) or None


def _port_ok(text: str) -> bool:
    return text.startswith(":") and text[1:].isdigit() and len(text) <= 6
