"""The appliance's files: systemd units, the avahi announcement, deploy/install.sh, hardware.md.

The units are checked with ``systemd-analyze verify`` (on copies whose
ExecStart points at stub executables, since /opt/knotcoach does not exist
here; every other line is verified as written) and their command lines are
parsed by the real parsers. The installer runs against a scratch root with
the commands that would change the system (apt-get, useradd, systemctl,
pip...) shadowed by recorders that must never be called.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
UNITS = ("knotcoach-device.service", "knotcoach-web.service")
VENV_BIN = "/opt/knotcoach/.venv/bin/"
INSTALL_TIMEOUT_S = 120
#: What the installer copies from a checkout (the test runs it from a private copy).
PROJECT = ("pyproject.toml", "README.md", "hardware.md", "firmware", "calibration", "server", "deploy")
#: Commands the installer must never run against a scratch root.
SYSTEM_COMMANDS = ("apt-get", "useradd", "usermod", "groupadd", "systemctl", "pip", "pip3", "hostnamectl",
                   "chown", "python3", "sudo", "raspi-config")
BOOKWORM = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_CODENAME=bookworm\n'


def unit_lines(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment in a unit file, in order (keys may repeat)."""
    out, section = [], None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def values(path: Path, key: str, section: str | None = None) -> list[str]:
    return [v for s, k, v in unit_lines(path) if k == key and (section is None or s == section)]


def one(path: Path, key: str) -> str:
    found = values(path, key)
    assert len(found) == 1, (path.name, key, found)
    return found[0]


# --- the unit files -------------------------------------------------------------------------

def verify_units(units: list[Path], tmp_path: Path) -> str:
    """``systemd-analyze verify`` on copies of ``units`` whose /opt/knotcoach/.venv/bin/ commands
    are stub executables in tmp_path; everything it printed (empty when the units are clean)."""
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: scripts/test-deps installs it (apt-get install systemd)"
    stubs, copies = tmp_path / "bin", tmp_path / "units"
    stubs.mkdir(parents=True, exist_ok=True)
    copies.mkdir(parents=True, exist_ok=True)
    for name in ("python", "knotcoach"):
        stub = stubs / name
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    paths = []
    for unit in units:
        text = unit.read_text()
        assert f"ExecStart={VENV_BIN}" in text  # so only the executable's folder differs from the real unit
        copy = copies / unit.name
        copy.write_text(text.replace(VENV_BIN, f"{stubs}/"))
        paths.append(str(copy))
    done = subprocess.run([analyze, "verify", *paths], capture_output=True, text=True, timeout=60)
    return (done.stdout + done.stderr).strip() + ("" if done.returncode == 0 else f"\nexit {done.returncode}")


def test_units_pass_systemd_analyze_verify(tmp_path):
    assert verify_units([DEPLOY / "systemd" / u for u in UNITS], tmp_path) == ""


def test_the_verification_catches_unit_file_mistakes(tmp_path):
    bad = tmp_path / "knotcoach-device.service"
    text = (DEPLOY / "systemd" / UNITS[0]).read_text()
    bad.write_text(text.replace("CPUSchedulingPolicy=fifo", "CPUSchedulingPolicy=fifoo")
                   .replace("DevicePolicy=closed", "DevicePolicy=closed\nDeviceAlow=char-gpiochip rw"))
    said = verify_units([bad], tmp_path / "v")
    assert "Failed to parse CPU scheduling policy" in said and "Unknown key" in said


def test_device_unit_runs_the_device_process_at_real_time_priority():
    unit = DEPLOY / "systemd" / "knotcoach-device.service"
    argv = shlex.split(one(unit, "ExecStart"))
    assert argv[:5] == [f"{VENV_BIN}python", "-m", "firmware.device.main", "--data-dir", "%S/knotcoach"]
    assert one(unit, "CPUSchedulingPolicy") == "fifo"
    priority = one(unit, "CPUSchedulingPriority")
    # The process asks for the same priority again; LimitRTPRIO lets it, and a lower --priority would demote it.
    assert argv[argv.index("--priority") + 1] == priority == one(unit, "LimitRTPRIO")
    assert 1 <= int(priority) <= 99
    assert "#CPUAffinity=" in unit.read_text()
    for key, want in [("User", "knotcoach"), ("SupplementaryGroups", "gpio"), ("StateDirectory", "knotcoach"),
                      ("Restart", "on-failure"), ("RestartPreventExitStatus", "2"),
                      ("DevicePolicy", "closed"), ("DeviceAllow", "char-gpiochip rw"),
                      ("WantedBy", "multi-user.target")]:
        assert one(unit, key) == want, key
    # Hardening that would take the GPIO or real time away must not be there.
    assert not values(unit, "PrivateDevices") and not values(unit, "RestrictRealtime")


def test_web_unit_serves_the_tablet_after_the_device():
    unit = DEPLOY / "systemd" / "knotcoach-web.service"
    argv = shlex.split(one(unit, "ExecStart"))
    assert argv[:8] == [f"{VENV_BIN}knotcoach", "serve", "--data-dir", "%S/knotcoach", "--host", "0.0.0.0",
                        "--port", "8080"]
    assert "knotcoach-device.service" in one(unit, "After").split()
    assert "knotcoach-device.service" in one(unit, "Wants").split()
    for key, want in [("User", "knotcoach"), ("StateDirectory", "knotcoach"), ("Restart", "on-failure"),
                      ("WantedBy", "multi-user.target")]:
        assert one(unit, key) == want, key


def exec_args(unit: Path, env_file_text: str) -> list[str]:
    """The unit's ExecStart arguments after the program, as systemd would pass them."""
    env = dict(line.split("=", 1) for line in env_file_text.splitlines() if line and not line.startswith("#"))
    argv = []
    for word in shlex.split(one(unit, "ExecStart").replace("%S", "/var/lib")):
        if word.startswith("$"):
            argv += env.get(word[1:], "").split()  # $VAR: split on whitespace, like systemd
        else:
            argv.append(word)
    return argv


def installed_env(tmp_path: Path, name: str) -> str:
    root = scratch_root(tmp_path)
    run_install(root, tmp_path, "--no-doctor")
    return (root / "etc/knotcoach" / name).read_text()


def test_unit_command_lines_parse_with_the_real_parsers(tmp_path):
    from firmware.device.main import build_parser as device_parser
    from server.cli import build_parser as cli_parser
    device = exec_args(DEPLOY / "systemd" / UNITS[0], installed_env(tmp_path, "device.env"))
    args = device_parser().parse_args(device[3:])
    assert args.source == "hx711" and str(args.data_dir) == "/var/lib/knotcoach" and args.priority == 20
    web = exec_args(DEPLOY / "systemd" / UNITS[1], installed_env(tmp_path / "w", "web.env"))
    args = cli_parser().parse_args(web[1:])
    assert args.command == "serve" and args.port == 8080 and args.data_dir == "/var/lib/knotcoach"


def test_avahi_announces_the_tablet_port():
    tree = ET.parse(DEPLOY / "avahi" / "knotcoach.service")
    service = tree.getroot().find("service")
    assert tree.getroot().tag == "service-group"
    assert service.findtext("type") == "_http._tcp"
    web = shlex.split(one(DEPLOY / "systemd" / UNITS[1], "ExecStart"))
    assert service.findtext("port") == web[web.index("--port") + 1]


def test_web_files_are_package_data_for_the_installed_copy():
    """The installer pip-installs a copy (not editable): templates and static files must be package data."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    package_data = config["tool"]["setuptools"]["package-data"]
    shipped = set()
    for package, patterns in package_data.items():
        base = ROOT / package.replace(".", "/")
        for pattern in patterns:
            shipped |= {Path(p) for p in glob.glob(str(base / pattern), recursive=True) if os.path.isfile(p)}
    web = ROOT / "server" / "web"
    needed = {p for d in ("templates", "static") for p in (web / d).rglob("*") if p.is_file()}
    assert needed, "no templates or static files found"
    missing = sorted(str(p.relative_to(ROOT)) for p in needed - shipped)
    assert not missing, f"not in [tool.setuptools.package-data]: {missing[:5]}"


# --- the installer --------------------------------------------------------------------------

def test_install_script_is_valid_bash_and_strict():
    script = DEPLOY / "install.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True, timeout=30).returncode == 0
    assert os.access(script, os.X_OK)
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
    assert "break-system-packages" not in text and "sudo pip" not in text


# scripts/test installs shellcheck; in CI its absence is a failure, not a skip.
@pytest.mark.skipif(shutil.which("shellcheck") is None and os.environ.get("CI") != "true",
                    reason="shellcheck not installed (apt-get install shellcheck)")
def test_install_script_passes_shellcheck(tmp_path):
    done = subprocess.run(["shellcheck", str(DEPLOY / "install.sh")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout
    root = scratch_root(tmp_path)
    run_install(root, tmp_path, "--no-doctor")
    done = subprocess.run(["shellcheck", str(root / "usr/local/bin/knotcoach")], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout


def scratch_root(tmp_path: Path, os_release: str = BOOKWORM) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "os-release").write_text(os_release)
    return root


def checkout_copy(tmp_path: Path) -> Path:
    """A private copy of the checkout, so the files other work changes meanwhile do not matter."""
    copy = tmp_path / "checkout"
    if not copy.exists():
        ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
        for name in PROJECT:
            src = ROOT / name
            if src.is_dir():
                shutil.copytree(src, copy / name, ignore=ignore)
            else:
                copy.mkdir(exist_ok=True)
                shutil.copy2(src, copy / name)
    return copy


def recorders(tmp_path: Path) -> tuple[Path, Path]:
    """A PATH folder where every system-changing command only records that it was called."""
    folder, log = tmp_path / "recorders", tmp_path / "called.log"
    folder.mkdir(exist_ok=True)
    for name in SYSTEM_COMMANDS:
        stub = folder / name
        stub.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\nexit 0\n')
        stub.chmod(0o755)
    return folder, log


def run_install(root: Path | None, tmp_path: Path, *options: str, checkout: Path | None = None):
    checkout = checkout or checkout_copy(tmp_path)
    folder, log = recorders(tmp_path)
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    env = {**os.environ, "PATH": f"{folder}:{os.environ['PATH']}", "TMPDIR": str(tmp), "HOME": str(tmp_path)}
    argv = [str(checkout / "deploy" / "install.sh"), *(["--root", str(root)] if root else []), *options]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, env=env,
                          cwd=tmp_path)
    done.called = log.read_text() if log.exists() else ""
    done.tmp_left = sorted(os.listdir(tmp))
    return done


def tree(folder: Path) -> dict[str, str]:
    """Every file under folder: relative path -> mode and content hash."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(folder))] = f"{p.stat().st_mode:o} {hashlib.sha256(p.read_bytes()).hexdigest()}"
    return out


REAL_PATHS = [Path(p) for p in ("/opt/knotcoach", "/etc/knotcoach", "/var/lib/knotcoach", "/usr/local/bin/knotcoach",
                                "/etc/systemd/system/knotcoach-device.service",
                                "/etc/systemd/system/knotcoach-web.service", "/etc/avahi/services/knotcoach.service")]


def system_snapshot() -> tuple:
    users = subprocess.run(["getent", "passwd", "knotcoach"], capture_output=True, text=True).stdout
    return tuple(p.exists() for p in REAL_PATHS), users


def test_install_into_a_scratch_root_places_every_file_and_changes_nothing_else(tmp_path):
    root = scratch_root(tmp_path)
    checkout = checkout_copy(tmp_path)
    before_checkout, before_system = tree(checkout), system_snapshot()
    done = run_install(root, tmp_path, checkout=checkout)
    assert done.returncode == 0, done.stderr
    for unit in UNITS:
        assert (root / "etc/systemd/system" / unit).read_bytes() == (DEPLOY / "systemd" / unit).read_bytes()
        assert f"installed: /etc/systemd/system/{unit}" in done.stdout
    assert (root / "etc/avahi/services/knotcoach.service").read_bytes() == \
        (DEPLOY / "avahi" / "knotcoach.service").read_bytes()
    src = root / "opt/knotcoach/src"
    assert (src / "pyproject.toml").is_file() and (src / "firmware/device/main.py").is_file()
    assert not list(src.rglob("__pycache__"))
    assert (root / "var/lib/knotcoach").is_dir() and oct((root / "var/lib/knotcoach").stat().st_mode)[-3:] == "750"
    assert "KNOTCOACH_DEVICE_OPTS=--source hx711" in (root / "etc/knotcoach/device.env").read_text()
    wrapper = root / "usr/local/bin/knotcoach"
    assert os.access(wrapper, os.X_OK) and "exec /opt/knotcoach/.venv/bin/knotcoach" in wrapper.read_text()
    # sudo knotcoach ... works as the service user, so files in the data directory keep their owner.
    assert "exec runuser -u knotcoach -- env STATE_DIRECTORY=" in wrapper.read_text()
    assert subprocess.run(["sh", "-n", str(wrapper)]).returncode == 0
    # The system-changing steps are announced, never run.
    would = [line for line in done.stdout.splitlines() if line.startswith("would run: ")]
    for words in ("apt-get install", "useradd --system", "usermod -aG gpio knotcoach", "python3 -m venv",
                  "pip install --quiet --upgrade /opt/knotcoach/src[pi]", "systemctl enable knotcoach-device",
                  "systemctl restart", "knotcoach doctor"):
        assert any(words in line for line in would), words
    assert done.called == "" and done.tmp_left == []
    assert system_snapshot() == before_system and tree(checkout) == before_checkout
    assert {p.name for p in root.iterdir()} == {"etc", "opt", "usr", "var"}


def test_install_is_idempotent_and_keeps_edited_settings(tmp_path):
    root = scratch_root(tmp_path)
    assert run_install(root, tmp_path).returncode == 0
    env_file = root / "etc/knotcoach/device.env"
    env_file.write_text("KNOTCOACH_DEVICE_OPTS=--source hx711 --pins 5:6,17:27\n")
    first = tree(root)
    again = run_install(root, tmp_path)
    assert again.returncode == 0, again.stderr
    assert tree(root) == first
    placed = [line for line in again.stdout.splitlines() if line.split(":")[0] in ("installed", "created", "copied the project to")]
    assert placed == []
    assert "kept as it is: /etc/knotcoach/device.env" in again.stdout
    assert "unchanged: /etc/systemd/system/knotcoach-device.service" in again.stdout
    assert again.called == ""


def test_a_changed_unit_is_installed_again(tmp_path):
    root = scratch_root(tmp_path)
    checkout = checkout_copy(tmp_path)
    assert run_install(root, tmp_path, checkout=checkout).returncode == 0
    unit = checkout / "deploy/systemd/knotcoach-web.service"
    unit.write_text(unit.read_text().replace("RestartSec=2", "RestartSec=3"))
    done = run_install(root, tmp_path, checkout=checkout)
    assert "installed: /etc/systemd/system/knotcoach-web.service" in done.stdout
    assert "RestartSec=3" in (root / "etc/systemd/system/knotcoach-web.service").read_text()


def test_dry_run_into_a_scratch_root_writes_nothing(tmp_path):
    root = scratch_root(tmp_path)
    done = run_install(root, tmp_path, "--dry-run", "--hostname", "knotcoach")
    assert done.returncode == 0, done.stderr
    assert tree(root) == {"etc/os-release": tree(root)["etc/os-release"]}
    assert "would install: /etc/systemd/system/knotcoach-device.service" in done.stdout
    assert "would run: hostnamectl set-hostname knotcoach" in done.stdout
    assert done.called == "" and done.tmp_left == []


def test_the_installed_command_defaults_to_the_appliance_data(tmp_path):
    root = scratch_root(tmp_path)
    run_install(root, tmp_path, "--no-doctor")
    text = (root / "usr/local/bin/knotcoach").read_text()
    probe = tmp_path / "probe"
    # The real command prints its environment instead; as root the wrapper would switch to the
    # service user, which this machine has not got: that switch is left out here.
    probe.write_text(text.replace("/opt/knotcoach/.venv/bin/knotcoach", "/usr/bin/env")
                     .replace("runuser -u knotcoach -- ", ""))
    probe.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "STATE_DIRECTORY"}
    out = subprocess.run([str(probe)], capture_output=True, text=True, env=env, timeout=30).stdout
    assert "STATE_DIRECTORY=/var/lib/knotcoach" in out.splitlines()
    out = subprocess.run([str(probe)], capture_output=True, text=True, timeout=30,
                         env={**env, "STATE_DIRECTORY": "/elsewhere"}).stdout
    assert "STATE_DIRECTORY=/elsewhere" in out.splitlines()


def assert_refused(done, words):
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1 and words in done.stderr
    assert done.called == ""


@pytest.mark.parametrize("os_release, words", [
    ('ID=ubuntu\nID_LIKE=debian\nVERSION_CODENAME=noble\nPRETTY_NAME="Ubuntu 24.04 LTS"\n', "unsupported release"),
    ('ID=debian\nVERSION_CODENAME=bullseye\nPRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\n', "unsupported release"),
    ('ID=fedora\nVERSION_CODENAME=\nPRETTY_NAME="Fedora Linux 40"\n', "unsupported system: Fedora Linux 40"),
])
def test_install_refuses_an_unsupported_system(tmp_path, os_release, words):
    root = scratch_root(tmp_path, os_release)
    assert_refused(run_install(root, tmp_path), words)
    assert tree(root) == {"etc/os-release": tree(root)["etc/os-release"]}


@pytest.mark.parametrize("options, words", [
    (["--bogus"], "unknown option '--bogus'"),
    (["--hostname", "Knot_Coach"], "--hostname 'Knot_Coach'"),
    (["--root"], "--root needs a folder"),
])
def test_install_refuses_bad_options(tmp_path, options, words):
    assert_refused(run_install(None, tmp_path, *options), words)


def test_install_refuses_a_missing_root(tmp_path):
    assert_refused(run_install(tmp_path / "nope", tmp_path), "no such folder")


def test_install_refuses_to_run_without_root_or_a_scratch_root(tmp_path):
    script = str(DEPLOY / "install.sh")  # the checkout itself: the refusal comes before anything is read
    if os.geteuid() == 0:
        argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", script]
    else:
        argv = [script]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd="/")
    done.called = ""
    assert_refused(done, "run as root")


# --- hardware.md ----------------------------------------------------------------------------

#: BCM GPIO number -> physical pin on the 40-pin header (the same on every 40-pin Pi).
BCM_TO_PIN = {2: 3, 3: 5, 4: 7, 17: 11, 27: 13, 22: 15, 10: 19, 9: 21, 11: 23, 0: 27, 5: 29, 6: 31, 13: 33,
              19: 35, 26: 37, 14: 8, 15: 10, 18: 12, 23: 16, 24: 18, 25: 22, 8: 24, 7: 26, 1: 28, 12: 32,
              16: 36, 20: 38, 21: 40}
GND_PINS = {6, 9, 14, 20, 25, 30, 34, 39}
PINS_3V3 = {1, 17}
HARDWARE = (ROOT / "hardware.md").read_text()


def section(title: str) -> str:
    start = HARDWARE.index(title)
    end = HARDWARE.find("\n## ", start + len(title))
    return HARDWARE[start:end if end > 0 else None]


def table_rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not re.match(r"^\|[\s\-|]+\|$", line):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows[1:] if rows else rows


def test_every_connection_in_the_wiring_table_matches_the_code_and_the_header():
    from firmware.cues.devices import BUTTON1_PIN, BUTTON2_PIN, BUZZER_PIN, LED_PIN
    from firmware.sources.hx711_source import DEFAULT_PINS
    rows = table_rows(section("### 3.6 Every connection at the Pi"))
    seen = {}
    for part, signal, bcm, pin in (r[:4] for r in rows):
        physical = int(re.fullmatch(r"pin (\d+)", pin).group(1))
        if bcm in ("–", "-", ""):
            assert (physical in GND_PINS) if "GND" in signal else (physical in PINS_3V3), (part, signal, pin)
            continue
        number = int(re.fullmatch(r"BCM (\d+)", bcm).group(1))
        assert BCM_TO_PIN[number] == physical, (part, signal, bcm, pin)
        seen[(part, signal)] = number
    for cell, (dout, sck) in enumerate(DEFAULT_PINS):
        assert seen[(f"HX711 board {cell}", "DOUT")] == dout and seen[(f"HX711 board {cell}", "SCK")] == sck
    assert seen[("Buzzer", "signal")] == BUZZER_PIN and seen[("LED", "anode (via resistor)")] == LED_PIN
    assert seen[("Button 1", "one leg")] == BUTTON1_PIN and seen[("Button 2", "one leg")] == BUTTON2_PIN
    assert len(set(seen.values())) == len(seen)  # no pin used twice


def test_troubleshooting_quotes_what_doctor_really_prints():
    source = (ROOT / "firmware/hardware/doctor.py").read_text() + (ROOT / "server/doctor_cmd.py").read_text()
    from firmware.hardware import doctor
    from server import doctor_cmd
    fragments = {v for m in (doctor, doctor_cmd) for k, v in vars(m).items() if k.isupper() and isinstance(v, str)}
    rows = table_rows(section("### 9.2 Troubleshooting"))
    quoted = [q for row in rows for q in re.findall(r"`([^`]+)`", row[1])]
    assert len(quoted) >= 20
    for q in quoted:
        assert q in fragments or q in source, q


def test_hardware_md_covers_the_appliance():
    for words in ("deploy/install.sh", "journalctl -u knotcoach-web", "knotcoach.local", "--hostname knotcoach",
                  "CPUSchedulingPolicy=fifo", "CPUAffinity", "knotcoach doctor", "StateDirectory",
                  "600 × 400", "wall", "RATE", "80 samples/s"):
        assert words in HARDWARE, words
    assert "(part 1)" not in HARDWARE and "is also coming" not in HARDWARE
