"""The tablet app: ``create_app(test_config=None)`` builds the Flask application.

Owner: web-core helper. Blueprints: ``api`` (JSON + SSE), ``auth`` (pairing),
``history`` (sessions/progress JSON + exports), ``pages`` (HTML, frontend
helper), ``calibrate`` (calibration wizards, calibration helper).
"""

from __future__ import annotations

from flask import Flask


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(test_config or {})
    from server.web import calibrate, pages
    app.register_blueprint(pages.bp)
    app.register_blueprint(calibrate.bp)
    return app
