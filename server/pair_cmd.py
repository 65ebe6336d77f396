"""``knotcoach pair``: a fresh one-time pairing link for a tablet, and paired devices.

Owner: the web-core helper (issue 5). Placeholder until then.
"""

from __future__ import annotations


def configure(sub):
    return sub.add_parser("pair", help="print a new tablet pairing link; list or revoke paired tablets",
                          description="Pair a tablet with the running coach, or list and revoke paired devices.")


def run(args) -> int:
    from server.commands import InputError
    raise InputError("pairing is not built yet")
