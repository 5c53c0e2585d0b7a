"""The visdom server's exposure: a warning off loopback, and visdom's own login passed through (issue 15)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tf3dgan.cli import main
from tf3dgan.visdom.server import exposure_warning, is_loopback

REPO = Path(__file__).resolve().parents[1]


def test_only_loopback_is_quiet():
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.5", "example.org"))
    assert exposure_warning("127.0.0.1", False) is None
    assert "any client that can reach it (no login: add --login)" in exposure_warning("0.0.0.0", False)
    assert "anyone with the password" in exposure_warning("0.0.0.0", True)


def test_the_command_warns_off_loopback(monkeypatch, capsys):
    import tf3dgan.visdom.server as server

    started = []
    monkeypatch.setattr(server, "serve", lambda *args, **kwargs: started.append(kwargs))
    assert main(["visdom", "--host", "0.0.0.0"]) == 0
    err = capsys.readouterr().err
    assert "tf3dgan visdom: warning: visdom on 0.0.0.0 is open to any client" in err and "SSH tunnel" in err
    assert main(["visdom"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert [s["login"] for s in started] == [False, False]
    monkeypatch.delenv("VISDOM_USERNAME", raising=False)
    monkeypatch.setattr(sys, "stdin", open(os.devnull))  # no terminal to ask on
    monkeypatch.setattr(server, "serve", lambda *a, **k: server.login_credential())
    assert main(["visdom", "--login"]) == 2
    assert "--login: login needs a user name and password: set VISDOM_USERNAME" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_login_is_required_and_training_posts_with_the_credentials(tmp_path, monkeypatch):
    port = _free_port()
    env = {**os.environ, "HOME": str(tmp_path), "VISDOM_USERNAME": "ann", "VISDOM_PASSWORD": "s3cret",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tf3dgan.visdom.server", "--port", str(port), "--login",
         "--env-path", str(tmp_path / "envs"), "--static-dir", str(tmp_path / "static")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            try:
                with urllib.request.urlopen(url + "/", timeout=1) as page:
                    assert b"login" in page.read().lower()  # the login page, not the plots
                    break
            except OSError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        assert (tmp_path / ".visdom" / "COOKIE_SECRET").is_file()
        # Without credentials a post is refused: visdom's check_auth answers 400 (not a 404 or a 500 of some other
        # failure); the same post with the login cookie below goes through.
        body = json.dumps({"eid": "logged", "win": "w"}).encode()
        request = urllib.request.Request(url + "/win_exists", data=body)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 400
        # The training client logs in with VISDOM_USERNAME / VISDOM_PASSWORD.
        from data_io.visdom_client import _make_visdom

        monkeypatch.setenv("VISDOM_USERNAME", "ann")
        monkeypatch.setenv("VISDOM_PASSWORD", "s3cret")
        vis = _make_visdom("127.0.0.1", port, "logged", timeout=5)
        vis.line(X=[0, 1], Y=[1, 2], win="w", env="logged")
        answer = vis.session.post(url + "/win_exists", data=body, timeout=5)
        assert (answer.status_code, answer.text) == (200, "true")
        assert "w" in json.loads(vis.get_window_data(env="logged"))
        monkeypatch.setenv("VISDOM_PASSWORD", "wrong")
        with pytest.raises(RuntimeError, match="Authentication failed"):
            _make_visdom("127.0.0.1", port, "logged", timeout=5)
    finally:
        proc.kill()
        proc.wait(10)
