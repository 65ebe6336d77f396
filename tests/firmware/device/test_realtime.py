"""Real-time scheduling is asked for, and refusal is said plainly, not hidden."""

from types import SimpleNamespace

from firmware.device.realtime import request_realtime


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


def test_the_device_takes_the_last_cpu_and_the_web_process_keeps_off_it():
    from types import SimpleNamespace

    from firmware.device.realtime import keep_off_cpu, own_cpu
    mask = {0, 1, 2, 3}
    osmod = SimpleNamespace(sched_getaffinity=lambda pid: set(mask),
                            sched_setaffinity=lambda pid, cpus: (mask.clear(), mask.update(cpus)))
    assert own_cpu(osmod) == 3
    assert keep_off_cpu(3, osmod) == "the web process keeps off CPU 3, the device's" and mask == {0, 1, 2}
    one = SimpleNamespace(sched_getaffinity=lambda pid: {0}, sched_setaffinity=lambda pid, cpus: None)
    assert own_cpu(one) is None and keep_off_cpu(0, one) is None    # one CPU: shared, nothing changed
    assert keep_off_cpu(None, osmod) is None


def test_device_main_pins_itself_and_refuses_a_cpu_that_is_not_there(tmp_path):
    import os
    import subprocess
    import sys
    cmd = [sys.executable, "-m", "firmware.device.main", "--data-dir", str(tmp_path), "--source", "sim",
           "--seconds", "0.2", "--priority", "0"]
    done = subprocess.run([*cmd, "--cpu", "99"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--cpu 99: this machine has CPUs" in done.stderr
    done = subprocess.run([*cmd, "--cpu", "auto"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    expected = "pinned to CPU" if len(os.sched_getaffinity(0)) > 1 else "one CPU here"
    assert expected in done.stderr
