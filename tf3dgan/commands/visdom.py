"""``tf3dgan visdom``: start a visdom server on 127.0.0.1 that works offline (see tf3dgan.visdom.server)."""

from __future__ import annotations

from data_io.visdom_client import DEFAULT_HOST, DEFAULT_PORT
from tf3dgan.errors import UsageError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("visdom", help="start a visdom server for live plots (works offline)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}, as monitor.visdom_port)")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST}: this machine only)")
    p.add_argument("--env-path", default=None, help="folder for saved environments (default: visdom's ~/.visdom)")
    p.add_argument("--login", action="store_true",
                   help="require visdom's login: user name and password from VISDOM_USERNAME and VISDOM_PASSWORD "
                        "(asked for on a terminal when unset); training posts with the same variables")
    p.set_defaults(func=run, needs_tensorflow=False)


def run(args) -> int:
    import sys

    from tf3dgan.visdom.server import exposure_warning, serve

    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port must be in 1..65535, got {args.port}")
    warning = exposure_warning(args.host, args.login)
    if warning:
        print(f"tf3dgan visdom: warning: {warning}", file=sys.stderr, flush=True)

    def ready(url: str) -> None:
        print(f"visdom server at {url} (Ctrl-C to stop); train with --set monitor.visdom=true "
              f"monitor.visdom_port={args.port}", flush=True)

    try:
        serve(args.port, args.host, args.env_path, on_ready=ready, login=args.login)
    except ValueError as err:  # --login without credentials and no terminal to ask on
        raise UsageError(f"--login: {err}") from None
    except OSError as err:
        raise UsageError(f"cannot listen on {args.host}:{args.port} ({err.strerror or err}); "
                       "is another server running there? Try --port") from None
    return 0
