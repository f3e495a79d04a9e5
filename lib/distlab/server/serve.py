"""``distlab serve``: run distlab's ZooKeeper where real ZooKeeper clients can reach it.

    distlab serve --port 2181 [--data DIR]        a standalone server (snapshot + txn log)
    distlab serve --ensemble 3 --base-port 2181   a pseudo-cluster: three member processes
    distlab serve --id N --port P --peers h1:p1,h2:p2,h3:p3   one member of an ensemble

Logs go to stderr, one line per session and per error, in ZooKeeper's layout.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from distlab.server.standalone import StandaloneServer
from distlab.server.storage import DiskStore
from distlab.server.tcp import TcpDriver, wall_ms

__all__ = ["main", "run", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="distlab serve",
        add_help=True,
        description="Serve distlab's ZooKeeper over ZooKeeper's own client protocol "
        "(kazoo, zkCli.sh and the Java client connect unmodified).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=2181, help="client port (default 2181; 0 picks one)")
    parser.add_argument("--data", metavar="DIR", help="keep a snapshot and a txn log here, so a restart "
                        "keeps data and sessions (default: in memory only)")
    parser.add_argument("--tick-time", type=int, default=2000, help="ms per tick (default 2000)")
    parser.add_argument("--no-fsync", action="store_true",
                        help="do not fsync the txn log (ZooKeeper's forceSync=no)")
    parser.add_argument("--snap-count", type=int, default=100_000,
                        help="txns between snapshots (default 100000)")
    quorum = parser.add_argument_group("ensemble (the same QuorumPeer the simulator runs, over TCP)")
    quorum.add_argument("--ensemble", type=int, metavar="N",
                        help="start N member processes on this host (a pseudo-cluster)")
    quorum.add_argument("--base-port", type=int, default=2181,
                        help="with --ensemble: member i serves clients on BASE+i-1 (default 2181)")
    quorum.add_argument("--peer-base-port", type=int,
                        help="with --ensemble: member i talks to the others on this+i-1 "
                        "(default base port + 1000)")
    quorum.add_argument("--id", type=int, help="run one member with this id (1..N)")
    quorum.add_argument("--peers", help="with --id: every member's peer address host:port, in id order")
    return parser


def _configure_logging() -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s [myid:] - %(levelname)-5s [%(name)s] - %(message)s",
    )


async def _run_standalone(args: argparse.Namespace) -> None:
    store = DiskStore(args.data, fsync=not args.no_fsync) if args.data else None
    tree, txns = store.restore() if store else (None, [])
    core = StandaloneServer(
        args.tick_time, now=wall_ms(), tree=tree, txns=txns, snap_count=args.snap_count,
        client_port=args.port, data_dir=args.data or "",
    )
    driver = TcpDriver(core, args.host, args.port, store)
    await driver.start()
    log = logging.getLogger("distlab.server")
    log.info("restored %d nodes, %d sessions, last zxid 0x%x", len(core.tree),
             len(core.tree.sessions), core.tree.last_processed_zxid)
    log.info("binding to port %s:%d (standalone)", args.host, driver.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    await driver.stop()


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; 1 if the port cannot be bound."""
    _configure_logging()
    if args.ensemble is not None or args.id is not None:
        from distlab.server.ensemble import parse_peers, run_ensemble, run_member

        if args.ensemble is not None:
            if args.ensemble < 1:
                raise SystemExit("distlab serve: --ensemble needs at least 1 member")
            return run_ensemble(args.ensemble, args.base_port, args.peer_base_port, args.host,
                                args.data, args.tick_time, not args.no_fsync)
        if not args.peers:
            raise SystemExit("distlab serve: --id needs --peers host:port,... (every member, in id order)")
        peers = parse_peers(args.peers)
        if args.id not in peers:
            raise SystemExit(f"distlab serve: --id {args.id} is not one of the {len(peers)} --peers")
        return run_member(args.id, peers, args.host, args.port, args.data, args.tick_time, not args.no_fsync)
    try:
        asyncio.run(_run_standalone(args))
    except OSError as error:
        logging.getLogger("distlab.server").error("cannot serve: %s", error)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
