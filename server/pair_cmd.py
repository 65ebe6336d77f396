"""``knotcoach pair``: a fresh one-time pairing link for a tablet, and the paired tablets.

    knotcoach pair                 a new link (and QR code) for the running coach
    knotcoach pair --list          paired tablets: id, name, paired, last seen
    knotcoach pair --revoke ID     forget one (its cookie is refused at once); --revoke all forgets every one

The link is issued through the pairing file in the data directory, which the
running server reads, so this works from another process while it runs.
"""

from __future__ import annotations

import sys


def configure(sub):
    p = sub.add_parser("pair", help="print a new tablet pairing link; list or revoke paired tablets",
                       description="Pair a tablet with the running coach (a one-time link and QR code), "
                                   "or list and revoke paired tablets.")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--list", action="store_true", help="list the paired tablets")
    what.add_argument("--revoke", metavar="ID", help="unpair a tablet by its id (from --list), or 'all'")
    return p


def run(args, out=None) -> int:
    from calibration.files import StoreError
    from server.cli_support import InputError, data_dir
    from server.web.pairing import PairingStore, announce, iso, read_web_info

    out = out or sys.stdout
    folder = data_dir(args)
    store = PairingStore(folder)
    try:
        if args.list:
            devices = store.devices()
            if not devices:
                print("No tablets are paired.", file=out)
            for d in devices:
                print(f"{d['id']}  {d['name']}  paired {iso(d['created_s'])}  last seen {iso(d['last_seen_s'])}",
                      file=out)
            return 0
        if args.revoke:
            return _revoke(store, args.revoke.strip(), out, InputError)
        info = read_web_info(folder)
        if info is None:
            raise InputError("the coach is not running: start it with 'knotcoach run'")
        announce(folder, info["urls"], out)
        return 0
    except (StoreError, OSError) as e:
        raise InputError(str(e) if isinstance(e, StoreError) else f"{folder}: {e.strerror or e}") from None


def _revoke(store, which: str, out, InputError) -> int:
    if which.lower() == "all":
        count = store.revoke_all()
        print(f"Unpaired {count} tablet(s); each needs a new pairing link to use the coach again.", file=out)
        return 0
    matches = [d for d in store.devices() if d["id"].startswith(which.lower())] if len(which) >= 4 else []
    if len(matches) != 1:
        raise InputError(f"no paired tablet {which!r}: see 'knotcoach pair --list'" if not matches else
                         f"{which!r} matches {len(matches)} tablets: give more of the id")
    store.revoke(matches[0]["id"])
    print(f"Unpaired {matches[0]['id']} ({matches[0]['name']}).", file=out)
    return 0
