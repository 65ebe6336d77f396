"""``knotcoach run`` (device process + web process) and ``knotcoach serve`` (web process only).

What can be checked before anything starts is checked here, in this process,
so a mistake is one line and exit status 2: the stored calibration, the
person's scale, the band, the source's name and pins, a replay's file. The
device process checks again (it also runs on its own under systemd) and
exits 2 on a configuration error, which the supervisor does not restart.
"""

from __future__ import annotations

import sys

from server.cli_support import (DEFAULT_BAND_N, InputError, chosen_band, data_dir, person_profile, say,
                                stored_platform)


def device_argv(args, data, band: tuple[float, float] | None, cpu: int | None = None) -> list[str]:
    """The device process's command line for these ``knotcoach run`` options."""
    argv = [sys.executable, "-m", "firmware.device.main", "--data-dir", str(data), "--source", args.source,
            "--seed", str(args.seed), "--wait-client", "10", "--cpu", "none" if cpu is None else str(cpu)]
    if band is not None:
        argv += ["--band-newtons", f"{band[0]!r}:{band[1]!r}"]
    for option in ("pins", "seconds", "person", "region"):
        value = getattr(args, option, None)
        if value is not None:
            argv += [f"--{option}", str(value)]
    if args.knot is not None:
        argv += ["--knot", ",".join(repr(v) for v in args.knot if v is not None)]
    argv += ["--zone-mm", repr(args.zone_mm), "--dwell-s", repr(args.dwell_s)]
    if args.fast:
        argv.append("--fast")
    if getattr(args, "no_recordings", False):
        argv.append("--no-recordings")
    if args.speed != 1.0:
        argv += ["--speed", repr(args.speed)]
    return argv


def _check_source(args) -> str:
    """The source's kind, after checking what can be checked without opening it."""
    from firmware.recordings.format import RecordingError, read_recording
    from firmware.sources.factory import SourceSpecError, parse_pins
    kind, _, arg = args.source.partition(":")
    kinds = {"auto": "hx711", "hx711": "hx711", "sim": "simulated", "simulated": "simulated", "replay": "replay"}
    if kind not in kinds:
        raise InputError(f"unknown source {args.source!r}: use auto, hx711, sim or replay:FILE")
    if kind == "replay":
        if not arg:
            raise InputError("replay needs a file: --source replay:REC.csv")
        try:
            read_recording(arg)  # the whole file: a broken row is named now, not mid-session
        except RecordingError as e:
            raise InputError(str(e)) from None
    try:
        parse_pins(args.pins)
    except SourceSpecError as e:
        raise InputError(str(e)) from None
    if args.speed != 1.0 and kinds[kind] != "simulated":
        raise InputError("--speed is for the simulated platform (--source sim)")
    return kinds[kind]


def run(args) -> int:
    from firmware.device.channel_server import answers
    from firmware.device.main import SOCKET_NAME
    from firmware.device.realtime import own_cpu
    from server.runner import Runtime, StopSignal, WebOptions, supervise
    from server.supervisor import DeviceProcess

    kind = _check_source(args)
    if not args.no_web:
        _check_host(args.host)
    stored_platform(args)  # a damaged calibration file is named here, before anything starts
    band = None
    if args.person:
        profile = person_profile(args)
        lo, hi = profile.band_n()
        say(f"{profile.person}'s {profile.region} band: {lo:.0f}-{hi:.0f} N (4/10 to 5/10)")
    else:
        band = chosen_band(args)
        if band is None:
            band = DEFAULT_BAND_N
            say(f"no personal scale given: using a band of {band[0]:g}-{band[1]:g} N (calibrate one with "
                 "'knotcoach calibrate person', then choose the person on the tablet or with --person)")
    data = data_dir(args)
    _prepare(data)
    web = None if args.no_web else WebOptions(args.host, args.port)
    cpu = own_cpu()  # chosen here: a restarted device must not inherit the web process's CPUs
    device = DeviceProcess(device_argv(args, data, band, cpu), say=say)
    if answers(data / SOCKET_NAME):
        # This process was restarted while its device process kept coaching (or a systemd
        # unit runs one): follow that one rather than fight it for the boards.
        say("a device process is already coaching here; following it (it goes on after this stops)")
        device = AlreadyRunning()
    runtime = Runtime(data, out=sys.stdout, say=say, web=web, source_kind=kind, device_cpu=cpu)
    with StopSignal() as stop:
        device.start()
        try:
            runtime.start()
            code = supervise(device, runtime, stop.event, say)
        except OSError as e:
            raise InputError(f"cannot serve the tablet page on {args.host}:{args.port}: {e.strerror or e}") from None
        finally:
            device.stop()
            runtime.stop()
    say("stopped")
    return code


class AlreadyRunning:
    """Stands for a device process this run did not start: never stopped or restarted from here."""

    state, exit_code = "running", None

    def start(self) -> "AlreadyRunning":
        return self

    def check(self) -> str:
        return self.state

    def stop(self) -> None:
        return None


def serve(args) -> int:
    from firmware.device.realtime import own_cpu
    from server.runner import Runtime, StopSignal, WebOptions

    _check_host(args.host)
    data = data_dir(args)
    _prepare(data)
    runtime = Runtime(data, out=None, say=say, web=WebOptions(args.host, args.port),
                      source_kind="hx711", device_cpu=own_cpu())  # the source kind until the device says
    with StopSignal() as stop:
        try:
            runtime.start()
            say("following the device process (started separately, e.g. by knotcoach-device.service)")
            while not stop.event.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        except OSError as e:
            raise InputError(f"cannot serve the tablet page on {args.host}:{args.port}: {e.strerror or e}") from None
        finally:
            runtime.stop()
    say("stopped")
    return 0


def _check_host(host: str) -> None:
    """A --host that names no address of this machine is refused before anything starts."""
    import socket
    try:
        socket.getaddrinfo(host, None)
    except (OSError, UnicodeError) as e:
        raise InputError(f"--host {host!r}: not an address this machine can listen on ({e})") from None


def _prepare(data) -> None:
    try:
        data.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{data}: cannot use it as the data directory: {e.strerror or e}") from None
    if not data.is_dir():
        raise InputError(f"{data}: is not a folder")
