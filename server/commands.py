"""The registry of ``knotcoach`` subcommands: which module runs each one, once its
arguments are parsed.

Each command lives in its own ``server/*_cmd.py`` module; what they share
(``InputError``, the data directory, the band) is in ``server/cli_support.py``.
This module imports the command modules; none of them imports it.
"""

from __future__ import annotations


def dispatch(args) -> int:
    if args.command == "sessions":
        from server import sessions_cmd
        return sessions_cmd.run(args)
    if args.command in ("pair", "doctor"):
        import importlib
        return importlib.import_module(f"server.{args.command}_cmd").run(args)
    if args.command == "profile":
        from server import profile_cmd
        return profile_cmd.run(args)
    if args.command == "calibrate":
        from server import calibrate_person_cmd, calibrate_platform_cmd
        module = {"platform": calibrate_platform_cmd, "person": calibrate_person_cmd}[args.target]
        return module.run(args)
    if args.command in ("run", "serve"):
        from server import run_cmd
        return getattr(run_cmd, args.command)(args)
    from server import analyze_cmd, record_cmd
    return {"analyze": analyze_cmd, "record": record_cmd}[args.command].run(args)
