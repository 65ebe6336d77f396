"""Starts and watches the device process for ``knotcoach run``.

The device process (``python -m firmware.device.main``) samples and coaches
on its own; this keeps it running for the length of ``knotcoach run``: a
crash is restarted (a bounded number of times in a window, so a device that
dies at once does not spin), a configuration error (exit status 2: bad pins,
a broken calibration file) is not — restarting cannot mend it — and a normal
end (exit 0: a replay finished, ``--seconds`` passed) ends the run. The clock
and the way to start a process are injected so the policy is tested without
real processes or waiting.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import deque
from typing import Callable, Sequence

#: Exit status the device process uses for a configuration error.
CONFIG_ERROR = 2


class DeviceProcess:
    """One supervised device process; ``check()`` is called now and then by the owner."""

    def __init__(self, argv: Sequence[str], *, say: Callable[[str], None], max_restarts: int = 5,
                 window_s: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 popen: Callable[..., subprocess.Popen] = subprocess.Popen) -> None:
        self.argv = list(argv)
        self.say = say
        self.max_restarts, self.window_s = max_restarts, window_s
        self.clock, self.popen = clock, popen
        self.proc: subprocess.Popen | None = None
        self.restarts: deque[float] = deque()  # when each restart happened, within the window
        self.exit_code: int | None = None       # the final status once it is over
        self.state = "new"                      # new, running, finished, failed, stopped

    def start(self) -> "DeviceProcess":
        # Its own session: Ctrl-C in the terminal reaches this process, which stops the device
        # cleanly, rather than hitting the device mid-import.
        self.proc = self.popen(self.argv, start_new_session=True)
        self.state = "running"
        return self

    def check(self) -> str:
        """Restart a crashed process if allowed; returns the state after looking."""
        if self.state != "running" or self.proc is None:
            return self.state
        code = self.proc.poll()
        if code is None:
            return self.state
        if code == 0:
            return self._over("finished", code)
        if code == CONFIG_ERROR:
            self.say("the device process refused its configuration (see above); not restarting it")
            return self._over("failed", code)
        now = self.clock()
        while self.restarts and now - self.restarts[0] > self.window_s:
            self.restarts.popleft()
        if len(self.restarts) >= self.max_restarts:
            self.say(f"the device process keeps stopping (status {code}, {len(self.restarts) + 1} times in "
                     f"{self.window_s:g} s); giving up")
            return self._over("failed", code)
        self.restarts.append(now)
        self.say(f"the device process stopped unexpectedly (status {code}); starting it again")
        return self.start().state

    def stop(self, timeout_s: float = 5.0) -> int | None:
        """SIGTERM (the device closes cleanly), then SIGKILL if it does not end in time."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.say("the device process did not stop in time; killing it")
                self.proc.kill()
                self.proc.wait()
        if self.state == "running":
            self._over("stopped", self.proc.returncode if self.proc else None)
        return self.exit_code

    def _over(self, state: str, code: int | None) -> str:
        self.state, self.exit_code = state, code
        return state
