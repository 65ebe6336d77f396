"""Plain-socket tablets for the stream benchmark: pairing, SSE viewers, a burst of page loads.

Kept to the standard library (http.client) so the clients cost little next to
the server they measure.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from pathlib import Path

#: What a tablet loads when a page opens: the pages, their static files, the first JSON.
PAGE_PATHS = ("/", "/start", "/history", "/static/app.css", "/static/common.js", "/static/live.js",
              "/static/vendor/uplot/uPlot.iife.min.js", "/api/state", "/api/people", "/api/sessions")
BURST_THREADS = 4


def wait_until_serving(port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            get(port, "/api/state", None)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing answered on port {port} in {timeout_s:g} s") from None
            time.sleep(0.1)


def get(port: int, path: str, cookie: str | None) -> tuple[int, bytes, http.client.HTTPResponse]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        resp = conn.getresponse()
        return resp.status, resp.read(), resp
    finally:
        conn.close()


def pair(port: int, data_dir: Path) -> str:
    """Pair like a tablet opening the link the server printed; the cookie header to send."""
    from server.web.pairing import PairingStore
    token = PairingStore(data_dir).issue_token()
    status, _, resp = get(port, f"/pair/{token}", None)
    cookie = resp.getheader("Set-Cookie")
    if status not in (302, 303) or not cookie:
        raise RuntimeError(f"pairing failed: HTTP {status}")
    return cookie.split(";", 1)[0]


class Viewer(threading.Thread):
    """One viewer on /api/stream; with the device's clock origin, the delay of every frame."""

    def __init__(self, port: int, cookie: str, t0_s: float | None) -> None:
        super().__init__(daemon=True)
        self.port, self.cookie, self.t0_s = port, cookie, t0_s
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self.frames, self.delays_ms, self._since = 0, [], time.monotonic()
        self._conn: http.client.HTTPConnection | None = None

    def run(self) -> None:
        self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        self._conn.request("GET", "/api/stream", headers={"Cookie": self.cookie, "Accept": "text/event-stream"})
        resp = self._conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"stream refused: HTTP {resp.status}")
        event = None
        try:
            while not self._halt.is_set():
                line = resp.fp.readline()
                if not line:
                    return
                if line.startswith(b"event: "):
                    event = line[7:].strip()
                elif line.startswith(b"data: ") and event == b"frame":
                    self._frame(line[6:], time.monotonic())
        except OSError:
            return  # closed by stop()

    def _frame(self, data: bytes, now_s: float) -> None:
        with self._lock:
            self.frames += 1
            if self.t0_s is not None:
                t_s = json.loads(data).get("t_s")
                if t_s is not None:
                    self.delays_ms.append((now_s - (self.t0_s + t_s)) * 1000.0)

    def mark(self) -> None:
        """Start counting from now (after connecting and the snapshot)."""
        with self._lock:
            self.frames, self.delays_ms, self._since = 0, [], time.monotonic()

    def result(self) -> dict:
        with self._lock:
            span = time.monotonic() - self._since
            return {"fps": self.frames / span, "delays_ms": list(self.delays_ms)}

    def stop(self) -> None:
        self._halt.set()
        if self._conn is not None and self._conn.sock is not None:
            try:
                self._conn.sock.shutdown(2)
            except OSError:
                pass
        self.join(5)


def page_burst(port: int, cookie: str, stop: threading.Event, stats: dict) -> None:
    """Tablets opening pages as fast as they can (new connection per request) until ``stop``."""
    lock = threading.Lock()

    def one_tablet():
        i = 0
        while not stop.is_set():
            path = PAGE_PATHS[i % len(PAGE_PATHS)]
            i += 1
            try:
                status = get(port, path, cookie)[0]
            except OSError as e:
                status = type(e).__name__
            with lock:
                stats["requests"] += 1
                if status != 200:
                    stats["errors"] += 1
                    failed = stats.setdefault("failed", {})
                    failed[f"{path} {status}"] = failed.get(f"{path} {status}", 0) + 1

    threads = [threading.Thread(target=one_tablet, daemon=True) for _ in range(BURST_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
