"""Pairing a tablet: the secret, one-time links, paired devices, where the server listens.

Files in the data directory, all 0600 and written atomically so ``knotcoach
pair`` in another process and the running server share them safely:

- ``web-secret``: 32 random bytes (hex) that sign the device cookie and derive
  the CSRF token. Created once (first writer wins, via a hard link), then
  re-read.
- ``web-pairing.json``: pending pairing tokens (only their SHA-256, with an
  expiry in epoch seconds) and the paired devices (id, name, created, last
  seen). Every change takes an exclusive ``flock`` on ``web-pairing.lock``,
  re-reads the file and replaces it, so two processes never lose each other's
  changes. The server re-reads it when its stat changes, so a device revoked
  by ``knotcoach pair --revoke`` is refused at its next request.
- ``web.json``: the running server's URLs and process id, for ``knotcoach pair``.

Time is passed in (``now_s``, epoch seconds) so expiry is testable.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from calibration.files import StoreError, write_text_atomic

SECRET_NAME, PAIRING_NAME, LOCK_NAME, WEB_INFO_NAME = "web-secret", "web-pairing.json", "web-pairing.lock", "web.json"
PAIRING_FORMAT, WEB_INFO_FORMAT, VERSION = "knotcoach-pairing", "knotcoach-web", 1
TOKEN_TTL_S = 600.0              # a pairing link works for 10 minutes, once
MAX_PENDING_TOKENS = 50          # older unused links are dropped beyond this
MAX_DEVICES = 100
LAST_SEEN_EVERY_S = 60.0         # "last seen" is written at most this often per device
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")
DEVICE_ID_RE = re.compile(r"[0-9a-f]{32}")
MAX_FILE_BYTES = 256 * 1024


# -- the secret ----------------------------------------------------------------------

def owned_by_dir(path: Path) -> None:
    """Root (``sudo knotcoach pair``) leaves a file to the data directory's owner, so the
    service user that serves the tablets can still read it; anyone else changes nothing."""
    if os.geteuid() != 0:
        return
    folder = path.parent.stat()
    if (path.stat().st_uid, path.stat().st_gid) != (folder.st_uid, folder.st_gid):
        os.chown(path, folder.st_uid, folder.st_gid)


def load_or_create_secret(data_dir) -> bytes:
    """The signing secret from ``DATA/web-secret``, created (0600) on first use."""
    path = Path(data_dir) / SECRET_NAME
    for _ in range(3):
        try:
            return _read_secret(path)
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{SECRET_NAME}.{secrets.token_hex(6)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(secrets.token_hex(32) + "\n")
                f.flush()
                os.fsync(f.fileno())
            with contextlib.suppress(FileExistsError):  # another process made one first: use theirs
                os.link(tmp, path)
                owned_by_dir(path)
        finally:
            tmp.unlink(missing_ok=True)
    return _read_secret(path)


def _read_secret(path: Path) -> bytes:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:  # readable by others: tighten rather than refuse, the secret is still ours
        os.chmod(path, 0o600)
    text = path.read_text(encoding="ascii", errors="replace").strip()
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise StoreError(f"{path}: not a Knot Coach web secret; delete it to make a new one "
                         "(every tablet then pairs again)")
    return bytes.fromhex(text)


def sign_device(secret: bytes, device_id: str) -> str:
    """The cookie value: the device id and its HMAC, so a forged id is refused without a lookup."""
    return f"{device_id}.{_mac(secret, device_id, 'cookie')}"


def verify_cookie(secret: bytes, value: str | None) -> str | None:
    """The device id in a cookie value, or None when it is not one we signed."""
    if not value or len(value) > 200 or value.count(".") != 1:
        return None
    device_id, mac = value.split(".")
    if not DEVICE_ID_RE.fullmatch(device_id):
        return None
    return device_id if hmac.compare_digest(mac, _mac(secret, device_id, "cookie")) else None


def csrf_for(secret: bytes, device_id: str) -> str:
    """The CSRF token of a paired device (pages put it in a meta tag; requests echo it)."""
    return _mac(secret, device_id, "csrf")


def _mac(secret: bytes, device_id: str, purpose: str) -> str:
    return hmac.new(secret, f"{purpose}:{device_id}".encode(), hashlib.sha256).hexdigest()


# -- tokens and devices ----------------------------------------------------------------

def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def iso(epoch_s: float) -> str:
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC).isoformat(timespec="seconds")


class PairingStore:
    """Pending tokens and paired devices in ``DATA/web-pairing.json`` (see the module doc)."""

    def __init__(self, data_dir, now_s: Callable[[], float] = time.time) -> None:
        self.dir = Path(data_dir)
        self.path, self.lock_path = self.dir / PAIRING_NAME, self.dir / LOCK_NAME
        self.now_s = now_s
        self._cache_key: tuple | None = None
        self._cache: dict[str, Any] = _empty()
        self._cache_lock = threading.Lock()

    def issue_token(self, ttl_s: float = TOKEN_TTL_S) -> str:
        """A fresh one-time token, valid for ``ttl_s`` seconds."""
        token = secrets.token_urlsafe(24)
        now = self.now_s()
        with self._changing() as data:
            data["tokens"].append({"sha256": _hash(token), "expires_s": now + ttl_s})
            data["tokens"] = data["tokens"][-MAX_PENDING_TOKENS:]
        return token

    def redeem(self, token: str, name: str) -> dict[str, Any] | None:
        """Use up ``token``: the new paired device, or None if it is unknown, used or expired."""
        if not isinstance(token, str) or not TOKEN_RE.fullmatch(token):
            return None
        digest, now = _hash(token), self.now_s()
        if not any(hmac.compare_digest(t["sha256"], digest) for t in self._current()["tokens"]):
            return None  # unknown: answered without taking the lock or writing the file
        with self._changing() as data:
            found = [t for t in data["tokens"] if hmac.compare_digest(t["sha256"], digest)]
            data["tokens"] = [t for t in data["tokens"] if t not in found]
            if not found or found[0]["expires_s"] < now:
                return None
            device = {"id": secrets.token_hex(16), "name": str(name)[:80], "created_s": now, "last_seen_s": now}
            data["devices"] = (data["devices"] + [device])[-MAX_DEVICES:]
        return device

    def devices(self) -> list[dict[str, Any]]:
        return [dict(d) for d in self._current()["devices"]]

    def is_paired(self, device_id: str) -> bool:
        return any(d["id"] == device_id for d in self._current()["devices"])

    def touch(self, device_id: str) -> None:
        """Note that the device was seen now (written at most once a minute)."""
        now = self.now_s()
        device = next((d for d in self._current()["devices"] if d["id"] == device_id), None)
        if device is None or now - device["last_seen_s"] < LAST_SEEN_EVERY_S:
            return
        with self._changing() as data:
            for d in data["devices"]:
                if d["id"] == device_id:
                    d["last_seen_s"] = now

    def revoke(self, device_id: str) -> bool:
        """Forget one paired device (its cookie is refused from now on); False if unknown."""
        with self._changing() as data:
            before = len(data["devices"])
            data["devices"] = [d for d in data["devices"] if d["id"] != device_id]
            return len(data["devices"]) < before

    def revoke_all(self) -> int:
        with self._changing() as data:
            count = len(data["devices"])
            data["devices"] = []
            return count

    # -- the file ----------------------------------------------------------------------
    def _current(self) -> dict[str, Any]:
        """The file's contents, re-read only when its stat changed."""
        try:
            st = self.path.stat()
            key = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            key = None
        with self._cache_lock:
            if key != self._cache_key:
                self._cache = self._read() if key is not None else _empty()
                self._cache_key = key
            return self._cache

    @contextlib.contextmanager
    def _changing(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        owned_by_dir(self.lock_path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            data = self._read() if self.path.exists() else _empty()
            now = self.now_s()
            data["tokens"] = [t for t in data["tokens"] if t["expires_s"] >= now]
            yield data
            write_text_atomic(self.path, json.dumps(data, indent=1, sort_keys=True) + "\n", mode=0o600)
            owned_by_dir(self.path)
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def _read(self) -> dict[str, Any]:
        try:
            if self.path.stat().st_size > MAX_FILE_BYTES:
                raise StoreError(f"{self.path}: too large to be Knot Coach's pairing file")
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return _empty()
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise StoreError(f"{self.path}: cannot be read ({e}); delete it to pair tablets afresh") from None
        return _checked(data, self.path)


def _empty() -> dict[str, Any]:
    return {"format": PAIRING_FORMAT, "version": VERSION, "tokens": [], "devices": []}


def _checked(data: Any, path: Path) -> dict[str, Any]:
    def bad(why: str) -> StoreError:
        return StoreError(f"{path}: {why}; delete it to pair tablets afresh")
    if not isinstance(data, dict) or data.get("format") != PAIRING_FORMAT:
        raise bad("not a Knot Coach pairing file")
    if data.get("version") != VERSION:
        raise bad(f"version {data.get('version')!r} is not one this Knot Coach reads")
    tokens, devices = data.get("tokens"), data.get("devices")
    if not isinstance(tokens, list) or not isinstance(devices, list):
        raise bad("tokens and devices must be lists")
    for t in tokens:
        if not (isinstance(t, dict) and isinstance(t.get("sha256"), str) and _number(t.get("expires_s"))):
            raise bad("a token entry is damaged")
    for d in devices:
        if not (isinstance(d, dict) and isinstance(d.get("id"), str) and isinstance(d.get("name"), str)
                and _number(d.get("created_s")) and _number(d.get("last_seen_s"))):
            raise bad("a device entry is damaged")
    return {**_empty(), "tokens": tokens, "devices": devices}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def device_name(user_agent: str | None) -> str:
    """A short name for a paired browser from its User-Agent, e.g. 'Chrome on Android'."""
    ua = user_agent or ""
    browser = next((name for key, name in (("Edg/", "Edge"), ("Firefox/", "Firefox"), ("SamsungBrowser", "Samsung"),
                                           ("Chrome/", "Chrome"), ("Chromium/", "Chromium"), ("Safari/", "Safari"))
                    if key in ua), "a browser")
    system = next((name for key, name in (("iPad", "iPad"), ("iPhone", "iPhone"), ("Android", "Android"),
                                          ("CrOS", "ChromeOS"), ("Windows", "Windows"), ("Mac OS X", "macOS"),
                                          ("Linux", "Linux")) if key in ua), "")
    return f"{browser} on {system}" if system else browser


# -- where the server listens, and the link printed at start -------------------------------

def write_web_info(data_dir, urls: list[str], pid: int | None = None) -> Path:
    """Record the running server's URLs (and its process id) for ``knotcoach pair``."""
    path = Path(data_dir) / WEB_INFO_NAME
    data = {"format": WEB_INFO_FORMAT, "version": VERSION, "urls": list(urls), "pid": pid or os.getpid()}
    write_text_atomic(path, json.dumps(data, indent=1) + "\n", mode=0o600, make_parents=True)
    return path


def clear_web_info(data_dir) -> None:
    """Forget the server's URLs (when it stops), if they are this process's."""
    info = read_web_info(data_dir, check_running=False)
    if info is not None and info.get("pid") == os.getpid():
        (Path(data_dir) / WEB_INFO_NAME).unlink(missing_ok=True)


def read_web_info(data_dir, check_running: bool = True) -> dict[str, Any] | None:
    """{"urls": [...], "pid": n} of the running server, or None when none is running."""
    path = Path(data_dir) / WEB_INFO_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not (isinstance(data, dict) and data.get("format") == WEB_INFO_FORMAT and isinstance(data.get("urls"), list)
            and data["urls"] and all(isinstance(u, str) for u in data["urls"])
            and isinstance(data.get("pid"), int) and not isinstance(data.get("pid"), bool)):
        return None
    if check_running and not _alive(data["pid"]):
        return None
    return {"urls": data["urls"], "pid": data["pid"]}


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process with that id: it exists
        return True
    return True


def announce(data_dir, urls: list[str], out: TextIO, now_s: Callable[[], float] = time.time) -> str:
    """Issue a fresh pairing token and print its link (first URL, then the others) and a QR code.

    Returns the first link. The first line is the one ``knotcoach run`` promises:
    ``knotcoach: pair a tablet: <url>/pair/<token>``.
    """
    import segno

    if not urls:
        raise ValueError("announce needs at least one URL")
    token = PairingStore(data_dir, now_s).issue_token()
    links = [f"{u.rstrip('/')}/pair/{token}" for u in urls]
    print(f"knotcoach: pair a tablet: {links[0]}", file=out, flush=True)
    for link in links[1:]:
        print(f"knotcoach:   or: {link}", file=out)
    print(f"knotcoach: the link works once, for {TOKEN_TTL_S / 60:.0f} minutes; scan it with the tablet:", file=out)
    segno.make(links[0], error="l").terminal(out=out, compact=True)
    out.flush()
    return links[0]
