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
        # Without credentials a post is refused from its headers, 401 (not a 404 or a 500 of some other failure);
        # the same post with the login cookie below goes through.
        body = json.dumps({"eid": "logged", "win": "w"}).encode()
        request = urllib.request.Request(url + "/win_exists", data=body)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 401
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


def _start_login_server(tmp_path, port):
    """``python -m tf3dgan.visdom.server --login`` (user ann, password s3cret) on ``port``, waited for; the
    process (its HOME is ``tmp_path``)."""
    env = {**os.environ, "HOME": str(tmp_path), "VISDOM_USERNAME": "ann", "VISDOM_PASSWORD": "s3cret",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tf3dgan.visdom.server", "--port", str(port), "--login",
         "--env-path", str(tmp_path / "envs"), "--static-dir", str(tmp_path / "static")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline()  # "visdom server at URL" once it listens
    assert "visdom server at" in line, proc.stderr.read()[-2000:] if proc.poll() is not None else line
    return proc


def _raw_request(port, head: bytes, body: bytes = b"", timeout: float = 10) -> bytes:
    """Send ``head``, then try to send ``body``, on a new connection; the first bytes of the answer (b"" when the
    server closed the connection without one)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head)
        try:
            s.sendall(body)
            return s.recv(4096)
        except (BrokenPipeError, ConnectionResetError):  # the server closed it: the body was not wanted
            return b""


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.slow
def test_the_login_page_has_what_it_loads_and_bodies_are_refused_before_they_are_read(tmp_path):
    """The login page's sjcl.js is served and its form can only post; a client that has not logged in gets 401
    for any body from the headers alone (the server's memory stays flat), a logged-in one 413 past the limit."""
    import hashlib
    import re

    from tf3dgan.visdom.server import MAX_BODY_BYTES

    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc to read the server's memory")
    port = _free_port()
    proc = _start_login_server(tmp_path, port)
    url = f"http://127.0.0.1:{port}"
    try:
        page = urllib.request.urlopen(url + "/", timeout=5).read().decode()
        scripts = re.findall(r'<script src="?([^ >"]+)', page)
        assert any("sjcl.js" in src for src in scripts) and '<form class="form-signin" method="post">' in page
        for src in scripts:  # every script the page loads is served
            assert urllib.request.urlopen(url + src, timeout=5).status == 200, src
        assert "sjcl.hash.sha256" in urllib.request.urlopen(url + "/static/js/sjcl.js", timeout=5).read().decode()

        rss = _rss_kib(proc.pid)
        head = (b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 300000000\r\n\r\n")
        for _ in range(3):  # headers only: the answer must not wait for 300 MB
            assert _raw_request(port, head).startswith(b"HTTP/1.1 401 Unauthorized")
        answer = _raw_request(port, head, b"x" * 20_000_000)  # offered, never read
        assert answer == b"" or answer.startswith(b"HTTP/1.1 401")
        assert _rss_kib(proc.pid) - rss < 10_000

        form = json.dumps({"username": "ann", "password": hashlib.sha256(b"s3cret").hexdigest()}).encode()
        login = urllib.request.urlopen(urllib.request.Request(url + "/", data=form), timeout=5)
        cookie = login.headers["Set-Cookie"].split(";")[0].encode()
        big = (b"POST /events HTTP/1.1\r\nHost: x\r\nCookie: " + cookie +
               b"\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY_BYTES + 1))
        assert _raw_request(port, big).startswith(b"HTTP/1.1 413")
        body = json.dumps({"eid": "logged", "win": "w"}).encode()
        small = urllib.request.Request(url + "/win_exists", data=body, headers={"Cookie": cookie.decode()})
        assert urllib.request.urlopen(small, timeout=5).read() == b"false"  # a logged-in post goes through
    finally:
        proc.kill()
        proc.wait(10)


class _DevTools:
    """A minimal Chrome DevTools Protocol client over one page's websocket (websocket-client)."""

    def __init__(self, websocket_url: str):
        import websocket

        self.socket, self.next_id = websocket.create_connection(websocket_url, timeout=20), 0

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                assert "error" not in message, message
                return message["result"]

    def evaluate(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while not (value := self.evaluate(expression)):
            assert time.monotonic() < deadline, f"timed out waiting for {expression}"
            time.sleep(0.1)
        return value


@pytest.mark.slow
def test_a_headless_browser_logs_in(tmp_path):
    """The login page in a real browser (headless Chromium, driven over the DevTools protocol): sjcl loads, the form
    logs in, and the password never appears in a URL."""
    import shutil

    pytest.importorskip("websocket", reason="needs websocket-client (a visdom dependency)")
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("no Chromium installed (apt-get install chromium)")
    port, debug_port = _free_port(), _free_port()
    server = _start_login_server(tmp_path, port)
    chrome = subprocess.Popen([browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                               f"--remote-debugging-port={debug_port}", "--remote-allow-origins=*",
                               f"--user-data-dir={tmp_path / 'chrome'}", "about:blank"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                pages = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{debug_port}/json/list", timeout=2).read())
                page = next(p for p in pages if p.get("type") == "page")
                break
            except (OSError, StopIteration, ValueError):
                assert chrome.poll() is None and time.monotonic() < deadline, "Chromium did not start"
                time.sleep(0.2)
        tab = _DevTools(page["webSocketDebuggerUrl"])
        tab.call("Page.navigate", url=f"http://127.0.0.1:{port}/")
        assert tab.wait_for("document.readyState === 'complete' && typeof sjcl === 'object'")
        tab.evaluate("$('#inputUsername').val('ann'); $('#inputPassword').val('s3cret'); $('#submitButton').click()")
        tab.wait_for("document.readyState === 'complete' && !document.querySelector('#inputPassword')")
        assert "user_password=" in tab.evaluate("document.cookie")
        history = tab.call("Page.getNavigationHistory")["entries"]
        assert history and not any("s3cret" in entry["url"] or "password" in entry["url"] for entry in history)
    finally:
        chrome.kill()
        server.kill()
        chrome.wait(10)
        server.wait(10)
