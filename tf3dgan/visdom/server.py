"""A visdom server that works offline: its page assets come from this package, not from CDNs.

``python -m visdom.server`` first downloads jQuery, Bootstrap, React, plotly.js, d3 ... from CDNs and
crashes without internet. The pip package already ships visdom's own front end (``static/js/main.js``,
``index.html``, its CSS); what it lacks are those third-party files. This module builds a static folder
from three parts, all present after ``pip install``: visdom's shipped static files, the small third-party
files vendored in ``tf3dgan/visdom/static`` (see THIRD_PARTY.md there), and plotly.js from the ``plotly``
Python package. It then runs visdom's tornado Application on that folder, without calling
``download_scripts`` and without touching the installed visdom package.

Run as ``tf3dgan visdom`` or ``python -m tf3dgan.visdom.server --port P``.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Callable, Optional

VENDORED = Path(__file__).with_name("static")
PLOTLY_JS = "js/plotly-plotly.min.js"  # the name visdom's index.html loads


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
    index = folder / "index.html"
    index.write_text(patch_index(index.read_text(encoding="utf-8")), encoding="utf-8")
    return folder


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
    host: str = "127.0.0.1",
    env_path: Optional[str] = None,
    static_dir: Optional[str | Path] = None,
    on_ready: Optional[Callable[[str], None]] = None,
) -> None:
    """Run a visdom server on ``host:port`` until SIGINT/SIGTERM; its saved envs go to ``env_path``.

    ``static_dir`` receives the page assets (default: a temporary folder removed at exit).
    Raises OSError when the port cannot be bound.
    """
    from tornado import ioloop
    from visdom.server import app as visdom_app
    from visdom.server.defaults import DEFAULT_ENV_PATH

    own_static = static_dir is None
    static = Path(tempfile.mkdtemp(prefix="tf3dgan-visdom-")) if own_static else Path(static_dir)
    try:
        build_static(static)
        settings = visdom_app.tornado_settings
        settings["static_path"] = settings["template_path"] = str(static)
        settings["autoreload"] = False  # visdom sets debug=True, which would restart us when a .py changes
        env_path = str(env_path or DEFAULT_ENV_PATH)
        application = visdom_app.Application(port=port, env_path=env_path)
        application.listen(port, address=host, max_buffer_size=1024**3)
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
    parser.add_argument("--port", type=int, default=8097)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--env-path", default=None)
    parser.add_argument("--static-dir", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    serve(args.port, args.host, args.env_path, args.static_dir,
          on_ready=lambda url: print(f"visdom server at {url}", flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
