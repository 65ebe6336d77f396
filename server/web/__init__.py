"""The tablet app: ``create_app(test_config=None)`` builds the Flask application.

Config keys (``test_config`` or the runner's mapping):

- ``DATA_DIR`` (required): the data directory (sessions.db, people/, the web secret, pairing).
- ``DEVICE``: a ``server.device_link.DeviceLink`` (started) or a double with its surface
  (``state``, ``connected``, ``subscribe``, ``command``); None = no device (commands answer 503).
- ``SOURCE_KIND``: "simulated", "hx711" or "replay" (default "simulated").
- ``ALLOWED_HOSTS``: extra names the Host header may carry (besides this machine's own).
- ``MAX_STREAMS`` (32), ``HEARTBEAT_S`` (5.0), ``STREAM_POLL_S`` (1.0): the live stream.
- ``MAX_CONTENT_LENGTH``: request bodies, 16 KiB by default (413 beyond).
- ``NOW`` (callable -> aware datetime) and ``CLOCK_S`` (callable -> epoch seconds): clocks, for tests.

Blueprints: ``auth`` (the pairing link and the checks before every request), ``api``
(state, stream, commands, screen, people, paired tablets), ``history`` (sessions,
progress, exports), ``pages`` (HTML, frontend) and ``calibrate`` (wizards).
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

from flask import Flask

SOURCE_KINDS = ("simulated", "hx711", "replay")
DEFAULTS = {
    "DEVICE": None,
    "SOURCE_KIND": "simulated",
    "ALLOWED_HOSTS": (),
    "MAX_STREAMS": 32,
    "HEARTBEAT_S": 5.0,
    "STREAM_POLL_S": 1.0,
    "MAX_CONTENT_LENGTH": 16 * 1024,
    "NOW": None,
    "CLOCK_S": None,
}


def create_app(test_config: dict | None = None) -> Flask:
    from server.web import api, auth, db, errors, history
    from server.web.broadcast import Broadcaster
    from server.web.pairing import PairingStore, load_or_create_secret

    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    app.config.from_mapping(test_config or {})
    if not app.config.get("DATA_DIR"):
        raise ValueError("create_app needs DATA_DIR, the data directory")
    if app.config["SOURCE_KIND"] not in SOURCE_KINDS:
        raise ValueError(f"SOURCE_KIND is one of {', '.join(SOURCE_KINDS)}, not {app.config['SOURCE_KIND']!r}")
    data_dir = app.config["DATA_DIR"] = Path(app.config["DATA_DIR"])
    data_dir.mkdir(parents=True, exist_ok=True)
    device = app.config["DEVICE"]
    snapshot = functools.partial(api.state_body, device, app.config["SOURCE_KIND"], data_dir)
    broadcaster = Broadcaster(device, snapshot, max_viewers=app.config["MAX_STREAMS"],
                              heartbeat_s=app.config["HEARTBEAT_S"], poll_s=app.config["STREAM_POLL_S"])
    app.extensions["knotcoach"] = {
        "secret": load_or_create_secret(data_dir),
        "pairing": PairingStore(data_dir, app.config["CLOCK_S"] or time.time),
        "snapshot": snapshot,
        "broadcaster": broadcaster.attach(),
    }
    errors.register(app)
    db.init_app(app)
    auth.init_app(app)
    app.after_request(_safety_headers)
    app.register_blueprint(api.bp)
    app.register_blueprint(history.bp)
    from server.web import calibrate, pages
    app.register_blueprint(pages.bp)
    app.register_blueprint(calibrate.bp)
    return app


def _safety_headers(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")  # no framing by another page (clickjacking)
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response
