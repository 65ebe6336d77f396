"""The sessions database, opened once per request when a view needs it (flask.g) and closed after.

SQLite connections belong to one thread and waitress serves each request on
one of its threads, so a connection per request is the simple, safe choice;
opening costs well under a millisecond. SQL stays in ``server.store``.
"""

from __future__ import annotations

from flask import Flask, current_app, g

from server.store import SessionStore, open_store, sessions_path


def get_store() -> SessionStore:
    """This request's store, opened on first use (StoreError when the file cannot be used)."""
    if "store" not in g:
        g.store = open_store(sessions_path(current_app.config["DATA_DIR"]))
    return g.store


def close_store(_exc: BaseException | None = None) -> None:
    store = g.pop("store", None)
    if store is not None:
        store.close()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(close_store)
