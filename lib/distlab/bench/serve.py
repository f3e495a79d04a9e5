"""``distlab bench serve``: distlab's wire server beside Apache ZooKeeper, same client, same run.

Measured with kazoo (one client, one connection) against ``distlab serve`` and against real
ZooKeeper 3.8 (Debian's ``zookeeper`` package):

- ``exists`` round trips per second (the read floor; target ours/ZooKeeper >= 0.8);
- ``create`` + ``delete`` pairs per second (writes; fsync off in both: ``--no-fsync`` and
  ``forceSync=no``);
- failover: ``kill -9`` of the leader of a 3-member ensemble, then the time until kazoo's first
  successful write — distlab's pseudo-cluster (the simulator's ``QuorumPeer`` over TCP) against
  a real 3-server ZooKeeper ensemble (target ours <= 1.5x ZooKeeper's).

Both sides are measured in alternating rounds after a warm-up; figures are medians. The
benchmark starts every server it measures itself, on free loopback ports, from temporary
directories (real ZooKeeper as plain JVMs, ``QuorumPeerMain``, 256 MB heap), and stops them
all at the end. Without Java or the ``zookeeper`` package only distlab's side is measured.
The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from distlab.bench import print_report

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[3]
ZK_JARS = ["/usr/share/java/zookeeper.jar", "/usr/share/java/slf4j-log4j12.jar", "/usr/share/java/log4j-1.2.jar"]
TICK_MS = 2000  # ZooKeeper's usual tickTime, on both sides


def _free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = random.randrange(20000, 45000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        if port not in ports:
            ports.append(port)
    return ports


def _srvr_mode(port: int) -> str | None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"srvr")
            out = b""
            while chunk := s.recv(4096):
                out += chunk
    except OSError:
        return None
    match = re.search(rb"Mode: (\w+)", out)
    return match.group(1).decode() if match else None


class _Servers:
    """Every process the benchmark starts, so that all of them are stopped at the end."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="distlab-bench-serve-"))
        self.procs: dict[str, subprocess.Popen] = {}

    def spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.root / f"{name}.log", "ab")
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        log.close()
        self.procs[name] = proc
        return proc

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    # --- distlab ------------------------------------------------------------------------------

    def distlab_standalone(self, port: int) -> None:
        self.spawn("distlab", [sys.executable, "-m", "distlab", "serve", "--port", str(port),
                               "--tick-time", str(TICK_MS), "--no-fsync"])

    def distlab_member(self, sid: int, client_ports: list[int], peer_ports: list[int]) -> None:
        peers = ",".join(f"127.0.0.1:{p}" for p in peer_ports)
        self.spawn(f"distlab-{sid}", [
            sys.executable, "-m", "distlab", "serve", "--id", str(sid), "--peers", peers,
            "--port", str(client_ports[sid - 1]), "--data", str(self.root / f"distlab-{sid}"),
            "--tick-time", str(TICK_MS), "--no-fsync"])

    # --- Apache ZooKeeper ---------------------------------------------------------------------

    @staticmethod
    def zookeeper_available() -> bool:
        return shutil.which("java") is not None and all(Path(j).exists() for j in ZK_JARS)

    def zookeeper(self, name: str, client_port: int, quorum: list[tuple[int, int]] | None = None,
                  myid: int | None = None) -> None:
        directory = self.root / name
        (directory / "data").mkdir(parents=True, exist_ok=True)
        lines = [f"tickTime={TICK_MS}", "initLimit=10", "syncLimit=5", f"dataDir={directory / 'data'}",
                 f"clientPort={client_port}", "clientPortAddress=127.0.0.1", "maxClientCnxns=0",
                 "admin.enableServer=false", "4lw.commands.whitelist=*", "forceSync=no"]
        for i, (q, e) in enumerate(quorum or [], 1):
            lines.append(f"server.{i}=127.0.0.1:{q}:{e}")
        if quorum:
            (directory / "data" / "myid").write_text(str(myid))
        (directory / "zoo.cfg").write_text("\n".join(lines) + "\n")
        (directory / "log4j.properties").write_text(
            "log4j.rootLogger=WARN, CONSOLE\nlog4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender\n"
            "log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} - %-5p [%t:%C{1}@%L] - %m%n\n")
        self.spawn(name, ["java", "-Xmx256m", f"-Dlog4j.configuration=file:{directory / 'log4j.properties'}",
                          "-cp", ":".join([str(directory), *ZK_JARS]),
                          "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(directory / "zoo.cfg")])


def _wait_serving(ports: list[int], timeout: float = 60, ensemble: bool = False) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        modes = [_srvr_mode(p) for p in ports]
        if all(modes) and (not ensemble or modes.count("leader") == 1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"servers on {ports} did not start serving within {timeout} s")


def _kazoo(hosts: str) -> Any:
    from kazoo.client import KazooClient
    from kazoo.retry import KazooRetry

    client = KazooClient(hosts=hosts, timeout=10, connection_retry=KazooRetry(max_tries=-1, delay=0.02,
                                                                               max_delay=0.05))
    client.start(timeout=30)
    return client


def _rate(op: Callable[[], Any], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        op()
    return n / (time.perf_counter() - start)


def _alternate(ours: Callable[[], float], peer: Callable[[], float] | None, rounds: int) -> tuple[float, float | None]:
    mine, theirs = [], []
    for _ in range(rounds):
        mine.append(ours())
        if peer is not None:
            theirs.append(peer())
    return statistics.median(mine), (statistics.median(theirs) if theirs else None)


def _throughput(args: argparse.Namespace, servers: _Servers, summary: dict, rows: list) -> None:
    ours_port, zk_port = _free_ports(2)
    servers.distlab_standalone(ours_port)
    with_zk = servers.zookeeper_available()
    if with_zk:
        servers.zookeeper("zk-standalone", zk_port)
    _wait_serving([ours_port] + ([zk_port] if with_zk else []))
    ours = _kazoo(f"127.0.0.1:{ours_port}")
    peer = _kazoo(f"127.0.0.1:{zk_port}") if with_zk else None
    try:
        for client in (ours, peer):
            if client is None:
                continue
            client.ensure_path("/bench")
            for _ in range(args.warmup):  # a fresh JVM is 2-3x slower for its first seconds
                client.exists("/bench")
                client.delete(client.create("/bench/w-", sequence=True))

        def reads(client: Any) -> Callable[[], float]:
            return lambda: _rate(lambda: client.exists("/bench"), args.ops)

        def writes(client: Any) -> Callable[[], float]:
            name = f"/bench/{uuid.uuid4().hex}"

            def pair() -> None:
                client.create(name)
                client.delete(name)
            return lambda: _rate(pair, args.ops // 2)

        for key, label, make in (("exists", "kazoo exists/s", reads), ("create_delete", "kazoo create+delete pairs/s", writes)):
            mine, theirs = _alternate(make(ours), make(peer) if peer else None, args.rounds)
            ratio = mine / theirs if theirs else None
            summary[f"{key}_per_s_distlab"] = round(mine, 1)
            if theirs:
                summary[f"{key}_per_s_zookeeper"] = round(theirs, 1)
                summary[f"{key}_ratio"] = round(ratio, 3)
            rows.append([label, mine, theirs if theirs else "-", ratio if ratio else "-"])
    finally:
        for client in (ours, peer):
            if client is not None:
                client.stop()
                client.close()
        servers.kill("distlab")
        servers.kill("zk-standalone")


def _failover_once(hosts: str, ports: list[int], names: list[str], servers: _Servers,
                   restart: Callable[[int], None]) -> float:
    _wait_serving(ports, ensemble=True)
    leader = next(i for i, p in enumerate(ports) if _srvr_mode(p) == "leader")
    client = _kazoo(hosts)
    try:
        client.ensure_path("/failover")
        client.set("/failover", b"before")
        servers.kill(names[leader])
        started = time.perf_counter()
        while True:
            try:
                client.set("/failover", b"after")
                break
            except Exception:
                if time.perf_counter() - started > 60:
                    raise RuntimeError("no write succeeded within 60 s of the leader's kill")
                time.sleep(0.005)
        elapsed = time.perf_counter() - started
    finally:
        client.stop()
        client.close()
    restart(leader)
    return elapsed


def _failover(args: argparse.Namespace, servers: _Servers, summary: dict, rows: list) -> None:
    ports = _free_ports(6)
    client_ports, peer_ports = ports[:3], ports[3:]
    for sid in (1, 2, 3):
        servers.distlab_member(sid, client_ports, peer_ports)
    hosts = ",".join(f"127.0.0.1:{p}" for p in client_ports)
    names = [f"distlab-{sid}" for sid in (1, 2, 3)]
    mine = [_failover_once(hosts, client_ports, names, servers,
                           lambda i: servers.distlab_member(i + 1, client_ports, peer_ports))
            for _ in range(args.failovers)]
    for name in names:
        servers.kill(name)
    summary["failover_s_distlab"] = round(statistics.median(mine), 3)
    theirs: list[float] = []
    if servers.zookeeper_available():
        zk_ports = _free_ports(9)
        zk_clients, quorum = zk_ports[:3], list(zip(zk_ports[3:6], zk_ports[6:9]))
        zk_names = [f"zk-{sid}" for sid in (1, 2, 3)]

        def start_zk(i: int) -> None:
            servers.zookeeper(zk_names[i], zk_clients[i], quorum, myid=i + 1)

        for i in range(3):
            start_zk(i)
        zk_hosts = ",".join(f"127.0.0.1:{p}" for p in zk_clients)
        theirs = [_failover_once(zk_hosts, zk_clients, zk_names, servers, start_zk)
                  for _ in range(args.failovers)]
        for name in zk_names:
            servers.kill(name)
        summary["failover_s_zookeeper"] = round(statistics.median(theirs), 3)
        summary["failover_ratio"] = round(statistics.median(mine) / statistics.median(theirs), 3)
    rows.append(["kill -9 leader -> first write (s)", statistics.median(mine),
                 statistics.median(theirs) if theirs else "-",
                 summary.get("failover_ratio", "-")])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="distlab bench serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=2000, help="operations per round (default 2000)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; medians reported")
    parser.add_argument("--warmup", type=int, default=1000, help="warm-up operations per server")
    parser.add_argument("--failovers", type=int, default=3, help="leader kills per ensemble (median)")
    parser.add_argument("--no-failover", action="store_true", help="skip the ensemble failover part")
    args = parser.parse_args(argv)
    if min(args.ops, args.rounds, args.failovers) <= 0 or args.warmup < 0:
        parser.error("counts must be positive")
    servers = _Servers()
    summary: dict[str, Any] = {"zookeeper_measured": servers.zookeeper_available()}
    rows: list[list[Any]] = []
    try:
        _throughput(args, servers, summary, rows)
        if not args.no_failover:
            _failover(args, servers, summary, rows)
    finally:
        servers.stop_all()
    summary["targets"] = {
        "reads_ratio_ge_0.8": summary["exists_ratio"] >= 0.8 if "exists_ratio" in summary else None,
        "failover_ratio_le_1.5": summary["failover_ratio"] <= 1.5 if "failover_ratio" in summary else None,
    }
    print_report(
        f"distlab bench serve: kazoo against distlab serve and Apache ZooKeeper 3.8 (fsync off in both), "
        f"median of {args.rounds} alternating rounds; failover median of {args.failovers} leader kills",
        ["measure", "distlab", "ZooKeeper", "distlab/ZooKeeper"], rows, summary)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
