"""``knotcoach doctor`` against emulated HX711 chips, gpiozero's MockFactory and a fake systemctl.

Healthy wiring, then one fault at a time: a cell not answering, DOUT and SCK
swapped, RATE tied low (10/s), a noisy cell, clock-high violations, a frozen
cell, a busy pin; then GPIO access, the data directory, the units and the
device socket. Time is the emulator's FakeClock throughout: nothing sleeps.
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from gpiozero import BadPinFactory
from gpiozero.pins.mock import MockPin

from calibration.platform import Cell, PlatformCalibration
from calibration.platform_store import save_platform
from firmware.device.channel_server import ChannelServer
from firmware.hardware import doctor
from firmware.hardware.doctor import FAIL, OK, WARN, Check
from firmware.hardware.hx711_emulator import EmulatedHX711, EmulatedPins, FakeClock
from firmware.sources.base import SourceError
from firmware.sources.hx711_source import DEFAULT_PINS
from server import doctor_cmd
from server.cli import main as cli_main
from server.doctor_cmd import Surroundings
from tests.gpio_fixtures import factory, no_global_factory  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[3]
WHEN = "2026-11-27T11:20:03+00:00"


class StallingClock:
    """A clock pin that, every ``every``-th time it goes high, stays high ``stall_ns`` longer:
    the process was preempted between raising and lowering the clock."""

    def __init__(self, pin, clock: FakeClock, every: int, stall_ns: int) -> None:
        self._pin, self._clock, self._every, self._stall_ns = pin, clock, every, stall_ns
        self._rises = 0

    @property
    def value(self):
        return self._pin.value

    @value.setter
    def value(self, high):
        self._pin.value = high
        if high:
            self._rises += 1
            if self._rises % self._every == 0:
                self._clock.advance_ns(self._stall_ns)

    def __getattr__(self, name):
        return getattr(self._pin, name)


class Board:
    """Emulated chips on the default BCM pins, wired as told; ``open`` is the pin opener."""

    def __init__(self, n=4, *, rate_hz=None, noise=None, connected=None, swapped=(), stall=None,
                 busy=(), seed=1):
        self.clock = FakeClock()
        self.opened = []
        self.by_bcm = {}
        self.busy = set(busy)
        self.chips = []
        for i, (dout, sck) in enumerate(DEFAULT_PINS[:n]):
            rng = random.Random(seed + i)
            sigma = (noise or {}).get(i, 40.0)
            chip = EmulatedHX711(self.clock, signal_a=lambda t, rng=rng, s=sigma, i=i: 50_000 * (i + 1) + rng.gauss(0, s),
                                 rate_hz=(rate_hz or {}).get(i, 80.0),
                                 connected=True if connected is None else connected[i])
            pins = EmulatedPins(chip)
            clock_pin = pins.clock
            if stall and i in stall:
                clock_pin = StallingClock(pins.clock, self.clock, *stall[i])
            data_pin = pins.data
            if i in swapped:  # the wire from the chip's DOUT goes to the Pi's SCK pin and back
                data_pin, clock_pin = clock_pin, data_pin
            self.by_bcm[dout], self.by_bcm[sck] = data_pin, clock_pin
            self.chips.append(chip)

    def open(self, bcm):
        if bcm in self.busy:
            raise OSError(16, "Device or resource busy")
        pin = self.by_bcm[bcm]
        self.opened.append(pin)
        return pin

    def check(self, n=4, **kw):
        return doctor.check_chips(DEFAULT_PINS[:n], pin_opener=self.open, clock_ns=self.clock.now_ns,
                                  sleep=self.clock.sleep, **kw)


def by_subject(checks):
    return {c.subject: c for c in checks}


def statuses(checks):
    return [c.status for c in checks]


# --- the chips ----------------------------------------------------------------------

def test_healthy_board_every_cell_answers_at_80_quiet_and_nothing_dropped():
    board = Board()
    start_s = board.clock.monotonic()
    checks = board.check()
    assert statuses(checks) == [OK] * 12, [c.line() for c in checks]
    lines = by_subject(checks)
    assert lines["cell 0 (DOUT BCM 5, SCK BCM 6)"].text.startswith("answers, 8")
    rate = float(lines["cell 3 (DOUT BCM 24, SCK BCM 25)"].text.split()[1])
    assert rate == pytest.approx(80.0, rel=0.02)
    noise = lines["cell 1 noise"].text
    assert noise.endswith("uncalibrated)") and int(noise.split()[0]) == pytest.approx(40, abs=8)
    assert "none dropped" in lines["cell 2 frames"].text
    # one settling wait, then the 1 s window: simulated time only
    assert 1.0 < board.clock.monotonic() - start_s < 1.2
    assert all(p.deinitialized for p in board.opened) and len(board.opened) == 8


def test_noise_in_newtons_uses_the_calibrated_sensitivity():
    board = Board(n=1, noise={0: 400.0})
    (_, noise, _) = board.check(n=1, counts_per_newton=[-400.0])
    assert noise.status == WARN and doctor.NOISY in noise.text
    counts = int(noise.text.split()[0])
    assert counts == pytest.approx(400, rel=0.2)
    assert f"({counts / 400:.2f} N)" in noise.text and "about" not in noise.text


def test_a_cell_that_does_not_answer_is_named_with_its_pins_and_the_others_are_measured():
    board = Board(connected=[True, True, False, True])
    checks = board.check()
    bad = [c for c in checks if c.status != OK]
    assert len(bad) == 1 and bad[0].status == FAIL
    assert bad[0].subject == "cell 2 (DOUT BCM 22, SCK BCM 23)"
    assert doctor.NOT_ANSWERING in bad[0].text and "3.3 V" in bad[0].text
    assert len(checks) == 10  # the silent cell has one line, the others three each
    assert all(p.deinitialized for p in board.opened)


def test_swapped_dout_and_sck_is_recognised_and_the_fix_named():
    board = Board(swapped={1})
    checks = by_subject(board.check())
    swapped = checks["cell 1 (DOUT BCM 17, SCK BCM 27)"]
    assert swapped.status == FAIL and doctor.SWAPPED in swapped.text
    assert "--pins 27:17" in swapped.text
    assert checks["cell 0 (DOUT BCM 5, SCK BCM 6)"].status == OK
    assert "cell 1 noise" not in checks  # fix the wiring first
    assert board.chips[1].frames_read >= 1  # it really answered the other way round


def test_rate_pin_low_10_per_second_says_how_to_fix():
    board = Board(rate_hz={3: 10.0})
    checks = by_subject(board.check())
    slow = checks["cell 3 (DOUT BCM 24, SCK BCM 25)"]
    assert slow.status == FAIL and doctor.RATE_LOW in slow.text
    assert "answers at 10.0 samples/s" in slow.text and "RATE (chip pin 15) to VCC" in slow.text
    assert checks["cell 0 (DOUT BCM 5, SCK BCM 6)"].status == OK


def test_an_odd_rate_is_a_warning_with_the_number():
    board = Board(n=1, rate_hz={0: 40.0})
    (rate, *_rest) = board.check(n=1)
    assert rate.status == WARN and "answers at 40.0 samples/s, expected 80" in rate.text


def test_noisy_cells_warn_and_a_very_noisy_one_fails():
    board = Board(noise={0: 3_000.0, 2: 30_000.0})
    checks = by_subject(board.check())
    assert checks["cell 0 noise"].status == WARN and doctor.NOISY in checks["cell 0 noise"].text
    assert "shielded" in checks["cell 0 noise"].text
    assert checks["cell 2 noise"].status == FAIL and doctor.TOO_NOISY in checks["cell 2 noise"].text
    assert checks["cell 1 noise"].status == OK


def test_clock_high_violations_are_counted_a_few_warn_many_fail():
    # 55 us stalls: the driver drops the frame, the chip (60 us) does not power down.
    board = Board(stall={0: (500, 55_000), 1: (40, 55_000)})
    checks = by_subject(board.check())
    few, many = checks["cell 0 frames"], checks["cell 1 frames"]
    assert few.status == WARN and doctor.CLOCK_HIGH in few.text
    dropped, total = (int(w) for w in few.text.split()[0:3:2])
    assert 0 < dropped <= 0.1 * total
    assert many.status == FAIL and doctor.CLOCK_HIGH in many.text
    assert checks["cell 0 (DOUT BCM 5, SCK BCM 6)"].status == OK  # still 80/s
    assert checks["cell 2 frames"].status == OK


def test_clock_high_long_enough_to_reset_the_chip_also_shows_in_the_rate():
    board = Board(n=1, stall={0: (100, 80_000)})
    rate, _noise, frames = board.check(n=1)
    assert board.chips[0].power_downs > 0
    assert frames.status == FAIL and doctor.CLOCK_HIGH in frames.text
    assert rate.status == WARN and doctor.RATE_ODD in rate.text


def test_a_frozen_cell_is_named():
    board = Board(n=2, noise={1: 0.0})
    checks = by_subject(board.check(n=2))
    frozen = checks["cell 1 (DOUT BCM 17, SCK BCM 27)"]
    assert frozen.status == FAIL and doctor.FROZEN in frozen.text


def test_a_busy_pin_names_the_device_process():
    board = Board(busy={23})
    checks = by_subject(board.check())
    busy = checks["cell 2 (DOUT BCM 22, SCK BCM 23)"]
    assert busy.status == FAIL and doctor.PIN_BUSY in busy.text and "BCM 23" in busy.text
    assert checks["cell 0 (DOUT BCM 5, SCK BCM 6)"].status == OK
    assert all(p.deinitialized for p in board.opened)  # cell 2's DOUT, opened first, too


def test_no_gpio_at_all_is_one_line():
    def opener(bcm):
        raise SourceError("no Raspberry Pi GPIO on this machine (Blinka board: GENERIC_LINUX_PC)")
    clock = FakeClock()
    checks = doctor.check_chips(DEFAULT_PINS, pin_opener=opener, clock_ns=clock.now_ns, sleep=clock.sleep)
    assert len(checks) == 1 and checks[0].status == FAIL
    assert "no Raspberry Pi GPIO" in checks[0].text and clock.now_ns() == 0


def test_noise_ignores_slow_drift():
    drifting = [1000 * i for i in range(50)]  # a steady ramp, no noise
    assert doctor.noise_counts(drifting) == 0.0
    assert doctor.noise_counts([1, 2, 3]) is None
    assert doctor.measured_rate_hz([0, 12_500_000, 25_000_000]) == pytest.approx(80.0)
    assert doctor.measured_rate_hz([5]) is None


# --- GPIO access, pin library, buttons -----------------------------------------------------

def gpio_dev(tmp_path, names=("gpiochip0", "gpiochip4")):
    dev = tmp_path / "dev"
    dev.mkdir()
    for name in names:
        (dev / name).touch()
    return dev


def test_gpio_access_ok_and_service_user_in_group(tmp_path):
    checks = doctor.check_gpio_access(gpio_dev(tmp_path), user="pi", is_root=False,
                                      groups_of=lambda u: {"knotcoach", "gpio"}, access=lambda p, m: True)
    assert statuses(checks) == [OK, OK]
    assert "gpiochip0, gpiochip4 open to pi" in checks[0].text


def test_gpio_access_denied_and_service_user_missing_from_group(tmp_path):
    checks = doctor.check_gpio_access(gpio_dev(tmp_path), user="alice", is_root=False,
                                      groups_of=lambda u: {"knotcoach"}, access=lambda p, m: False)
    assert statuses(checks) == [FAIL, FAIL]
    assert doctor.NO_GPIO_ACCESS in checks[0].text and "usermod -aG gpio alice" in checks[0].text
    assert doctor.NOT_IN_GPIO_GROUP in checks[1].text and "usermod -aG gpio knotcoach" in checks[1].text


def test_no_gpiochip_devices(tmp_path):
    checks = doctor.check_gpio_access(gpio_dev(tmp_path, names=()), user="pi", is_root=False,
                                      groups_of=lambda u: None)
    assert statuses(checks) == [FAIL] and doctor.NO_GPIOCHIP in checks[0].text


class ShortedToGround(MockPin):
    """A button input whose wire is shorted to GND: the pull-up cannot raise it."""

    def drive_high(self):
        self.drive_low()


def test_pin_factory_and_buttons_on_mock_pins(factory):
    check, got = doctor.check_pin_factory(lambda: factory)
    assert check.status == OK and "MockFactory" in check.text and got is factory
    buttons = doctor.check_buttons(factory, [("button 1", 26), ("button 2", 16)])
    assert statuses(buttons) == [OK, OK] and "BCM 26 reads released" in buttons[0].text


def test_a_stuck_button_and_a_missing_pin_library(factory):
    factory.pin(16, pin_class=ShortedToGround)
    buttons = doctor.check_buttons(factory, [("button 1", 26), ("button 2", 16)])
    assert statuses(buttons) == [OK, WARN] and doctor.BUTTON_STUCK in buttons[1].text

    def no_library():
        raise BadPinFactory("Unable to load any default pin factory!")
    check, got = doctor.check_pin_factory(no_library)
    assert check.status == FAIL and doctor.NO_PIN_FACTORY in check.text and got is None


# --- the installation: data directory, units, socket -------------------------------------------

def show(load="loaded", enabled="enabled", active="active", status="0"):
    return (f"LoadState={load}\nUnitFileState={enabled}\nActiveState={active}\nSubState=running\n"
            f"ExecMainStatus={status}\n")


class FakeSystemctl:
    """``systemctl show UNIT ...`` answered from a table; every call recorded."""

    def __init__(self, **per_unit):
        self.per_unit = per_unit
        self.calls = []

    def __call__(self, argv):
        self.calls.append(list(argv))
        assert argv[:2] == ["systemctl", "show"]
        text = self.per_unit.get(argv[2].split("-")[1].split(".")[0], show(load="not-found", enabled="",
                                                                            active="inactive"))
        return subprocess.CompletedProcess(argv, 0, text, "")


def surroundings(board=None, factory=None, runner=None, tmp_path=None, **kw):
    board = board or Board()
    fake_time = FakeClock()
    return Surroundings(
        pin_opener=board.open, clock_ns=board.clock.now_ns, sleep=board.clock.sleep,
        monotonic=fake_time.monotonic, make_pin_factory=(lambda: factory) if factory else _no_factory,
        runner=runner or FakeSystemctl(), which=lambda name: "/usr/bin/" + name,
        dev_dir=gpio_dev(tmp_path) if tmp_path else Path("/nonexistent"), user="pi",
        groups_of=lambda u: {"gpio"} if u == "knotcoach" else None, access=lambda p, m: True, **kw)


def _no_factory():
    raise BadPinFactory("none")


def calibrated_dir(tmp_path, n=4):
    data = tmp_path / "data"
    cells = tuple(Cell(100.0 * i, 0.0, 1000.0, 2000.0) for i in range(n))
    save_platform(data, PlatformCalibration(cells, 80.0), WHEN)
    return data


def test_units_installed_enabled_running_and_broken_ones():
    runner = FakeSystemctl(device=show(), web=show(active="failed", status="2"))
    env = surroundings(runner=runner)
    checks, states = doctor_cmd.check_units(env)
    assert statuses(checks) == [OK, FAIL]
    assert doctor_cmd.UNIT_FAILED in checks[1].text and "configuration error" in checks[1].text
    assert "journalctl -u knotcoach-web.service" in checks[1].text
    assert states["knotcoach-device.service"]["ActiveState"] == "active"
    assert [c[2] for c in runner.calls] == list(doctor_cmd.UNITS)

    checks, _ = doctor_cmd.check_units(surroundings(runner=FakeSystemctl(device=show(enabled="disabled"),
                                                                         web=show(active="inactive"))))
    assert doctor_cmd.UNIT_NOT_ENABLED in checks[0].text and "enable --now" in checks[0].text
    assert doctor_cmd.UNIT_STOPPED in checks[1].text
    checks, _ = doctor_cmd.check_units(surroundings())
    assert statuses(checks) == [WARN, WARN] and doctor_cmd.UNIT_NOT_INSTALLED in checks[0].text


def test_units_without_systemd():
    def refusing(argv):
        return subprocess.CompletedProcess(argv, 1, "", "System has not been booted with systemd\n")
    checks, states = doctor_cmd.check_units(surroundings(runner=refusing))
    assert statuses(checks) == [WARN] and "booted with systemd" in checks[0].text and states == {}
    env = surroundings()
    env.which = lambda name: None
    assert statuses(doctor_cmd.check_units(env)[0]) == [WARN]


def test_data_dir_states(tmp_path):
    env = surroundings()
    checks, platform = doctor_cmd.check_data_dir(tmp_path / "nope", n_cells=4, env=env)
    assert statuses(checks) == [WARN] and doctor_cmd.NO_DATA_DIR in checks[0].text and platform is None
    data = calibrated_dir(tmp_path)
    checks, platform = doctor_cmd.check_data_dir(data, n_cells=4, env=env)
    assert statuses(checks) == [OK, OK] and WHEN in checks[1].text and platform.n_cells == 4
    checks, _ = doctor_cmd.check_data_dir(data, n_cells=2, env=env)
    assert checks[1].status == FAIL and doctor_cmd.CELLS_MISMATCH in checks[1].text
    (data / "platform.json").write_text("{ not json")
    checks, platform = doctor_cmd.check_data_dir(data, n_cells=4, env=env)
    assert checks[1].status == FAIL and doctor_cmd.BAD_CALIBRATION in checks[1].text and platform is None
    (data / "platform.json").unlink()
    checks, _ = doctor_cmd.check_data_dir(data, n_cells=4, env=env)
    assert checks[1].status == WARN and doctor_cmd.NO_CALIBRATION in checks[1].text


def test_data_dir_owned_by_someone_else_than_the_service_user(tmp_path):
    data = calibrated_dir(tmp_path)
    env = surroundings(uid_of=lambda name: 4242, service_data_dir=data)
    checks, _ = doctor_cmd.check_data_dir(data, n_cells=4, env=env)
    assert checks[0].status == FAIL and doctor_cmd.DATA_DIR_OWNER in checks[0].text
    assert f"chown -R knotcoach:knotcoach {data}" in checks[0].text
    env = surroundings(uid_of=lambda name: data.stat().st_uid, service_data_dir=data)
    assert doctor_cmd.check_data_dir(data, n_cells=4, env=env)[0][0].text.endswith("belongs to knotcoach")


class FakeDevice:
    """A device process stand-in serving the channel from a thread until closed."""

    def __init__(self, path, state):
        self.server = ChannelServer(path, hello=lambda: {"boot_id": "b1", "state": state})
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stop.is_set():
            self.server.poll(0.02)
        self.server.close()

    def close(self):
        self.stop.set()
        self.thread.join(5)


@pytest.fixture
def device(tmp_path):
    devices = []

    def start(state=None, path=None):
        d = FakeDevice(path or tmp_path / "device.sock", state if state is not None else {"faults": []})
        devices.append(d)
        return d
    yield start
    for d in devices:
        d.close()


def test_socket_answering_missing_and_stale(tmp_path, device):
    env = surroundings()
    path = tmp_path / "device.sock"
    check, state = doctor_cmd.check_socket(path, expected=True, wait_s=0, env=env)
    assert check.status == FAIL and doctor_cmd.NO_SOCKET in check.text and state is None
    check, _ = doctor_cmd.check_socket(path, expected=False, wait_s=0, env=env)
    assert check.status == WARN
    import socket
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))  # a socket file left behind by a process that died
    dead.close()
    check, _ = doctor_cmd.check_socket(path, expected=True, wait_s=0, env=env)
    assert check.status == FAIL and doctor_cmd.STALE_SOCKET in check.text
    path.unlink()
    device({"faults": [2]})
    check, state = doctor_cmd.check_socket(path, expected=True, wait_s=0, env=env)
    assert check.status == OK and state == {"faults": [2]}


def test_socket_waits_for_a_device_that_is_still_starting(tmp_path, device):
    env = surroundings()
    clock = FakeClock()
    path = tmp_path / "device.sock"

    def sleep(s):
        clock.sleep(s)
        if clock.monotonic() >= 2.0 and not path.exists():
            device()
    env.monotonic, env.sleep = clock.monotonic, sleep
    check, _ = doctor_cmd.check_socket(path, expected=True, wait_s=10, env=env)
    assert check.status == OK and 2.0 <= clock.monotonic() < 3.0


def test_waiting_stops_when_the_device_unit_fails_and_its_line_says_so(tmp_path, factory):
    class Failing(FakeSystemctl):
        """The device unit is active at first, then exits with status 2 (no boards)."""

        def __call__(self, argv):
            if len(self.calls) >= 3:
                self.per_unit["device"] = show(active="failed", status="2")
            if argv[-1] == "ActiveState":
                self.calls.append(list(argv))
                state = self.per_unit["device"].split("ActiveState=")[1].split()[0]
                return subprocess.CompletedProcess(argv, 0, f"ActiveState={state}\n", "")
            return super().__call__(argv)
    clock, board = FakeClock(), Board()
    env = surroundings(board=board, factory=factory, runner=Failing(device=show(), web=show()), tmp_path=tmp_path)
    # The socket's waiting on its own clock; the chips (probed once the unit has stopped) on theirs.
    env.monotonic = clock.monotonic
    env.sleep = lambda s: clock.sleep(s) if s == doctor_cmd.SOCKET_RETRY_S else board.clock.sleep(s)
    checks = by_subject(doctor_cmd.diagnose(tmp_path, DEFAULT_PINS, env=env, wait_s=30))
    assert clock.monotonic() < 2.0  # gave up once the unit had failed, not after 30 s
    assert checks["knotcoach-device.service"].status == FAIL
    assert "exit status 2" in checks["knotcoach-device.service"].text
    assert checks["device socket"].status == FAIL


def test_socket_the_user_may_not_open(tmp_path, monkeypatch):
    def denied(path, timeout_s=2.0):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(doctor_cmd, "read_hello", denied)
    check, state = doctor_cmd.check_socket(tmp_path / "device.sock", expected=True, wait_s=5,
                                           env=surroundings())
    assert check.status == WARN and doctor_cmd.SOCKET_DENIED in check.text and "sudo" in check.text


# --- the whole doctor ---------------------------------------------------------------------------

def test_bench_before_installing_healthy_hardware_passes(tmp_path, factory):
    env = surroundings(factory=factory, tmp_path=tmp_path)
    checks = doctor_cmd.diagnose(calibrated_dir(tmp_path), DEFAULT_PINS, env=env)
    assert [c.subject for c in checks if c.status != OK] == [
        "knotcoach-device.service", "knotcoach-web.service", "device socket"]
    assert all(c.status == WARN for c in checks if c.status != OK)
    noise = by_subject(checks)["cell 0 noise"].text
    assert "about" not in noise  # calibrated: newtons from the stored sensitivity
    assert doctor_cmd.summary(checks) == ("knotcoach doctor: nothing failed, 3 to look at", 0)


def test_installed_and_running_the_chips_are_not_probed(tmp_path, factory, device):
    board = Board()
    data = calibrated_dir(tmp_path)
    device({"faults": [], "source": {"kind": "hx711"}}, path=data / "device.sock")
    runner = FakeSystemctl(device=show(), web=show())
    env = surroundings(board=board, factory=factory, runner=runner, tmp_path=tmp_path,
                       uid_of=lambda name: data.stat().st_uid, service_data_dir=data)
    checks = doctor_cmd.diagnose(data, DEFAULT_PINS, env=env)
    assert statuses(checks) == [OK] * len(checks), [c.line() for c in checks]
    assert "not probed" in checks[-1].text and "systemctl stop knotcoach-device" in checks[-1].text
    assert board.opened == []  # the device process holds the pins
    assert doctor_cmd.summary(checks)[1] == 0


def test_running_device_reporting_a_faulted_cell_fails(tmp_path, factory, device):
    data = calibrated_dir(tmp_path)
    device({"faults": [2]}, path=data / "device.sock")
    env = surroundings(factory=factory, runner=FakeSystemctl(device=show(), web=show()), tmp_path=tmp_path)
    checks = doctor_cmd.diagnose(data, DEFAULT_PINS, env=env)
    assert checks[-1].status == FAIL and doctor_cmd.DEVICE_FAULTS in checks[-1].text and "cell 2" in checks[-1].text


def test_running_device_on_the_simulator_is_not_a_pass(tmp_path, factory, device):
    data = calibrated_dir(tmp_path)
    device({"faults": [], "source": {"kind": "simulated", "seed": 1}}, path=data / "device.sock")
    env = surroundings(factory=factory, runner=FakeSystemctl(device=show(), web=show()), tmp_path=tmp_path)
    checks = doctor_cmd.diagnose(data, DEFAULT_PINS, env=env)
    assert checks[-1].status == WARN and doctor_cmd.DEVICE_NOT_ON_BOARDS in checks[-1].text
    assert "(simulated)" in checks[-1].text


def test_a_running_unit_whose_socket_cannot_be_reached_is_not_probed(tmp_path, factory):
    board = Board()
    env = surroundings(board=board, factory=factory, runner=FakeSystemctl(device=show(), web=show()),
                       tmp_path=tmp_path)
    checks = doctor_cmd.diagnose(tmp_path, DEFAULT_PINS, env=env)
    assert checks[-1].status == WARN and "holds the pins" in checks[-1].text and board.opened == []


def test_run_prints_one_line_per_check_and_fails_on_broken_wiring(tmp_path, factory, capsys):
    env = surroundings(board=Board(rate_hz={1: 10.0}), factory=factory, tmp_path=tmp_path)
    args = SimpleNamespace(pins=None, seconds=1.0, wait_s=0.0, data_dir=str(calibrated_dir(tmp_path)))
    assert doctor_cmd.run(args, env=env) == 1
    out = capsys.readouterr().out.splitlines()
    assert all(line.split()[0] in (OK, WARN, FAIL) for line in out[:-1])
    assert any(line.startswith("FAIL cell 1 (DOUT BCM 17, SCK BCM 27): answers at 10.0") for line in out)
    assert out[-1] == "knotcoach doctor: 1 to fix, 3 to look at"


def test_run_with_fewer_pins_checks_only_those(tmp_path, factory, capsys):
    board = Board(n=2)
    env = surroundings(board=board, factory=factory, tmp_path=tmp_path)
    args = SimpleNamespace(pins="5:6,17:27", seconds=0.5, wait_s=0.0, data_dir=str(tmp_path / "d"))
    assert doctor_cmd.run(args, env=env) == 0
    out = capsys.readouterr().out
    assert "cell 1 frames" in out and "cell 2" not in out and len(board.opened) == 4


# --- the command line ------------------------------------------------------------------------

def test_doctor_help_runs_as_a_command():
    done = subprocess.run([sys.executable, "-m", "server.cli", "doctor", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert "--pins" in done.stdout and "--seconds" in done.stdout and "--data-dir" in done.stdout


@pytest.mark.parametrize("argv, words", [
    (["--pins", "5"], "--pins wants DOUT:SCK"),
    (["--pins", "5:6,5:7"], "distinct"),
    (["--seconds", "0"], "--seconds must be between"),
    (["--seconds", "nan"], "--seconds must be between"),
    (["--wait-s", "-1"], "--wait-s must be between"),
    (["--bogus"], "unrecognized arguments"),
])
def test_bad_input_is_one_line_and_exit_2(argv, words, capsys):
    assert cli_main(["doctor", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err


def test_check_line_format():
    assert Check(WARN, "cell 0 noise", "x").line() == "WARN cell 0 noise: x"
