"""``knotcoach run`` and ``knotcoach serve``: the processes of a running coach.

``run`` starts the device process (sampling, filtering, coaching, cues; see
``firmware/device/main.py``) under a supervisor, and is itself the web
process: it follows the device over its channel, keeps the sessions in
SQLite, prints the coach in the terminal and serves the tablet app. ``serve``
is the web process alone, for a device process started by its own systemd
unit. Either stops cleanly on Ctrl-C or SIGTERM: the device process gets
SIGTERM and closes its hardware, the web server stops, the last messages are
written to the database.

Messages from the device arrive on the link's thread and are handed through
a queue to one thread that owns the database connection, so a slow disk
never holds up the link (or the tablets' stream).
"""

from __future__ import annotations

import os
import queue
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TextIO

from server.device_link import DeviceLink
from server.terminal_view import TerminalView

#: How long the device process waits for this process before it starts sampling anyway.
WAIT_FOR_WEB_S = 10.0
#: How often the supervisor looks at the device process, in seconds.
CHECK_EVERY_S = 0.1


@dataclass(frozen=True)
class WebOptions:
    """Where the tablet app listens."""

    host: str
    port: int


class Runtime:
    """The web process's side: device link → (database, terminal view, tablet app)."""

    def __init__(self, data_dir: Path, *, out: TextIO | None, say: Callable[[str], None],
                 web: WebOptions | None, source_kind: str, device_cpu: int | None = None) -> None:
        from firmware.device.main import SOCKET_NAME
        self.data_dir, self.say, self.web, self.source_kind = data_dir, say, web, source_kind
        self.device_cpu = device_cpu
        self.link = DeviceLink(data_dir / SOCKET_NAME)
        self.view = TerminalView(out)
        self._messages: queue.Queue = queue.Queue()
        self._writer = threading.Thread(target=self._write_sessions, name="sessions", daemon=True)
        self._server = None
        self._server_thread: threading.Thread | None = None
        self.urls: list[str] = []

    def start(self) -> "Runtime":
        from firmware.device.realtime import keep_off_cpu
        self._cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
        note = keep_off_cpu(self.device_cpu)  # its threads and page work stay off the device's CPU
        if note:
            self.say(note)
        self.link.subscribe(self._messages.put)
        self._writer.start()
        self.link.start()
        if self.web is not None:
            self._start_web()
        return self

    def stop(self) -> None:
        """Stop serving, stop following the device, write what is still queued."""
        if self._server is not None:
            from server.web.pairing import clear_web_info
            self._server.close()
            self._server_thread.join(timeout=5)
            clear_web_info(self.data_dir)
        self.link.close()
        self._messages.put(None)
        self._writer.join(timeout=10)
        if getattr(self, "_cpus", None):
            os.sched_setaffinity(0, self._cpus)  # as it was (a test or caller goes on in this process)
        for error in self.link.errors:
            self.say(f"while following the device: {error}")

    def wait_disconnected(self, timeout_s: float) -> None:
        """After the device process ended: until the link has read everything it said."""
        deadline = time.monotonic() + timeout_s
        while self.link.connected.is_set() and time.monotonic() < deadline:
            time.sleep(0.02)

    def _write_sessions(self) -> None:
        from server.recorder import SessionRecorder
        from server.store import StoreError, open_store, sessions_path
        try:
            store = open_store(sessions_path(self.data_dir))
        except (StoreError, OSError) as e:
            self.say(f"sessions will not be kept: {e}")
            store = None
        recorder = SessionRecorder(store) if store is not None else None
        said = None
        try:
            while (message := self._messages.get()) is not None:
                self.view.handle(message)
                if recorder is not None:
                    try:
                        recorder.handle(message)
                    except (StoreError, ValueError, OSError) as e:  # keep coaching; say why it is not kept
                        if str(e) != said:  # once, not for every frame that follows
                            said = str(e)
                            self.say(f"could not keep this in the session history: {e}")
        finally:
            if store is not None:
                store.close()

    def _start_web(self) -> None:
        from server.web import create_app
        from server.web.pairing import announce, write_web_info
        from server.web.serving import make_server, public_urls
        app = create_app({"DATA_DIR": self.data_dir, "DEVICE": self.link, "SOURCE_KIND": self.source_kind})
        try:
            self._server = make_server(app, self.web.host, self.web.port)
        except ValueError as e:  # waitress: a host name that does not resolve
            raise OSError(str(e)) from None
        self._server_thread = threading.Thread(target=self._server.run, name="web", daemon=True)
        self._server_thread.start()
        self.urls = public_urls(self.web.host, self._server.port)
        write_web_info(self.data_dir, self.urls)
        self.say(f"tablet page at {self.urls[0]}/")
        announce(self.data_dir, self.urls, sys.stderr)


class StopSignal:
    """SIGTERM (systemd, ``kill``) as a flag the main loop reads; Ctrl-C stays KeyboardInterrupt."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._old = None

    def __enter__(self) -> "StopSignal":
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGTERM, lambda *_: self.event.set())
        return self

    def __exit__(self, *exc) -> None:
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)


def supervise(device, runtime: Runtime, stop: threading.Event, say: Callable[[str], None]) -> int:
    """Until the device process ends or a stop: returns the exit status for ``knotcoach run``."""
    try:
        while not stop.wait(CHECK_EVERY_S):
            state = device.check()
            if state == "finished":
                runtime.wait_disconnected(5.0)
                return 0
            if state == "failed":
                return 2 if device.exit_code == 2 else 1
    except KeyboardInterrupt:
        say("stopping")
    return 0
