"""Every error is JSON ``{"error": "one line"}`` with its status: never an HTML page or a traceback.

``register(app)`` installs a handler for every HTTP error (404, 405, 413, ...),
one for stored files that cannot be used and one for a data directory that
cannot be read or written (503: it needs a person's attention, not a retry
of the request), and a last-resort handler
that logs the traceback and answers a plain JSON 500. The fuzz tests show
the last one is not reachable from outside.
"""

from __future__ import annotations

from flask import Flask, current_app, jsonify
from werkzeug.exceptions import HTTPException

from calibration.files import StoreError

#: Plain words for the HTTP errors a tablet or a script can cause.
MESSAGES = {
    400: "bad request",
    401: "this browser is not paired with the coach",
    403: "not allowed",
    404: "no such page or API route",
    405: "that method is not allowed here",
    408: "the request took too long",
    411: "the request needs a Content-Length",
    413: "the request body is too large",
    414: "the address is too long",
    415: "the body must be JSON (Content-Type: application/json)",
    431: "the request headers are too large",
}


class ApiError(Exception):
    """A refusal with its status and one-line message (and extra JSON fields, e.g. advice)."""

    def __init__(self, status: int, message: str, **extra) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


def one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit - 1] + "…"


def error_response(status: int, message: str, **extra):
    response = jsonify({"error": one_line(message), **extra})
    response.status_code = status
    return response


def register(app: Flask) -> None:
    app.register_error_handler(ApiError, lambda e: error_response(e.status, e.message, **e.extra))
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(StoreError, _store_error)
    app.register_error_handler(OSError, _os_error)
    app.register_error_handler(Exception, _unexpected)


def _http_error(e: HTTPException):
    if e.code is None or e.code < 400:  # redirects raised by routing pass through as they are
        return e
    message = MESSAGES.get(e.code) or e.name
    response = error_response(e.code, message)
    if e.code == 405 and e.valid_methods:
        response.headers["Allow"] = ", ".join(e.valid_methods)
    return response


def _store_error(e: StoreError):
    current_app.logger.warning("stored data cannot be used: %s", e)
    return error_response(503, f"stored data cannot be used: {e}")


def _os_error(e: OSError):
    current_app.logger.warning("data directory: %s", e)
    where = f" ({e.filename})" if getattr(e, "filename", None) else ""
    return error_response(503, f"the coach cannot read or write its data{where}: {e.strerror or e}")


def _unexpected(e: Exception):
    current_app.logger.exception("unexpected error")
    return error_response(500, "something went wrong inside the coach; it has been logged")
