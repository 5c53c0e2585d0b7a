"""A visdom server that works offline: its page assets come from this package, not from CDNs.

``python -m visdom.server`` first downloads jQuery, Bootstrap, React, plotly.js, d3 ... from CDNs and
crashes without internet. The pip package already ships visdom's own front end (``static/js/main.js``,
``index.html``, its CSS); what it lacks are those third-party files. This module builds a static folder
from three parts, all present after ``pip install``: visdom's shipped static files, the small third-party
files vendored in ``tf3dgan/visdom/static`` (see THIRD_PARTY.md there), and plotly.js from the ``plotly``
Python package. It then runs visdom's tornado Application on that folder, without calling
``download_scripts`` and without touching the installed visdom package.

Run as ``tf3dgan visdom`` or ``python -m tf3dgan.visdom.server --port P``.

Security: visdom has no access control of its own beyond an optional login. Anyone who can reach the port
can read every curve and sample, overwrite or delete windows, save env files on the server and send requests
of up to ``MAX_BODY_BYTES`` (with the login on, only after logging in: ``BodyGate``). The default host is 127.0.0.1 (this machine only); ``exposure_warning`` says so for any other
address. ``login=True`` turns on visdom's own login (``-enable_login`` of ``python -m visdom.server``), with
the user name and password from ``VISDOM_USERNAME`` / ``VISDOM_PASSWORD`` (or asked for on a terminal) and
the cookie secret in visdom's ``~/.visdom/COOKIE_SECRET`` (made from ``VISDOM_COOKIE`` or at random when
missing); training posts with the same two variables.
"""

from __future__ import annotations

import argparse
import getpass
import ipaddress
import logging
import os
import secrets
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Callable, Optional

from data_io.visdom_client import DEFAULT_HOST, DEFAULT_PORT

VENDORED = Path(__file__).with_name("static")
PLOTLY_JS = "js/plotly-plotly.min.js"  # the name visdom's index.html loads


USERNAME_ENV, PASSWORD_ENV, COOKIE_ENV = "VISDOM_USERNAME", "VISDOM_PASSWORD", "VISDOM_COOKIE"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: addresses only this machine can reach."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, login: bool) -> Optional[str]:
    """The warning for a server bound to a non-loopback address (None on loopback)."""
    if is_loopback(host):
        return None
    who = ("anyone with the password" if login else
           "any client that can reach it (no login: add --login)")
    return (f"visdom on {host} is open to {who}: it can read every plot and sample, change or delete windows, "
            "save env files on this machine and send requests of up to 1 GiB. Keep the default 127.0.0.1 and "
            "use an SSH tunnel (ssh -L 8097:127.0.0.1:8097 HOST), or put it behind an authenticating HTTPS proxy.")


def login_credential(interactive: Optional[bool] = None) -> dict:
    """visdom's ``user_credential`` from VISDOM_USERNAME / VISDOM_PASSWORD, or asked for on a terminal."""
    from visdom.utils.server_utils import hash_password

    username, password = os.environ.get(USERNAME_ENV), os.environ.get(PASSWORD_ENV)
    if not (username and password):
        if not (sys.stdin.isatty() if interactive is None else interactive):
            raise ValueError(f"login needs a user name and password: set {USERNAME_ENV} and {PASSWORD_ENV}")
        username = username or input("visdom user name: ")
        password = password or getpass.getpass("visdom password: ")
    return {"username": username, "password": hash_password(hash_password(password))}


def ensure_cookie_secret() -> Path:
    """visdom's login reads its cookie secret from ``~/.visdom/COOKIE_SECRET``: make it when missing."""
    from visdom.server.defaults import DEFAULT_ENV_PATH

    path = Path(DEFAULT_ENV_PATH + "COOKIE_SECRET")
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(os.environ.get(COOKIE_ENV) or secrets.token_hex(32))
    return path


def plotly_js_text() -> str:
    """plotly.js as shipped in the plotly Python package (offline)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def build_static(folder: str | Path) -> Path:
    """Fill ``folder`` with everything visdom's page loads; return it."""
    from visdom.utils.shared_utils import get_visdom_path

    folder = Path(folder)
    shutil.copytree(get_visdom_path("static"), folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.map"))
    shutil.copytree(VENDORED, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.md"))
    (folder / PLOTLY_JS).write_text(plotly_js_text(), encoding="utf-8")
    for name, patch in (("index.html", patch_index), ("login.html", patch_login)):
        page = folder / name
        page.write_text(patch(page.read_text(encoding="utf-8")), encoding="utf-8")
    return folder


MAX_BODY_BYTES = 256 * 1024**2  # a request body larger than this is refused unread (a 64^3 volume plot is ~6 MB)
MAX_LOGIN_BYTES = 64 * 1024  # the login form's body (a user name and a password hash)


class BodyGate:
    """A tornado ``HTTPMessageDelegate`` around the application's delegate of one request: a body the server
    would refuse is refused from its headers, before a byte of it is read (tornado otherwise reads a whole body
    into memory before any handler runs).

    With the login on, only a logged-in client (visdom's signed ``user_password`` cookie) may send a body,
    except the login form itself (``MAX_LOGIN_BYTES``); every body is at most ``max_body_bytes``.
    """

    def __init__(self, application, request_conn, delegate, max_body_bytes: int):
        self.application, self.request_conn, self.delegate = application, request_conn, delegate
        self.max_body_bytes = max_body_bytes

    def _logged_in(self, headers) -> bool:
        from http.cookies import CookieError, SimpleCookie

        from tornado.web import decode_signed_value

        try:
            cookie = SimpleCookie(headers.get("Cookie", "")).get("user_password")
        except CookieError:
            return False
        secret = self.application.settings.get("cookie_secret")
        return bool(cookie and secret and decode_signed_value(secret, "user_password", cookie.value))

    def refusal(self, start_line, headers) -> Optional[tuple[int, str]]:
        """``(status, reason)`` for a request whose body is refused, None for one that may go on."""
        chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
        try:
            length = int(headers.get("Content-Length", "0"))
        except ValueError:
            return 400, "Bad Request"
        if not chunked and length == 0:
            return None
        login_form = start_line.method == "POST" and start_line.path.split("?")[0].rstrip("/") == \
            self.application.base_url.rstrip("/")
        if self.application.login_enabled and not login_form and not self._logged_in(headers):
            return 401, "Unauthorized"
        limit = MAX_LOGIN_BYTES if self.application.login_enabled and login_form else self.max_body_bytes
        if length > limit:
            return 413, "Payload Too Large"
        self.request_conn.set_max_body_size(limit)  # a chunked body is cut off at the limit while it is read
        return None

    def headers_received(self, start_line, headers):
        refused = self.refusal(start_line, headers)
        if refused is None:
            return self.delegate.headers_received(start_line, headers)
        status, reason = refused
        text = f"{status} {reason}: request body refused unread\n".encode()
        stream = self.request_conn.detach()  # tornado then stops reading this connection
        written = stream.write(b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                               b"Connection: close\r\n\r\n%s" % (status, reason.encode(), len(text), text))
        written.add_done_callback(lambda _: stream.close())
        return None

    def data_received(self, chunk):
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        self.delegate.finish()

    def on_connection_close(self) -> None:
        self.delegate.on_connection_close()


def gate_request_bodies(application, max_body_bytes: int = MAX_BODY_BYTES) -> None:
    """Put a ``BodyGate`` in front of every request of the tornado ``application``."""
    start_request = application.start_request

    def gated(server_conn, request_conn):
        return BodyGate(application, request_conn, start_request(server_conn, request_conn), max_body_bytes)

    application.start_request = gated


def patch_login(html: str) -> str:
    """visdom 0.2.4's login page posts the password (hashed with sjcl) from a click handler that calls
    ``preventDefault`` last; should the script fail, the browser submits the form as a GET, with the password in
    the URL (and the server's log). The form posts instead, and the handler stops the default submission first."""
    html = html.replace('<form class="form-signin">', '<form class="form-signin" method="post">')
    return html.replace("$('#submitButton').click(function (event) {",
                        "$('#submitButton').click(function (event) {\n              event.preventDefault();")


def patch_index(html: str) -> str:
    """Two fixes to visdom 0.2.4's page template (other versions pass through unchanged).

    - ``static_url("../user/style.css")`` points outside the static folder: tornado >= 6.5 answers the
      whole page with 403. The file is served by visdom's ``/user/`` route, so link it directly.
    - MathJax (LaTeX in plot titles, unused here) is not served: drop its two script tags instead of
      logging two 404 errors per page load.
    """
    html = html.replace('{{ static_url("../user/style.css") }}', '"/user/style.css"')
    lines = [line for line in html.splitlines(keepends=True) if "js/mathjax/" not in line]
    return "".join(lines)


def serve(
    port: int,
    host: str = DEFAULT_HOST,
    env_path: Optional[str] = None,
    static_dir: Optional[str | Path] = None,
    on_ready: Optional[Callable[[str], None]] = None,
    login: bool = False,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> None:
    """Run a visdom server on ``host:port`` until SIGINT/SIGTERM; its saved envs go to ``env_path``.

    ``static_dir`` receives the page assets (default: a temporary folder removed at exit). ``login``: visdom's
    own login (see the module notes). A request body larger than ``max_body_bytes``, or any body but the login
    form's from a client that has not logged in, is refused before it is read. Raises OSError when the port
    cannot be bound.
    """
    from tornado import ioloop
    from visdom.server import app as visdom_app
    from visdom.server.defaults import DEFAULT_ENV_PATH

    credential = login_credential() if login else None
    if login:
        ensure_cookie_secret()
    own_static = static_dir is None
    static = Path(tempfile.mkdtemp(prefix="tf3dgan-visdom-")) if own_static else Path(static_dir)
    try:
        build_static(static)
        settings = visdom_app.tornado_settings
        settings["static_path"] = settings["template_path"] = str(static)
        settings["autoreload"] = False  # visdom sets debug=True, which would restart us when a .py changes
        env_path = str(env_path or DEFAULT_ENV_PATH)
        application = visdom_app.Application(port=port, env_path=env_path, user_credential=credential)
        gate_request_bodies(application, max_body_bytes)
        application.listen(port, address=host, max_buffer_size=max_body_bytes, max_body_size=max_body_bytes)
        loop = ioloop.IOLoop.current()

        def stop(*_):
            loop.add_callback_from_signal(loop.stop)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        url = f"http://{host}:{port}"
        if on_ready is not None:
            on_ready(url)
        loop.start()
    finally:
        if own_static:
            shutil.rmtree(static, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="offline visdom server (tf3dgan)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--env-path", default=None)
    parser.add_argument("--static-dir", default=None)
    parser.add_argument("--login", action="store_true", help=f"visdom's login ({USERNAME_ENV}, {PASSWORD_ENV})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    warning = exposure_warning(args.host, args.login)
    if warning:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    serve(args.port, args.host, args.env_path, args.static_dir,
          on_ready=lambda url: print(f"visdom server at {url}", flush=True), login=args.login)
    return 0


if __name__ == "__main__":
    sys.exit(main())
