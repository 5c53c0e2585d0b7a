"""Post curves and 3D panels to a visdom server from a background thread, never failing the caller.

The server may be down at start, go away or come back: a failed post warns once, the client waits
``retry_after`` seconds before trying again and, when a window is missing on the server (a restarted
server), resends its whole history. All data goes out as plain lists (``vis.line``, or a ``mesh3d`` figure
message) so plotly >= 6's binary array encoding never reaches visdom's page.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
import warnings
import weakref
from typing import Optional

import numpy as np

logger = logging.getLogger(__name__)

# Where the client posts and the server listens unless told otherwise: this machine only, visdom's port.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8097


class VisdomUnavailableWarning(UserWarning):
    """The visdom server could not be reached; training goes on and the client retries later."""


def _make_visdom(host: str, port: int, env: str, timeout: float):
    """A ``visdom.Visdom`` that raises on connection errors and whose requests time out."""
    import visdom

    class _Visdom(visdom.Visdom):
        def _handle_post(self, url, data=None):
            response = self.session.post(url, data=data if data is not None else {}, timeout=timeout)
            response.raise_for_status()
            return response.text

    server = host if "://" in host else f"http://{host}"
    logging.getLogger("visdom").setLevel(logging.ERROR)  # its "no incoming socket" notice
    # A server started with --login: the credentials come from the environment, never from a config file.
    username, password = os.environ.get("VISDOM_USERNAME"), os.environ.get("VISDOM_PASSWORD")
    login = {"username": username, "password": password} if username and password else {}
    return _Visdom(server=server, port=port, env=env, raise_exceptions=True, use_incoming_socket=False, **login)


class VisdomClient:
    """Non-blocking poster: ``line`` and ``figure`` enqueue, a daemon thread posts (callers throttle).

    ``line(window, step, values)`` adds one point per named series (kept in memory: the history is resent
    to a server that lost the window). ``figure(window, traces, layout)`` replaces a window's content (only
    the newest pending figure per window is posted). ``flush`` waits for the queue to drain.
    """

    def __init__(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, env: str = "main", retry_after: float = 30.0,
                 timeout: float = 5.0, max_pending: int = 32):
        self.host, self.port, self.env = host, port, env
        self.retry_after, self.timeout = retry_after, timeout
        self.history: dict[str, dict] = {}  # window -> {"title", "names", "steps", "values"}
        self._sent: dict[str, int] = {}  # window -> points already on the server
        self._figures: dict[str, tuple] = {}  # window -> newest pending (traces, layout, title)
        self._lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue(maxsize=max_pending)
        self._vis = None
        self._down_since: Optional[float] = None
        self.warned = False
        self.posts = 0
        self._thread = threading.Thread(target=self._work, name="visdom-client", daemon=True)
        self._thread.start()
        ref = weakref.ref(self)
        atexit.register(lambda: ref() is not None and ref().flush(timeout=min(10.0, timeout * 2)))

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        return self._vis is not None and self._down_since is None

    # -- called from the training thread (cheap, never blocks) -----------------------------------------
    def line(self, window: str, step: int, values: dict, title: str = "") -> None:
        with self._lock:
            entry = self.history.setdefault(
                window, {"title": title or window, "names": list(values), "steps": [], "values": []}
            )
            entry["steps"].append(int(step))
            entry["values"].append([float(values.get(name, np.nan)) for name in entry["names"]])
        self._wake()

    def figure(self, window: str, traces: list, layout: dict, title: str = "") -> None:
        with self._lock:
            self._figures[window] = (traces, layout, title or window)
        self._wake()

    def _wake(self) -> None:
        try:
            self._queue.put_nowait(None)
        except queue.Full:  # the poster is behind: the pending data is posted with a later job
            pass

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait until every queued post is done (or given up); True when the queue drained in time."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    # -- the poster thread --------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            self._queue.get()
            try:
                if self._ready():  # post everything pending: also what a down server missed
                    with self._lock:
                        lines = [w for w, e in self.history.items() if self._sent.get(w) != len(e["steps"])]
                        figures = list(self._figures)
                    for window in lines:
                        self._post_line(window)
                    for window in figures:
                        self._post_figure(window)
            except Exception as err:  # noqa: BLE001 - any failure of the server must not reach training
                self._fail(err)
            finally:
                self._queue.task_done()

    def _ready(self) -> bool:
        if self._down_since is not None and time.monotonic() - self._down_since < self.retry_after:
            return False
        if self._vis is None or self._down_since is not None:
            self._vis = _make_visdom(self.host, self.port, self.env, self.timeout)
            self._sent.clear()  # the server may have restarted: check the windows again
            if self._down_since is not None:
                logger.warning("visdom server at %s is back; resuming the live plots", self.url)
            self._down_since = None
        return True

    def _fail(self, err: Exception) -> None:
        self._down_since = time.monotonic()
        message = (
            f"visdom server at {self.url} not reachable ({type(err).__name__}: {err}); training goes on, "
            f"metrics and samples are still written to the run folder; retrying every {self.retry_after:g} s"
        )
        if not self.warned:
            self.warned = True
            warnings.warn(message, VisdomUnavailableWarning, stacklevel=2)
        logger.info(message)

    def _post_line(self, window: str) -> None:
        with self._lock:
            entry = self.history[window]
            steps, values = list(entry["steps"]), [list(v) for v in entry["values"]]
            names, title = entry["names"], entry["title"]
        sent = self._sent.get(window)
        if sent is None or not self._vis.win_exists(window, env=self.env):
            start, update = 0, None  # first post since (re)connecting, or a server that lost the window
        else:
            start, update = sent, "append"
        if start >= len(steps):
            return
        x = np.array(steps[start:], dtype=np.float64)
        y = np.array(values[start:], dtype=np.float64)
        opts = {"title": title, "legend": list(names), "xlabel": "step", "showlegend": True}
        if len(names) == 1:
            y = y[:, 0]
        else:
            x = np.repeat(x[:, None], len(names), axis=1)
        self._vis.line(Y=y, X=x, win=window, env=self.env, update=update, opts=opts if update is None else None)
        self._sent[window] = len(steps)
        self.posts += 1

    def _post_figure(self, window: str) -> None:
        with self._lock:
            pending = self._figures.pop(window, None)
        if pending is None:
            return
        traces, layout, title = pending
        # The pane is sized from opts; plotly then fills it (the layout's own size would be clipped).
        opts = {"title": title, "width": layout.get("width", 600), "height": layout.get("height", 400) + 40}
        layout = {k: v for k, v in layout.items() if k not in ("width", "height")}
        try:
            self._vis._send({"data": traces, "layout": layout, "win": window, "eid": self.env, "opts": opts})
        except Exception:
            with self._lock:  # keep it for the next try unless a newer panel came meanwhile
                self._figures.setdefault(window, pending)
            raise
        self.posts += 1
