"""The device process on its own: started, followed, steered, killed, restarted, stopped."""

import signal
import subprocess
import sys
import threading

from server.device_link import DeviceLink


def start_device(data_dir):
    return subprocess.Popen([sys.executable, "-m", "firmware.device.main", "--source", "sim",
                             "--data-dir", str(data_dir), "--seed", "2"],
                            stderr=subprocess.PIPE, text=True)


def wait_until(predicate, event, timeout_s=20.0):
    while not predicate():
        assert event.wait(timeout_s), "timed out"
        event.clear()


def test_device_process_serves_frames_obeys_commands_and_stops_cleanly(tmp_path):
    frames, changed = [], threading.Event()

    def listener(message):
        frames.append(message)
        changed.set()

    device = start_device(tmp_path)
    try:
        with DeviceLink(tmp_path / "device.sock", retry_s=0.05, max_retry_s=0.2) as link:
            link.subscribe(listener)
            assert link.connected.wait(30)
            wait_until(lambda: sum(m["type"] == "frame" for m in frames) >= 10, changed)
            assert link.command("steer", command="lift_off")["ok"]
            assert link.command("next")["ok"] is False  # nothing to go on from: refused, not crashed
            first_boot = link.boot_id
            device.kill()                                # a crash: the link notices
            device.wait(10)
            device.stderr.close()
            device = start_device(tmp_path)              # restarted (by systemd or knotcoach run)
            wait_until(lambda: any(m.get("restarted") for m in frames), changed)
            assert link.boot_id != first_boot
        device.send_signal(signal.SIGTERM)
        assert device.wait(10) == 0
        assert "stopped" in device.stderr.read()
        assert not (tmp_path / "device.sock").exists()
    finally:
        if device.poll() is None:
            device.kill()
            device.wait(10)
        device.stderr.close()
