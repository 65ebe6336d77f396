"""``knotcoach doctor``: checks wiring, chips, GPIO, data directory and units; says what to fix.

Owner: the Pi-appliance helper (issue 6). Placeholder until then.
"""

from __future__ import annotations


def configure(sub):
    return sub.add_parser("doctor", help="check the HX711 wiring, GPIO, data directory and services",
                          description="Check the hardware and the installation, and say what to fix.")


def run(args) -> int:
    from server.commands import InputError
    raise InputError("doctor is not built yet")
