"""The pseudo-cluster (伪集群): ``QuorumPeer`` members as OS processes, serving real clients.

Each member is the **same** sans-I/O ``distlab.zab.QuorumPeer`` the simulator runs — Fast
Leader Election, discovery, sync, broadcast — driven in real time by
``distlab.server.realtime.RealtimeDriver`` (TCP between members, real timers, a journal on
disk), with a ``WireFront`` per client connection translating ZooKeeper's wire protocol::

    distlab serve --ensemble 3 --base-port 2181      three processes on 127.0.0.1:
                                                     clients 2181-2183, peers 3181-3183
    distlab serve --id 2 --port 2181 --peers hostA:3181,hostB:3181,hostC:3181
                                                     one member per machine (集群)

``kill -9`` of the leader's process closes its sockets: the followers see the link break,
go LOOKING, elect a new leader among themselves and sync; clients of the dead member fail
over to another with their sessions.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from distlab.server.fourletter import ServerFacts, answer
from distlab.server.quorum_front import WireFront
from distlab.server.realtime import Journal, RealtimeDriver
from distlab.server.tcp import environment
from distlab.zab.config import EnsembleConfig
from distlab.zab.peer import QuorumPeer

__all__ = ["QuorumMember", "run_member", "run_ensemble", "parse_peers", "free_base_port",
           "four_letter_word"]

log = logging.getLogger("distlab.server")

_MODES = {"LEADING": "leader", "FOLLOWING": "follower", "OBSERVING": "observer"}
SESSIONLESS_TIMEOUT_S = 10


def free_base_port(size: int = 3, host: str = "127.0.0.1") -> int:
    """A base port whose ``size`` client ports and ``size`` peer ports (+1000) are all free."""
    import socket

    for _ in range(500):
        with socket.socket() as probe:
            probe.bind((host, 0))
            base = probe.getsockname()[1]
        if base + 1000 + size > 65535:
            continue
        try:
            for port in [base + i for i in range(size)] + [base + 1000 + i for i in range(size)]:
                with socket.socket() as s:
                    s.bind((host, port))
            return base
        except OSError:
            continue
    raise OSError("no free range of ports found")


def four_letter_word(port: int, word: str = "srvr", host: str = "127.0.0.1", timeout: float = 2.0) -> str:
    """Send a four-letter word (``ruok``, ``srvr`` ...) and return the server's answer."""
    import socket

    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(word.encode("ascii"))
        out = b""
        while chunk := sock.recv(4096):
            out += chunk
    return out.decode("utf-8", errors="replace")


def parse_peers(text: str) -> dict[int, tuple[str, int]]:
    """``host:port,host:port,...`` -> {1: (host, port), 2: ...}: member ids in list order."""
    peers = {}
    for sid, item in enumerate(text.split(","), 1):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"peer {sid}: {item!r} is not host:port")
        peers[sid] = (host, int(port))
    return peers


class QuorumMember:
    """One member: its peer, the real-time driver, and a client listener."""

    def __init__(self, sid: int, peers: dict[int, tuple[str, int]], client_host: str, client_port: int,
                 data_dir: str, tick_ms: int = 2000, fsync: bool = True) -> None:
        self.sid = sid
        self.client_host, self.client_port = client_host, client_port
        self.data_dir = data_dir
        # ZooKeeper 3.8's leaderConnectDelayDuringRetryMs: a follower that decided before its
        # leader did tries again 100 ms later, not 1 s (the simulator's recorded runs keep 1 s)
        config = EnsembleConfig(voters=tuple(sorted(peers)), tick_ms=tick_ms, connect_retry_ms=100)
        self.peer = QuorumPeer(sid, config)
        self.driver = RealtimeDriver(self.peer, sid, peers, Journal(data_dir, fsync), on_state=self._state)
        self._ids = itertools.count(1)
        self._server: asyncio.base_events.Server | None = None
        self._received = 0
        self._sent = 0

    def _state(self, state: str) -> None:
        log.info("server %d is %s (zxid 0x%x)", self.sid, state, self.peer.tree.last_processed_zxid)

    async def start(self) -> None:
        await self.driver.start()
        self._server = await asyncio.start_server(self._client, self.client_host, self.client_port)
        self.client_port = self._server.sockets[0].getsockname()[1]
        log.info("binding to port %s:%d (member %d of %d)", self.client_host, self.client_port,
                 self.sid, len(self.driver.peers))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        await self.driver.stop()

    def facts(self) -> ServerFacts:
        tree = self.peer.tree
        return ServerFacts(
            mode=_MODES.get(self.peer.state.name if self.peer.state else "", "looking"),
            zxid=tree.last_processed_zxid, node_count=len(tree), watch_count=tree.watch_count,
            ephemerals_count=sum(len(tree.ephemerals(s)) for s in tree.sessions),
            received=self._received, sent=self._sent, outstanding=0, client_port=self.client_port,
            tick_time=self.peer.config.tick_ms, min_session_timeout=2 * self.peer.config.tick_ms,
            max_session_timeout=20 * self.peer.config.tick_ms, data_dir=self.data_dir,
            server_id=self.sid, extra_env=environment())

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        node = f"client:{self.sid}:{next(self._ids)}"
        state = {"open": True}
        peername = writer.get_extra_info("peername") or ("?", 0)
        address = f"{peername[0]}:{peername[1]}"
        peer = self.peer  # its tree is replaced by a SNAP: look it up each time
        front = WireFront(node, str(peername[0]),
                          acl_of=lambda path: peer.tree.acl_of(path) if path in peer.tree else None)

        def carry(actions: list[tuple[str, Any]]) -> None:
            for kind, arg in actions:
                if not state["open"]:
                    return
                if kind == "peer":
                    self.driver.deliver(node, arg)
                elif kind == "send":
                    self._sent += 1
                    writer.write(arg)
                elif kind == "four":
                    text = answer(arg, self.facts())
                    if arg in ("srvr", "stat", "mntr") and not self.peer.serving:
                        text = "This ZooKeeper instance is not currently serving requests\n"
                    writer.write(text.encode())
                    state["open"] = False
                    writer.close()
                elif kind == "close":
                    log.info("closing connection %s: %s", address, arg)
                    state["open"] = False
                    writer.close()

        self.driver.endpoints[node] = lambda msg: carry(front.from_peer(msg))

        def sessionless() -> None:  # NIOServerCnxnFactory: no ConnectRequest within 10 s
            if state["open"] and front.session_id is None:
                carry([("close", f"no ConnectRequest within {SESSIONLESS_TIMEOUT_S} s")])

        timer = asyncio.get_running_loop().call_later(SESSIONLESS_TIMEOUT_S, sessionless)
        try:
            while state["open"]:
                data = await reader.read(1 << 16)
                if not data:
                    break
                self._received += 1
                carry(front.receive_data(data))
                if state["open"]:
                    await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            timer.cancel()
            self.driver.endpoints.pop(node, None)
            state["open"] = False
            writer.close()
            self.driver.disconnected(node)  # the peer forgets the connection, not the session


def run_member(sid: int, peers: dict[int, tuple[str, int]], host: str, port: int, data_dir: str | None,
               tick_ms: int, fsync: bool) -> int:
    """Run one member until SIGINT/SIGTERM."""
    scratch = data_dir is None  # a member without --data keeps nothing after it stops
    data_dir = data_dir or tempfile.mkdtemp(prefix=f"distlab-member-{sid}-")

    async def main() -> None:
        member = QuorumMember(sid, peers, host, port, data_dir, tick_ms, fsync)
        await member.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("shutting down member %d", sid)
        await member.stop()

    try:
        asyncio.run(main())
    except OSError as error:
        log.error("cannot serve: %s", error)
        return 1
    finally:
        if scratch:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


def run_ensemble(size: int, base_port: int, peer_base_port: int | None, host: str, data_dir: str | None,
                 tick_ms: int, fsync: bool) -> int:
    """Start ``size`` member processes on one host (the pseudo-cluster) and wait for them.

    Member i serves clients on ``base_port + i - 1`` and talks to the others on
    ``peer_base_port + i - 1`` (default ``base_port + 1000``). SIGINT/SIGTERM stops them all.
    """
    peer_base = peer_base_port or base_port + 1000
    scratch = data_dir is None  # without --data the members' journals go when they stop
    root = Path(data_dir or tempfile.mkdtemp(prefix="distlab-ensemble-"))
    peers = ",".join(f"{host}:{peer_base + i}" for i in range(size))
    children: list[subprocess.Popen] = []
    for sid in range(1, size + 1):
        args = [sys.executable, "-m", "distlab", "serve", "--id", str(sid), "--peers", peers,
                "--host", host, "--port", str(base_port + sid - 1), "--data", str(root / f"server-{sid}"),
                "--tick-time", str(tick_ms)] + ([] if fsync else ["--no-fsync"])
        child = subprocess.Popen(args)
        children.append(child)
        print(f"server {sid}: pid {child.pid}, clients {host}:{base_port + sid - 1}, "
              f"peers {host}:{peer_base + sid - 1}, data {root / f'server-{sid}'}", flush=True)
    print(f"connect with: {','.join(f'{host}:{base_port + i}' for i in range(size))}", flush=True)

    def stop(*_: Any) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # A member killed (kill -9) stays dead, as a crashed server would; the rest keep serving.
    while any(child.poll() is None for child in children):
        time.sleep(0.2)
    if scratch:
        shutil.rmtree(root, ignore_errors=True)
    return 0
