"""``tf3dgan visdom``: start a visdom server on 127.0.0.1 that works offline (see tf3dgan.visdom.server)."""

from __future__ import annotations

from tf3dgan.errors import UsageError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("visdom", help="start a visdom server for live plots (works offline)")
    p.add_argument("--port", type=int, default=8097, help="port (default 8097, as monitor.visdom_port)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--env-path", default=None, help="folder for saved environments (default: visdom's ~/.visdom)")
    p.set_defaults(func=run)


def run(args) -> int:
    from tf3dgan.visdom.server import serve

    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port must be in 1..65535, got {args.port}")

    def ready(url: str) -> None:
        print(f"visdom server at {url} (Ctrl-C to stop); train with --set monitor.visdom=true "
              f"monitor.visdom_port={args.port}", flush=True)

    try:
        serve(args.port, args.host, args.env_path, on_ready=ready)
    except OSError as err:
        raise UsageError(f"cannot listen on {args.host}:{args.port} ({err.strerror or err}); "
                       "is another server running there? Try --port") from None
    return 0
