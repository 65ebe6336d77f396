"""``knotcoach doctor``: checks the wiring, the chips, GPIO, the data directory, the units and the device.

One line per check (OK / WARN / FAIL, what was found, what to do); exit 0
when nothing FAILs, 1 when something does, 2 for bad options. The hardware
checks live in ``firmware/hardware/doctor.py``; this module adds the installation's
checks (data directory, systemd units, the device socket) and decides which
run: while the device process holds the pins, the chips are not probed and
the device's own report of faulted cells stands in for it.

Everything outside (pins, clocks, the pin factory, ``/dev``, users,
``systemctl``) comes in through :class:`Surroundings`, so tests use the
emulated HX711, gpiozero's MockFactory and a fake ``systemctl``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from firmware.hardware.doctor import FAIL, OK, WARN, Check

#: The units deploy/install.sh installs.
UNITS = ("knotcoach-device.service", "knotcoach-web.service")
DEVICE_UNIT = UNITS[0]
SERVICE_USER = "knotcoach"
SOCKET_NAME = "device.sock"  # firmware/device/main.py SOCKET_NAME (not imported: it pulls in the whole loop)
#: Seconds of reading per chip, and the range allowed on the command line.
DEFAULT_WINDOW_S = 1.0
WINDOW_RANGE_S = (0.2, 10.0)
MAX_WAIT_S = 120.0
#: Pause between attempts to reach the device socket while waiting for it.
SOCKET_RETRY_S = 0.5

# Message fragments hardware.md's troubleshooting table quotes (a test checks they exist here).
UNIT_NOT_INSTALLED = "not installed"
UNIT_NOT_ENABLED = "installed but not enabled"
UNIT_FAILED = "has failed"
UNIT_STOPPED = "enabled but not running"
NO_SOCKET = "no device process answers"
STALE_SOCKET = "nobody answers on"
SOCKET_DENIED = "may not open"
NO_DATA_DIR = "does not exist yet"
DATA_DIR_OWNER = "belongs to"
NO_CALIBRATION = "no platform calibration yet"
BAD_CALIBRATION = "cannot be used"
CELLS_MISMATCH = "cells but --pins gives"
DEVICE_FAULTS = "the device process reports"
DEVICE_NOT_ON_BOARDS = "the device process is not reading the HX711 boards"


def configure(sub):
    p = sub.add_parser(
        "doctor", help="check the HX711 wiring, GPIO, data directory and services",
        description="Check the hardware and the installation, and say what to fix. Keep the platform "
                    "empty and still while it measures. Exit status 0: nothing failed; 1: something to fix.")
    p.add_argument("--pins", metavar="D:C,...",
                   help="HX711 BCM pins as DOUT:SCK per cell, e.g. 5:6,17:27 (default: hardware.md)")
    p.add_argument("--seconds", type=_window, default=DEFAULT_WINDOW_S,
                   help=f"how long to read each chip (default {DEFAULT_WINDOW_S:g} s)")
    p.add_argument("--wait-s", type=_wait, default=0.0,
                   help="wait up to this long for the device process to answer (default 0: ask once)")
    return p


def _number(text: str, what: str, lo: float, hi: float) -> float:
    import argparse
    import math
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be a number, not {text!r}") from None
    if not (math.isfinite(value) and lo <= value <= hi):
        raise argparse.ArgumentTypeError(f"{what} must be between {lo:g} and {hi:g}, not {text}")
    return value


def _window(text: str) -> float:
    return _number(text, "--seconds", *WINDOW_RANGE_S)


def _wait(text: str) -> float:
    return _number(text, "--wait-s", 0.0, MAX_WAIT_S)


# --- what the doctor touches, injectable -----------------------------------------

@dataclass
class Surroundings:
    """Everything the checks reach outside: the machine's by default (``real()``), fakes in tests."""

    pin_opener: Callable[[int], Any]
    clock_ns: Callable[[], int]
    sleep: Callable[[float], None]
    monotonic: Callable[[], float]
    make_pin_factory: Callable[[], Any]
    runner: Callable[[Sequence[str]], subprocess.CompletedProcess]
    which: Callable[[str], str | None]
    dev_dir: Path = Path("/dev")
    user: str = "root"
    is_root: bool = False
    groups_of: Callable[[str], set[str] | None] = field(default=lambda name: None)
    uid_of: Callable[[str], int | None] = field(default=lambda name: None)
    access: Callable[[str, int], bool] = os.access
    #: The folder the units give the services (StateDirectory=knotcoach).
    service_data_dir: Path = Path("/var/lib/knotcoach")

    @classmethod
    def real(cls) -> "Surroundings":
        import shutil

        from firmware.cues.devices import default_pin_factory
        from firmware.sources.hx711_source import open_blinka_pin
        return cls(pin_opener=open_blinka_pin, clock_ns=time.perf_counter_ns, sleep=time.sleep,
                   monotonic=time.monotonic, make_pin_factory=default_pin_factory, runner=_run_command,
                   which=shutil.which, user=_current_user(), is_root=os.geteuid() == 0,
                   groups_of=_groups_of, uid_of=_uid_of)


def _run_command(argv: Sequence[str]) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=15, check=False)


def _current_user() -> str:
    import pwd
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def _uid_of(name: str) -> int | None:
    import pwd
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return None


def _groups_of(name: str) -> set[str] | None:
    """A user's groups (primary and supplementary); None when there is no such user."""
    import grp
    import pwd
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return {g.gr_name for g in grp.getgrall() if name in g.gr_mem or g.gr_gid == entry.pw_gid}


# --- the installation's checks ------------------------------------------------------

def check_data_dir(data_dir: Path, *, n_cells: int, env: Surroundings) -> tuple[list[Check], Any]:
    """The data directory and its platform.json; (checks, the stored PlatformCalibration or None)."""
    from calibration.files import StoreError
    from calibration.platform_store import load_platform, platform_path
    subject = "data directory"
    if not data_dir.exists():
        return [Check(WARN, subject, f"{data_dir} {NO_DATA_DIR}: the device process or deploy/install.sh "
                                     "creates it")], None
    if not data_dir.is_dir():
        return [Check(FAIL, subject, f"{data_dir} is not a folder: move it aside")], None
    if not env.access(str(data_dir), os.R_OK | os.X_OK):
        return [Check(WARN, subject, f"{env.user} cannot look inside {data_dir}: run 'sudo knotcoach doctor' "
                                     "to check it")], None
    out = [_data_dir_owner(data_dir, env)]
    subject = "platform.json"
    try:
        platform = load_platform(data_dir)
    except (StoreError, ValueError) as e:
        out.append(Check(FAIL, subject, f"{BAD_CALIBRATION}: {e}; move {platform_path(data_dir)} aside and "
                                        "calibrate again (hardware.md section 7)"))
        return out, None
    except PermissionError:
        out.append(Check(WARN, subject, f"{env.user} may not read it: run 'sudo knotcoach doctor'"))
        return out, None
    if platform is None:
        out.append(Check(WARN, subject, f"{NO_CALIBRATION}: forces are rough estimates until you calibrate "
                                        "(hardware.md section 7)"))
        return out, None
    if platform.n_cells != n_cells:
        out.append(Check(FAIL, subject, f"the calibration has {platform.n_cells} {CELLS_MISMATCH} {n_cells}: "
                                        "give the pins of the calibrated cells, or calibrate again"))
        return out, platform
    when = platform.extra.get("calibrated_at", "?")
    out.append(Check(OK, subject, f"calibrated {when}, {platform.n_cells} cells at {platform.rate_hz:g} "
                                  "samples/s"))
    return out, platform


def _data_dir_owner(data_dir: Path, env: Surroundings) -> Check:
    """The service user owns the data directory (or, without one, this user can write it)."""
    service_uid = env.uid_of(SERVICE_USER)
    owner_uid = data_dir.stat().st_uid
    if service_uid is not None and owner_uid == service_uid:
        return Check(OK, "data directory", f"{data_dir} belongs to {SERVICE_USER}")
    if service_uid is not None and data_dir.resolve() == env.service_data_dir.resolve():
        return Check(FAIL, "data directory", f"{data_dir} {DATA_DIR_OWNER} uid {owner_uid}, not {SERVICE_USER}: "
                                             f"sudo chown -R {SERVICE_USER}:{SERVICE_USER} {data_dir}")
    if env.access(str(data_dir), os.W_OK):
        return Check(OK, "data directory", f"{data_dir} is writable by {env.user}")
    return Check(FAIL, "data directory", f"{data_dir} is not writable by {env.user}: fix its owner or use "
                                         "--data-dir")


def check_units(env: Surroundings) -> tuple[list[Check], dict[str, dict[str, str]]]:
    """Each unit installed, enabled and running; (checks, systemctl's properties per unit)."""
    if env.which("systemctl") is None:
        return [Check(WARN, "systemd units", "systemctl not found: the units are not checked")], {}
    states: dict[str, dict[str, str]] = {}
    out = []
    for unit in UNITS:
        try:
            done = env.runner(["systemctl", "show", unit, "--property",
                               "LoadState,UnitFileState,ActiveState,SubState,ExecMainStatus"])
        except (OSError, subprocess.SubprocessError) as e:
            return [Check(WARN, "systemd units", f"systemctl cannot be run ({e}): the units are not checked")], {}
        if done.returncode != 0:
            why = (done.stderr or done.stdout or "").strip().splitlines()[:1] or ["no reason given"]
            return [Check(WARN, "systemd units", f"systemctl cannot ask systemd ({why[0]}): the units are "
                                                 "not checked")], {}
        props = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
        states[unit] = props
        out.append(_unit_check(unit, props))
    return out, states


def _unit_check(unit: str, props: dict[str, str]) -> Check:
    if props.get("LoadState") != "loaded":
        return Check(WARN, unit, f"{UNIT_NOT_INSTALLED} (fine while testing on a laptop; on the Pi: "
                                 "sudo deploy/install.sh)")
    if props.get("UnitFileState") not in ("enabled", "enabled-runtime"):
        return Check(FAIL, unit, f"{UNIT_NOT_ENABLED}, so it will not start at boot: sudo systemctl enable "
                                 f"--now {unit}")
    active = props.get("ActiveState")
    if active == "active":
        return Check(OK, unit, "enabled and running")
    if active in ("activating", "reloading"):
        return Check(WARN, unit, f"starting ({props.get('SubState', '?')}): check again in a few seconds")
    if active == "failed":
        status = props.get("ExecMainStatus", "?")
        meaning = " (a configuration error: restarting will not help until it is fixed)" if status == "2" else ""
        return Check(FAIL, unit, f"{UNIT_FAILED} with exit status {status}{meaning}: 'journalctl -u {unit} "
                                 f"-n 30' says why; then sudo systemctl restart {unit}")
    return Check(FAIL, unit, f"{UNIT_STOPPED}: sudo systemctl start {unit}")


def check_socket(path: Path, *, expected: bool, wait_s: float, env: Surroundings,
                 give_up: Callable[[], bool] = lambda: False) -> tuple[Check, dict | None]:
    """The device process answers on its socket with a hello; (check, the hello's state or None).

    ``expected``: the device unit is installed and enabled, so silence is a failure, not a note.
    Tries again every SOCKET_RETRY_S until ``wait_s`` has passed (a device process still starting)
    or ``give_up()`` says waiting is pointless (its unit has stopped).
    """
    deadline = env.monotonic() + wait_s
    while True:
        try:
            hello = read_hello(path)
            return Check(OK, "device socket", f"the device process answers on {path}"), hello.get("state") or {}
        except (FileNotFoundError, ConnectionRefusedError, socket.timeout) as e:
            problem = e
        except PermissionError:
            return Check(WARN, "device socket", f"{env.user} {SOCKET_DENIED} {path} (it belongs to "
                                                f"{SERVICE_USER}): run 'sudo knotcoach doctor'"), None
        except (OSError, ValueError) as e:  # ChannelError is a ValueError
            problem = e
        if env.monotonic() >= deadline or give_up():
            break
        env.sleep(SOCKET_RETRY_S)
    status = FAIL if expected else WARN
    if isinstance(problem, FileNotFoundError):
        return Check(status, "device socket", f"{NO_SOCKET} (nothing at {path}): sudo systemctl start "
                                              f"{DEVICE_UNIT}, or 'knotcoach run'"), None
    return Check(status, "device socket", f"{STALE_SOCKET} {path} ({type(problem).__name__}: {problem}): the "
                                          f"device process died; 'journalctl -u {DEVICE_UNIT}' says why"), None


def read_hello(path: Path, timeout_s: float = 2.0) -> dict:
    """Connect to the device socket and return its first message, which must be a hello."""
    from firmware.device.channel import ChannelError, Decoder
    decoder = Decoder()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        sock.connect(str(path))
        while True:
            data = sock.recv(65536)
            if not data:
                raise ConnectionRefusedError("the device process closed the connection without a hello")
            for message in decoder.feed(data):
                if message.get("type") != "hello":
                    raise ChannelError(f"expected a hello, got {message.get('type')!r}")
                return message


# --- putting it together ------------------------------------------------------------

def diagnose(data_dir: Path, pins: Sequence[tuple[Any, Any]], *, env: Surroundings,
             window_s: float = DEFAULT_WINDOW_S, wait_s: float = 0.0) -> list[Check]:
    """Every check, in the order a person fixes things: access, files, services, then the chips."""
    from firmware.cues.devices import BUTTON1_PIN, BUTTON2_PIN
    from firmware.hardware import doctor
    checks = doctor.check_gpio_access(env.dev_dir, user=env.user, is_root=env.is_root, groups_of=env.groups_of,
                                      access=env.access, service_user=SERVICE_USER)
    factory_check, factory = doctor.check_pin_factory(env.make_pin_factory)
    checks.append(factory_check)
    dir_checks, platform = check_data_dir(data_dir, n_cells=len(pins), env=env)
    checks += dir_checks
    unit_checks, states = check_units(env)
    device = states.get(DEVICE_UNIT, {})
    expected = device.get("UnitFileState") in ("enabled", "enabled-runtime")
    socket_check, state = check_socket(data_dir / SOCKET_NAME, expected=expected, wait_s=wait_s, env=env,
                                       give_up=lambda: expected and _device_stopped(env))
    if state is None and wait_s > 0 and states:
        unit_checks, states = check_units(env)  # the device may have stopped while we waited: say so
        device = states.get(DEVICE_UNIT, {})
    checks += [*unit_checks, socket_check]
    try:
        if state is not None or device.get("ActiveState") == "active":
            checks.append(_device_holds_pins(state))
            return checks
        cpn = [c.counts_per_newton for c in platform.cells] if platform is not None else None
        rate = platform.rate_hz if platform is not None else 80.0
        checks += doctor.check_chips(pins, pin_opener=env.pin_opener, clock_ns=env.clock_ns, sleep=env.sleep,
                                     window_s=window_s, expect_rate_hz=rate, counts_per_newton=cpn)
        if factory is not None:
            checks += doctor.check_buttons(factory, [("button 1", BUTTON1_PIN), ("button 2", BUTTON2_PIN)])
        return checks
    finally:
        if factory is not None:
            factory.close()


def _device_stopped(env: Surroundings) -> bool:
    """Whether the device unit has stopped or failed (waiting for its socket is then pointless)."""
    try:
        done = env.runner(["systemctl", "show", DEVICE_UNIT, "--property", "ActiveState"])
    except (OSError, subprocess.SubprocessError):
        return False
    return done.stdout.strip() in ("ActiveState=failed", "ActiveState=inactive")


def _device_holds_pins(state: dict | None) -> Check:
    """What stands in for the chip checks while the device process holds the pins."""
    how = (f"to measure rate and noise: sudo systemctl stop {DEVICE_UNIT}; knotcoach doctor; "
           f"sudo systemctl start {DEVICE_UNIT}")
    if state is None:
        return Check(WARN, "HX711 chips", f"not probed: {DEVICE_UNIT} is running and holds the pins; {how}")
    faults = state.get("faults") or []
    if faults:
        cells = ", ".join(str(c) for c in faults)
        return Check(FAIL, "HX711 chips", f"{DEVICE_FAULTS} cell {cells} in fault (sensor_fault): {how}")
    kind = (state.get("source") or {}).get("kind", "hx711")
    if kind != "hx711":
        return Check(WARN, "HX711 chips", f"{DEVICE_NOT_ON_BOARDS} ({kind}); {how}")
    return Check(OK, "HX711 chips", f"not probed: the device process holds the pins and reports no faulted "
                                    f"cell ({how})")


def summary(checks: Sequence[Check]) -> tuple[str, int]:
    """The last line and the exit status: 1 when any check FAILs."""
    fails = sum(c.status == FAIL for c in checks)
    warns = sum(c.status == WARN for c in checks)
    if fails:
        return f"knotcoach doctor: {fails} to fix, {warns} to look at", 1
    if warns:
        return f"knotcoach doctor: nothing failed, {warns} to look at", 0
    return f"knotcoach doctor: all {len(checks)} checks OK", 0


def run(args, env: Surroundings | None = None) -> int:
    from firmware.sources.factory import SourceSpecError, parse_pins
    from server.cli_support import InputError, data_dir
    try:
        pins = parse_pins(args.pins)
    except SourceSpecError as e:
        raise InputError(str(e)) from None
    checks = diagnose(data_dir(args), pins, env=env or Surroundings.real(), window_s=args.seconds,
                      wait_s=args.wait_s)
    for check in checks:
        print(check.line(), flush=True)
    text, status = summary(checks)
    print(text)
    return status
