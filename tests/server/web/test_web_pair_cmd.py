"""`knotcoach pair` and the pairing announcement printed at start."""

import io
import os
import re
import subprocess
import sys

import pytest

from server.cli import main
from server.web import create_app
from server.web.pairing import PairingStore, announce, clear_web_info, read_web_info, write_web_info

LINK = re.compile(r"knotcoach: pair a tablet: (http://\S+/pair/\S+)")


def test_announce_prints_the_link_line_the_other_urls_and_a_qr_code(tmp_path):
    out = io.StringIO()
    link = announce(tmp_path, ["http://192.168.1.20:8080/", "http://box.local:8080"], out)
    text = out.getvalue()
    first = text.splitlines()[0]
    assert LINK.fullmatch(first) and LINK.fullmatch(first).group(1) == link
    assert link.startswith("http://192.168.1.20:8080/pair/")
    token = link.rsplit("/", 1)[1]
    assert f"http://box.local:8080/pair/{token}" in text
    assert len(LINK.findall(text)) == 1  # exactly one line for the runner's pattern
    assert "\u2588" in text or "\u2580" in text or "\u2584" in text  # the QR code's blocks


def test_the_announced_token_pairs_a_browser_once(tmp_path):
    link = announce(tmp_path, ["http://localhost:8080"], io.StringIO())
    app = create_app({"DATA_DIR": tmp_path})
    path = "/" + link.split("/", 3)[3]
    assert app.test_client().get(path).status_code == 303
    assert app.test_client().get(path).status_code == 403


def test_web_info_is_read_only_while_its_process_lives(tmp_path):
    assert read_web_info(tmp_path) is None
    write_web_info(tmp_path, ["http://localhost:8080"])
    assert read_web_info(tmp_path) == {"urls": ["http://localhost:8080"], "pid": os.getpid()}
    assert oct((tmp_path / "web.json").stat().st_mode & 0o777) == "0o600"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    write_web_info(tmp_path, ["http://localhost:8080"], pid=int(gone.stdout))
    assert read_web_info(tmp_path) is None  # a server killed without cleaning up
    (tmp_path / "web.json").write_text('{"format": "other"}')
    assert read_web_info(tmp_path) is None
    write_web_info(tmp_path, ["http://localhost:8080"])
    clear_web_info(tmp_path)
    assert not (tmp_path / "web.json").exists()


def test_pair_without_a_running_coach_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["pair", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == "knotcoach: the coach is not running: start it with 'knotcoach run'\n"


def test_pair_prints_a_fresh_link_the_running_server_accepts(tmp_path, capsys):
    write_web_info(tmp_path, ["http://127.0.0.1:8080"])  # this test process plays the running server
    app = create_app({"DATA_DIR": tmp_path})
    assert main(["pair", "--data-dir", str(tmp_path)]) == 0
    link = LINK.search(capsys.readouterr().out).group(1)
    assert link.startswith("http://127.0.0.1:8080/pair/")
    client = app.test_client()
    assert client.get("/pair/" + link.rsplit("/", 1)[1]).status_code == 303
    assert client.get("/api/state").status_code == 200


def test_pair_list_and_revoke(tmp_path, capsys):
    store = PairingStore(tmp_path)
    one = store.redeem(store.issue_token(), "Chrome on Android")
    two = store.redeem(store.issue_token(), "Safari on iPad")
    assert main(["pair", "--list", "--data-dir", str(tmp_path)]) == 0
    listed = capsys.readouterr().out
    assert one["id"] in listed and "Safari on iPad" in listed and "last seen" in listed
    assert main(["pair", "--revoke", one["id"][:8], "--data-dir", str(tmp_path)]) == 0
    assert "Unpaired" in capsys.readouterr().out and [d["id"] for d in store.devices()] == [two["id"]]
    assert main(["pair", "--revoke", "nope", "--data-dir", str(tmp_path)]) == 2
    assert "no paired tablet 'nope'" in capsys.readouterr().err
    assert main(["pair", "--revoke", "all", "--data-dir", str(tmp_path)]) == 0
    assert store.devices() == []
    assert main(["pair", "--list", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Unpaired 1 tablet(s)") and out.endswith("No tablets are paired.\n")
    assert main(["pair", "--list", "--revoke", "all", "--data-dir", str(tmp_path)]) == 2


def test_pair_with_a_damaged_pairing_file_is_one_line(tmp_path, capsys):
    (tmp_path / "web-pairing.json").write_text("[]")
    assert main(["pair", "--list", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "web-pairing.json" in err


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can hand a file to another user (CI runs as root)")
def test_sudo_knotcoach_pair_leaves_the_files_readable_by_the_service_user(tmp_path):
    from server.web.pairing import load_or_create_secret
    data = tmp_path / "var-lib-knotcoach"
    data.mkdir()
    os.chown(data, 4242, 4243)                     # the knotcoach service user owns the data directory
    load_or_create_secret(data)
    PairingStore(data).issue_token()              # as root, like 'sudo knotcoach pair'
    for name in ("web-secret", "web-pairing.json", "web-pairing.lock"):
        st = (data / name).stat()
        assert (st.st_uid, st.st_gid) == (4242, 4243), name
        assert st.st_mode & 0o077 == 0, name       # still private to that user
