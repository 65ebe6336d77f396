"""The ``knotcoach`` command: one console script, one subcommand per job.

Bad input never ends in a traceback: one line on standard error, exit 2.
"""

from __future__ import annotations

import argparse
import math
import sys

from server import commands
from server.cli_support import InputError


class UsageError(Exception):
    """Bad command-line input; the message is shown as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage dump
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def finite(text: str, what: str = "value", minimum: float | None = None, strict: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be a number, not {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{what} must be a finite number, not {text!r}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        raise argparse.ArgumentTypeError(f"{what} must be {'>' if strict else '>='} {minimum:g}, not {text}")
    return value


#: What a platform under one person can carry and where on it a knot can be, with room to spare.
MAX_FORCE_N = 20_000.0
MAX_POSITION_MM = 10_000.0


def band_newtons(text: str) -> tuple[float, float]:
    parts = text.split(":")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"band must look like LO:HI in newtons, e.g. 150:200, not {text!r}")
    lo, hi = (finite(p, "band edge", minimum=0) for p in parts)
    if hi > MAX_FORCE_N:
        raise argparse.ArgumentTypeError(f"band edges must be at most {MAX_FORCE_N:g} N, not {text!r}")
    if not lo < hi:
        raise argparse.ArgumentTypeError(f"band LO must be below HI, not {text!r}")
    return lo, hi


def port_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a whole number, not {text!r}") from None
    if not 0 <= value <= 65535:  # 0: any free port (the pairing link tells which)
        raise argparse.ArgumentTypeError(f"port must be 0-65535, not {text}")
    return value


def _speed(text: str) -> float:
    value = finite(text, "speed", minimum=1.0)
    if value > 20:
        raise argparse.ArgumentTypeError(f"speed must be at most 20, not {text}")
    return value


def knot_position(text: str) -> tuple[float, float | None]:
    parts = text.split(",")
    if len(parts) not in (1, 2):
        raise argparse.ArgumentTypeError(f"knot must look like X_MM or X_MM,Y_MM, not {text!r}")
    values = [finite(p, "knot coordinate") for p in parts]
    if any(abs(v) > MAX_POSITION_MM for v in values):
        raise argparse.ArgumentTypeError(f"knot coordinates must lie within {MAX_POSITION_MM:g} mm, not {text!r}")
    return values[0], (values[1] if len(values) == 2 else None)


def _positive(what: str, strict: bool = True):
    def parse(text: str) -> float:
        return finite(text, what, minimum=0, strict=strict)
    parse.__name__ = what
    return parse


def _bounded(what: str, most: float, strict: bool = True):
    def parse(text: str) -> float:
        value = finite(text, what, minimum=0, strict=strict)
        if value > most:
            raise argparse.ArgumentTypeError(f"{what} must be at most {most:g}, not {text}")
        return value
    parse.__name__ = what
    return parse


class _formatter(argparse.HelpFormatter):
    """Keeps every subcommand's help on its own line: argparse measures the
    subcommand names two columns short of where it prints them."""

    def add_argument(self, action):
        super().add_argument(action)
        for sub in getattr(action, "_get_subactions", lambda: [])():
            self._action_max_length = max(self._action_max_length,
                                          len(sub.metavar or sub.dest) + self._current_indent + 2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="knotcoach", formatter_class=_formatter, description="Knot Coach: a load-cell platform that coaches "
                     "releasing a muscle knot with a foam roller or massage ball.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    run = sub.add_parser("run", help="start the coach (simulated platform if no HX711 boards)",
                         description="Start the coach on the platform (or the simulator).")
    _source_options(run)
    _data_dir_option(run)
    _watch_options(run, band_required=False)
    run.add_argument("--person", metavar="NAME", help="use this person's stored scale for --region")
    run.add_argument("--seconds", type=_positive("seconds"), help="stop after this many seconds")
    run.add_argument("--host", default="0.0.0.0", help="address the tablet page listens on (default: the LAN)")
    run.add_argument("--port", type=port_number, default=8080, help="port of the tablet page (default 8080)")
    run.add_argument("--no-web", action="store_true", help="coach in the terminal only, without the tablet page")
    run.add_argument("--no-recordings", action="store_true",
                     help="keep no raw recording of each session (default: kept in DATA/recordings)")
    run.add_argument("--speed", type=_speed, default=1.0,
                     help="simulator only: simulated time runs this many times real time (1-20)")

    serve = sub.add_parser("serve", help="the tablet app alone, for a device process started apart",
                           description="Serve the tablet app and keep sessions, following a device process "
                           "started separately (e.g. by knotcoach-device.service).")
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on (default: the LAN)")
    serve.add_argument("--port", type=port_number, default=8080, help="port (default 8080)")
    _data_dir_option(serve)

    rec = sub.add_parser("record", help="write what the platform measures to a v1 recording",
                         description="Record raw samples to a v1 recording (CSV, .csv.gz compressed).")
    rec.add_argument("out", metavar="OUT.csv", help="file to write (.csv or .csv.gz)")
    rec.add_argument("--seconds", type=_bounded("seconds", 86400.0), default=60.0,
                     help="how long, up to a day (default 60)")
    rec.add_argument("--force", action="store_true", help="replace OUT if it exists")
    _data_dir_option(rec)
    rec.add_argument("--realtime", action="store_true",
                     help="pace the simulator in real time (default: write simulated time at once)")
    _source_options(rec)

    cal = sub.add_parser("calibrate", help="calibrate the platform or a person's own 0-10 scale",
                         description="Calibrate the platform or a person's own 0-10 pressure scale.")
    cal_sub = cal.add_subparsers(dest="target", metavar="TARGET", parser_class=_Parser)
    cal_sub.required = True
    from server import calibrate_person_cmd, calibrate_platform_cmd
    for module in (calibrate_platform_cmd, calibrate_person_cmd):
        module.configure(cal_sub)
        # Both need a source and a data directory like `run`.
    for p in cal_sub.choices.values():
        _source_options(p)
        _data_dir_option(p)

    from server import profile_cmd
    for action in profile_cmd.configure(sub):
        _data_dir_option(action)
    from server import doctor_cmd, pair_cmd, sessions_cmd
    sessions_cmd.configure(sub)
    for module in (pair_cmd, doctor_cmd):
        _data_dir_option(module.configure(sub))

    ana = sub.add_parser("analyze", help="report when the device would have warned on a recording",
                         description="Run the live filter loop and rules on a recording.")
    ana.add_argument("recording", metavar="REC.csv", help="a v1 recording (.csv or .csv.gz)")
    _watch_options(ana, band_required=True)
    ana.add_argument("--json", action="store_true", help="JSON Lines, one event per line, in time order")
    ana.add_argument("--trace", metavar="OUT.csv", help="also write the filtered signal per row")
    return parser


def _data_dir_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", metavar="DIR",
                   help="where calibrations and sessions live (default: $STATE_DIRECTORY or the user's data folder)")


def _source_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", default="auto", metavar="SOURCE",
                   help="auto (HX711 boards if found, else simulated), hx711, sim, or replay:FILE")
    p.add_argument("--pins", metavar="D:C,...",
                   help="HX711 BCM pins as DOUT:SCK per cell, e.g. 5:6,17:27 (default: hardware.md)")
    p.add_argument("--seed", type=int, default=1, help="simulator seed (default 1)")
    p.add_argument("--fast", action="store_true",
                   help="replay or simulate without waiting for real time")


def _watch_options(p: argparse.ArgumentParser, band_required: bool) -> None:
    band = p.add_mutually_exclusive_group(required=band_required)
    band.add_argument("--band-newtons", type=band_newtons, metavar="LO:HI",
                      help="the pressure band in newtons, e.g. 150:200")
    band.add_argument("--profile", metavar="PROFILE",
                      help="a person's exported 0-10 scale: the band is their 4/10 to 5/10")
    p.add_argument("--region", help="with --profile or --person: which body region's scale")
    p.add_argument("--knot", type=knot_position, metavar="X_MM[,Y_MM]", help="the knot's position")
    p.add_argument("--zone-mm", type=_bounded("zone-mm", 2000.0), default=50.8,
                   help="no-go radius around the knot (default 50.8 mm = 2 in)")
    p.add_argument("--dwell-s", type=_bounded("dwell-s", 600.0, strict=False), default=1.0,
                   help="grace before resting on the knot warns (default 1.0 s)")


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return commands.dispatch(args)
    except UsageError as e:
        print(str(e), file=sys.stderr)
        return 2
    except InputError as e:
        print(f"knotcoach: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("knotcoach: stopped", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
