"""Serving the app on waitress (a production WSGI server, not Flask's development server).

    server = make_server(app, "0.0.0.0", 8080)
    print(server.port, public_urls("0.0.0.0", server.port))
    server.run()            # blocks until close() is called from another thread (or a signal handler)

Each open live stream holds one waitress thread for as long as the tablet
watches, so the pool is the app's stream cap plus room for ordinary requests.
``close()`` ends every stream first (their threads return within the stream's
poll interval), then stops the loop and the threads.
"""

from __future__ import annotations

import socket
import threading

from waitress import wasyncore
from waitress.server import create_server

ORDINARY_THREADS = 8       # requests besides the live streams
CHANNEL_TIMEOUT_S = 60     # an idle connection is closed after this; streams send a heartbeat every 5 s
CONNECTION_LIMIT = 200
LOOP_TIMEOUT_S = 1


class Server:
    """A waitress server with a real stop: ``run()`` blocks, ``close()`` ends it from any thread."""

    def __init__(self, app, inner) -> None:
        self.app, self._inner = app, inner
        self._stopping, self._stopped = threading.Event(), threading.Event()
        self._running = False
        listen = getattr(inner, "effective_listen", None)
        host, port = (listen[0][0], listen[0][1]) if listen else (inner.effective_host, inner.effective_port)
        self.host, self.port = str(host), int(port)  # waitress reports the port as text

    def run(self) -> None:
        self._running = True
        try:
            while not self._stopping.is_set():
                wasyncore.loop(timeout=LOOP_TIMEOUT_S, map=self._map(), use_poll=True, count=1)
        finally:
            self._shut()
            self._stopped.set()

    def close(self, timeout_s: float = 10.0) -> None:
        """End every live stream, stop accepting, and wait for run() to return."""
        broadcaster = self.app.extensions.get("knotcoach", {}).get("broadcaster")
        if broadcaster is not None:
            broadcaster.close_all()
        self._stopping.set()
        if self._running:
            if hasattr(self._inner, "pull_trigger"):  # wakes the loop now rather than at its timeout
                try:
                    self._inner.pull_trigger()
                except OSError:  # the loop saw the stop first and has closed its trigger: nothing to wake
                    pass
            self._stopped.wait(timeout_s)
        else:
            self._shut()

    def _map(self) -> dict:
        # One listening socket: a TcpWSGIServer (``_map``); several: a MultiSocketServer (``map``).
        return self._inner.map if hasattr(self._inner, "map") else self._inner._map

    def _shut(self) -> None:
        self._inner.task_dispatcher.shutdown(timeout=5)
        wasyncore.close_all(self._map())


def make_server(app, host: str, port: int, threads: int | None = None) -> Server:
    """Bind ``host:port`` (port 0: a free one, see ``.port``) and return the server, not yet running.

    OSError when the address cannot be bound (in use, not this machine's).
    """
    if threads is None:
        threads = int(app.config.get("MAX_STREAMS", 32)) + ORDINARY_THREADS
    inner = create_server(app, host=host, port=port, threads=threads, channel_timeout=CHANNEL_TIMEOUT_S,
                          connection_limit=CONNECTION_LIMIT, cleanup_interval=10, asyncore_use_poll=True,
                          clear_untrusted_proxy_headers=True, expose_tracebacks=False, ident="knotcoach")
    return Server(app, inner)


def public_urls(host: str, port: int) -> list[str]:
    """Addresses a tablet can open: for a wildcard host, the LAN address and ``<hostname>.local`` first."""
    if host not in ("0.0.0.0", "::", ""):
        shown = f"[{host}]" if ":" in host else host
        return [f"http://{shown}:{port}"]
    urls = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 9))  # picks the outgoing interface; sends nothing
            address = s.getsockname()[0]
        if not address.startswith("127."):
            urls.append(f"http://{address}:{port}")
    except OSError:
        pass
    name = socket.gethostname().split(".")[0]
    if name and name != "localhost":
        urls.append(f"http://{name}.local:{port}")
    urls.append(f"http://localhost:{port}")
    return urls
