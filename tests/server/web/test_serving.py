"""The waitress wrapper's stop: never an error, whoever gets there first."""

from __future__ import annotations

from types import SimpleNamespace

from server.web.serving import Server


def test_close_after_the_loop_already_closed_its_trigger_is_quiet():
    def closed_trigger():
        raise OSError(9, "Bad file descriptor")   # the loop saw the stop first and shut everything
    inner = SimpleNamespace(effective_host="127.0.0.1", effective_port=8080, pull_trigger=closed_trigger)
    server = Server(SimpleNamespace(extensions={}), inner)
    server._running = True                          # run() is on its way out in another thread
    server.close(timeout_s=0.0)                     # must not raise
    assert server._stopping.is_set()
