"""Ask for real-time scheduling and a CPU of our own, where the system allows.

The device process samples at 80/s; a busy web process on the same core can
delay it (DESIGN.md measured 45 ms median, 108 ms worst inside one process).
So the device process asks for SCHED_FIFO and to be pinned to one CPU. Where
that is not allowed (no privilege, not Linux) it runs normally and says so.
The os functions are injected so tests need no privileges.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

#: A modest real-time priority: above ordinary processes, below the kernel's own threads.
DEFAULT_PRIORITY = 20


def request_realtime(priority: int = DEFAULT_PRIORITY, cpu: int | None = None, osmod=os) -> list[str]:
    """Try for SCHED_FIFO at ``priority`` and (optionally) one CPU; one line per outcome."""
    notes = []
    setsched = getattr(osmod, "sched_setscheduler", None)
    if setsched is None or not hasattr(osmod, "SCHED_FIFO"):
        notes.append("real-time scheduling is not available here: running at normal priority")
    else:
        try:
            setsched(0, osmod.SCHED_FIFO, SimpleNamespace(sched_priority=priority)
                     if not hasattr(osmod, "sched_param") else osmod.sched_param(priority))
            notes.append(f"real-time scheduling on (SCHED_FIFO, priority {priority})")
        except (PermissionError, OSError) as e:
            notes.append(f"real-time scheduling refused ({e.strerror or e}): running at normal priority; "
                         "the systemd unit or CAP_SYS_NICE allows it")
    if cpu is not None:
        notes.append(pin_cpu(cpu, osmod))
    return notes


def pin_cpu(cpu: int, osmod=os) -> str:
    """Run only on ``cpu``; what happened, in words."""
    setaff = getattr(osmod, "sched_setaffinity", None)
    try:
        if setaff is None:
            raise OSError("not supported")
        setaff(0, {cpu})
        return f"pinned to CPU {cpu}"
    except (OSError, ValueError) as e:
        return f"could not pin to CPU {cpu} ({getattr(e, 'strerror', None) or e}): using any CPU"


def own_cpu(osmod=os) -> int | None:
    """The CPU the device process takes for itself: the last one it may run on, when there
    are two or more (the web process keeps off it, see ``keep_off_cpu``); None with one."""
    getaff = getattr(osmod, "sched_getaffinity", None)
    if getaff is None:
        return None
    cpus = sorted(getaff(0))
    return cpus[-1] if len(cpus) >= 2 else None


def keep_off_cpu(cpu: int | None, osmod=os) -> str | None:
    """Keep the calling process (the web process) off the device's CPU; what was done, in words."""
    getaff, setaff = getattr(osmod, "sched_getaffinity", None), getattr(osmod, "sched_setaffinity", None)
    if cpu is None or getaff is None or setaff is None:
        return None
    others = set(getaff(0)) - {cpu}
    if not others:
        return None
    try:
        setaff(0, others)
    except OSError as e:
        return f"could not keep off CPU {cpu} ({e.strerror or e})"
    return f"the web process keeps off CPU {cpu}, the device's"
