"""The device process's supervisor: restart a crash within limits, never a configuration error."""

from __future__ import annotations

import signal
import subprocess

import pytest

from server.supervisor import DeviceProcess


class FakeProcess:
    """Stands in for subprocess.Popen: exits when the test says, answers signals as told."""

    def __init__(self, argv, ignores_term=False, start_new_session=False):
        self.argv, self.returncode, self.signals, self.ignores_term = argv, None, [], ignores_term
        self.start_new_session = start_new_session
        self.killed = False

    def poll(self):
        return self.returncode

    def send_signal(self, sig):
        self.signals.append(sig)
        if not self.ignores_term:
            self.returncode = 0

    def wait(self, timeout=None):
        if self.returncode is None:
            raise subprocess.TimeoutExpired("device", timeout)
        return self.returncode

    def kill(self):
        self.killed, self.returncode = True, -9


@pytest.fixture
def rig():
    clock = {"t": 0.0}
    started, said = [], []

    def popen(argv, **kw):
        started.append(FakeProcess(argv, **kw))
        return started[-1]

    def make(**kw):
        return DeviceProcess(["device"], say=said.append, clock=lambda: clock["t"], popen=popen, **kw)
    return make, clock, started, said


def test_a_crash_is_restarted_and_a_normal_end_finishes_the_run(rig):
    make, clock, started, said = rig
    device = make().start()
    assert device.check() == "running" and len(started) == 1
    assert started[-1].start_new_session                # Ctrl-C reaches us, not the device mid-import
    started[-1].returncode = -11                       # segfault
    assert device.check() == "running" and len(started) == 2
    assert "stopped unexpectedly (status -11)" in said[-1]
    started[-1].returncode = 0                          # the replay ended
    assert device.check() == "finished" and device.exit_code == 0 and len(started) == 2


def test_a_configuration_error_is_not_restarted(rig):
    make, clock, started, said = rig
    device = make().start()
    started[-1].returncode = 2
    assert device.check() == "failed" and device.exit_code == 2 and len(started) == 1
    assert "not restarting" in said[-1]


def test_restarts_are_limited_within_a_window_but_not_forever(rig):
    make, clock, started, said = rig
    device = make(max_restarts=3, window_s=60.0).start()
    for _ in range(3):
        clock["t"] += 1.0
        started[-1].returncode = 1
        assert device.check() == "running"
    clock["t"] += 1.0
    started[-1].returncode = 1
    assert device.check() == "failed" and len(started) == 4 and "giving up" in said[-1]

    device = make(max_restarts=3, window_s=60.0).start()   # crashes far apart are each restarted
    for _ in range(10):
        clock["t"] += 61.0
        started[-1].returncode = 1
        assert device.check() == "running"


def test_stop_asks_politely_then_kills(rig):
    make, clock, started, said = rig
    device = make().start()
    assert device.stop() == 0 and started[-1].signals == [signal.SIGTERM] and not started[-1].killed
    assert device.check() == "stopped"

    stubborn = DeviceProcess(["device"], say=said.append, popen=lambda argv, **kw: FakeProcess(argv, ignores_term=True))
    stubborn.start()
    assert stubborn.stop(timeout_s=0.0) == -9 and stubborn.proc.killed and "killing it" in said[-1]
