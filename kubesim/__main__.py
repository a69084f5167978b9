"""`python -m kubesim`: serve an emulated Kubernetes API until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import signal
import sys
from pathlib import Path

from kubesim.app import Kubesim, write_kubeconfig
from kubesim.settings import PROFILES, Delays, with_profile

log = logging.getLogger("kubesim")


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m kubesim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=0, help="port; 0 picks a free one (the kubeconfig says which)"
    )
    parser.add_argument(
        "--kubeconfig", type=Path, required=True, help="file to write the kubeconfig to once ready"
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="test", help="simulated delays preset")
    names = ", ".join(f.name for f in dataclasses.fields(Delays))
    parser.add_argument(
        "--delay", action="append", default=[], metavar="NAME=SECONDS", help=f"override one delay ({names})"
    )
    parser.add_argument(
        "--bookmark-interval", type=float, default=None, help="seconds between watch bookmarks"
    )
    parser.add_argument("--event-log-size", type=int, default=None, help="watch events kept for resuming")
    parser.add_argument(
        "--cert-manager",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="serve cert-manager.io/v1 and its CRDs, issuing Certificates (default on)",
    )
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    overrides: dict[str, float] = {}
    for item in args.delay:
        name, _, value = item.partition("=")
        overrides[name] = float(value)
    settings = with_profile(args.profile, overrides)
    if args.bookmark_interval is not None:
        settings.bookmark_interval = args.bookmark_interval
    if args.event_log_size is not None:
        settings.event_log_size = args.event_log_size
    settings.cert_manager = args.cert_manager
    sim = Kubesim(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await sim.start(args.host, args.port)
    try:
        write_kubeconfig(args.kubeconfig, args.host, sim.port)
        log.info("kubesim serving http://%s:%d (kubeconfig %s)", args.host, sim.port, args.kubeconfig)
        await stop.wait()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = _parse(sys.argv[1:] if argv is None else argv)
    try:
        asyncio.run(_serve(args))
    except (TypeError, ValueError) as exc:
        sys.exit(f"kubesim: {exc}")


if __name__ == "__main__":
    main()
