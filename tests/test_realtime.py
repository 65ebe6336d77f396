"""Real-time scheduling is asked for, and refusal is said plainly, not hidden."""

from types import SimpleNamespace

from firmware.realtime import request_realtime


def fake_os(refuse_sched=False, refuse_cpu=False):
    calls = []

    def setsched(pid, policy, param):
        if refuse_sched:
            raise PermissionError(1, "Operation not permitted")
        calls.append(("sched", policy, param.sched_priority))

    def setaff(pid, cpus):
        if refuse_cpu:
            raise OSError(22, "Invalid argument")
        calls.append(("cpu", cpus))

    return SimpleNamespace(SCHED_FIFO=1, sched_setscheduler=setsched, sched_setaffinity=setaff,
                           sched_param=lambda p: SimpleNamespace(sched_priority=p)), calls


def test_granted():
    osmod, calls = fake_os()
    notes = request_realtime(30, cpu=1, osmod=osmod)
    assert calls == [("sched", 1, 30), ("cpu", {1})]
    assert notes == ["real-time scheduling on (SCHED_FIFO, priority 30)", "pinned to CPU 1"]


def test_refused_runs_normally_and_says_so():
    osmod, calls = fake_os(refuse_sched=True, refuse_cpu=True)
    notes = request_realtime(30, cpu=7, osmod=osmod)
    assert calls == []
    assert "refused (Operation not permitted): running at normal priority" in notes[0]
    assert notes[1] == "could not pin to CPU 7 (Invalid argument): using any CPU"


def test_not_available():
    assert "not available" in request_realtime(osmod=SimpleNamespace())[0]
