"""``distlab bench locks``: lock cycles per second, ours beside the peer libraries, same servers.

For every strategy and backend it measures

- **uncontended** acquire+release cycles per second (one client, one lock);
- **contended** cycles per second: 4 clients (threads, one connection each) on one lock;
- the peer library on the same server in the same run — redis-py's ``Lock`` on the same Redis,
  kazoo's ``Lock`` on the same ZooKeeper — and the ratio ours/peer (target >= 1.0);
- the round-trip floor: Redis ``PING``, ZooKeeper ``exists``, PostgreSQL ``SELECT 1``;
- ZooKeeper watch notifications per release with 4 waiters queued: our recipe (watch the
  predecessor: 1.0) and the naive one (watch the parent: the herd).

Ours and the peer are measured in alternating rounds (ours, peer, ours, peer, ...) after a
warm-up, and each figure is the median round, so a slow patch of the disk or a JIT-warming
server hurts both sides alike. Waiters poll every ``--poll`` seconds on both sides.

**Servers.** The real servers come from ``scripts/services`` (``make services-up``). If one
is not running and the scripts are there (a source checkout), the benchmark starts them and
stops them again when it is done; ``--no-start`` only uses what is running. The embedded
backends (SQLite, fakeredis, the simulated ensemble) need nothing. The last line is one JSON
object with every figure.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from distlab.bench import print_report

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[3]
SCRIPTS = ROOT / "scripts" / "services"
REDIS_PORT = int(os.environ.get("DISTLAB_REDIS_PORT", 16379))
ZK_PORT = int(os.environ.get("DISTLAB_ZK_PORT", 12181))
ZK_ENSEMBLE_PORTS = [int(p) for p in os.environ.get("DISTLAB_ZK_ENSEMBLE_PORTS", "12182 12183 12184").split()]
PG_PORT = int(os.environ.get("DISTLAB_PG_PORT", 15432))
REDIS_URL = f"redis://127.0.0.1:{REDIS_PORT}/0"
ZK_HOSTS = f"127.0.0.1:{ZK_PORT}"
ZK_ENSEMBLE_HOSTS = ",".join(f"127.0.0.1:{p}" for p in ZK_ENSEMBLE_PORTS)
PG_DSN = f"postgresql://distlab@127.0.0.1:{PG_PORT}/distlab"


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def _servers_up() -> dict[str, bool]:
    return {
        "redis": _port_open(REDIS_PORT),
        "postgres": _port_open(PG_PORT),
        "zk-standalone": _port_open(ZK_PORT),
        "zk-ensemble": all(_port_open(p) for p in ZK_ENSEMBLE_PORTS),
    }


# ---------------------------------------------------------------------------- measuring ------
def _rate(cycle: Callable[[], Any], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        cycle()
    return n / (time.perf_counter() - start)


def _contended_rate(make_cycle: Callable[[], Callable[[], Any]], clients: int, n: int) -> float:
    """``clients`` threads each run ``n`` cycles of their own lock object on one lock."""
    cycles = [make_cycle() for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)
    errors: list[BaseException] = []

    def run(cycle: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            for _ in range(n):
                cycle()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(c,), daemon=True) for c in cycles]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return clients * n / elapsed


def _versus(ours: Callable[[], float], peer: Callable[[], float] | None, rounds: int) -> tuple[float, float | None]:
    """Medians of alternating rounds: ours then peer, peer then ours, ... (drift hurts both)."""
    mine, theirs = [], []
    for n in range(rounds):
        if peer is not None and n % 2:
            theirs.append(peer())
            mine.append(ours())
            continue
        mine.append(ours())
        if peer is not None:
            theirs.append(peer())
    return statistics.median(mine), (statistics.median(theirs) if theirs else None)


# ---------------------------------------------------------------------------- backends -------
class _Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ns = uuid.uuid4().hex[:8]
        self.cleanup: list[Callable[[], Any]] = []
        self.rows: list[list[Any]] = []
        self.summary: dict[str, Any] = {}

    def record(self, key: str, label: str, peer_name: str, floor: tuple[str, float] | None,
               ours: float, peer: float | None, c_ours: float | None, c_peer: float | None) -> None:
        ratio = ours / peer if peer else None
        c_ratio = c_ours / c_peer if (c_ours and c_peer) else None
        self.rows.append([label, ours, peer_name if peer else "-", peer if peer else "-",
                          f"{ratio:.2f}" if ratio else "-", c_ours if c_ours else "-",
                          c_peer if c_peer else "-", f"{c_ratio:.2f}" if c_ratio else "-",
                          f"{floor[0]} {floor[1]:,.0f}/s" if floor else "-"])
        self.summary[f"{key}_cycles_per_s"] = round(ours, 1)
        if peer:
            self.summary[f"{key}_{peer_name}_cycles_per_s"] = round(peer, 1)
            self.summary[f"{key}_ratio"] = round(ratio, 3)
        if c_ours:
            self.summary[f"{key}_contended_cycles_per_s"] = round(c_ours, 1)
        if c_peer:
            self.summary[f"{key}_contended_{peer_name}_cycles_per_s"] = round(c_peer, 1)
            self.summary[f"{key}_contended_ratio"] = round(c_ratio, 3)
        if floor:
            self.summary[f"{key}_floor_{floor[0].lower().replace(' ', '_')}_per_s"] = round(floor[1], 1)

    # -- SQL ------------------------------------------------------------------------------
    def sql(self, key: str, label: str, target: str) -> None:
        from distlab.locks import DbLock
        from distlab.locks.db import connect

        a = self.args
        name = f"bench-{self.ns}-{key}"
        lock = DbLock(target, name, clock=time, ttl=30, poll=a.poll)
        self.cleanup.append(lock.db.close)

        def cycle() -> None:
            lock.acquire()
            lock.release()

        _rate(cycle, a.warmup)
        ours, _ = _versus(lambda: _rate(cycle, a.cycles), None, a.rounds)
        floor_db = connect(target)
        self.cleanup.append(floor_db.close)
        floor = ("SELECT 1", _rate(lambda: floor_db.query("SELECT 1"), a.cycles))

        def make() -> Callable[[], None]:
            other = DbLock(target, name + "-c", clock=time, ttl=30, poll=a.poll)
            self.cleanup.append(other.db.close)
            return lambda: (other.acquire(), other.release())

        contended = _contended_rate(make, a.clients, a.contended_cycles)
        self.record(key, label, "", floor, ours, None, contended, None)

    # -- Redis ----------------------------------------------------------------------------
    def redis(self, key: str, label: str, make_client: Callable[[], Any]) -> None:
        from redis.lock import Lock as RedisPyLock

        from distlab.locks import RedisLock

        a = self.args
        client = make_client()
        name = f"bench-{self.ns}-{key}"
        ours_lock = RedisLock(client, name, clock=time, ttl=10, poll=a.poll)
        peer_lock = RedisPyLock(client, name + "-peer", timeout=10, sleep=a.poll)

        def ours_cycle() -> None:
            ours_lock.acquire()
            ours_lock.release()

        def peer_cycle() -> None:
            peer_lock.acquire()
            peer_lock.release()

        _rate(ours_cycle, a.warmup)
        _rate(peer_cycle, a.warmup)
        ours, peer = _versus(lambda: _rate(ours_cycle, a.cycles), lambda: _rate(peer_cycle, a.cycles), a.rounds)
        floor = ("PING", _rate(client.ping, a.cycles))

        def make_ours() -> Callable[[], None]:
            lock = RedisLock(make_client(), name + "-c", clock=time, ttl=10, poll=a.poll)
            return lambda: (lock.acquire(), lock.release())

        def make_peer() -> Callable[[], None]:
            lock = RedisPyLock(make_client(), name + "-cpeer", timeout=10, sleep=a.poll)
            return lambda: (lock.acquire(), lock.release())

        c_ours, c_peer = _versus(lambda: _contended_rate(make_ours, a.clients, a.contended_cycles),
                                 lambda: _contended_rate(make_peer, a.clients, a.contended_cycles), a.rounds)
        self.record(key, label, "redispy", floor, ours, peer, c_ours, c_peer)

    # -- ZooKeeper ------------------------------------------------------------------------
    def _kazoo(self, hosts: str) -> Any:
        from kazoo.client import KazooClient

        client = KazooClient(hosts=hosts)
        client.start(timeout=15)
        self.cleanup.append(lambda: (client.stop(), client.close()))
        return client

    def zookeeper(self, key: str, label: str, hosts: str) -> None:
        from distlab.locks import ZkLock

        a = self.args
        client = self._kazoo(hosts)
        path = f"/distlab-bench/{self.ns}-{key}"
        ours_lock = ZkLock(client, path + "-ours", clock=time)
        peer_lock = client.Lock(path + "-kazoo")

        def ours_cycle() -> None:
            ours_lock.acquire()
            ours_lock.release()

        def peer_cycle() -> None:
            peer_lock.acquire()
            peer_lock.release()

        _rate(ours_cycle, a.warmup)
        _rate(peer_cycle, a.warmup)
        ours, peer = _versus(lambda: _rate(ours_cycle, a.zk_cycles), lambda: _rate(peer_cycle, a.zk_cycles),
                             a.rounds)
        floor = ("exists", _rate(lambda: client.exists("/"), a.zk_cycles))
        clients = [self._kazoo(hosts) for _ in range(a.clients)]
        turn = {"ours": iter(clients), "peer": iter(clients)}

        def make_ours() -> Callable[[], None]:
            lock = ZkLock(next(turn["ours"]), path + "-c-ours", clock=time)
            return lambda: (lock.acquire(), lock.release())

        def make_peer() -> Callable[[], None]:
            lock = next(turn["peer"]).Lock(path + "-c-kazoo")
            return lambda: (lock.acquire(), lock.release())

        def contended(make: Callable[[], Callable[[], None]], side: str) -> float:
            turn[side] = iter(clients)  # the same 4 connections for both sides, every round
            return _contended_rate(make, a.clients, a.zk_contended_cycles)

        c_ours, c_peer = _versus(lambda: contended(make_ours, "ours"), lambda: contended(make_peer, "peer"),
                                 a.rounds)
        self.record(key, label, "kazoo", floor, ours, peer, c_ours, c_peer)

    def herd(self, hosts: str) -> None:
        """Watch notifications per release with ``clients`` waiters queued behind a holder."""
        from distlab.locks import ZkLock

        for watch, name in (("predecessor", "ours"), ("parent", "naive")):
            path = f"/distlab-bench/{self.ns}-herd-{name}"
            holder = ZkLock(self._kazoo(hosts), path, clock=time, watch=watch)
            holder.acquire()
            waiters = [ZkLock(self._kazoo(hosts), path, clock=time, watch=watch) for _ in range(self.args.clients)]

            def wait_then_release(lock: ZkLock) -> None:
                lock.acquire(timeout=60)
                time.sleep(0.01)
                lock.release()

            threads = [threading.Thread(target=wait_then_release, args=(w,), daemon=True) for w in waiters]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 30  # release once every waiter waits on its watch
            while not all(w.driver.waiting for w in waiters) and time.monotonic() < deadline:
                time.sleep(0.005)
            holder.release()
            for thread in threads:
                thread.join(60)
            releases_with_waiters = len(waiters)  # the holder's and each waiter's but the last
            per_release = sum(w.driver.notifications for w in waiters) / releases_with_waiters
            self.summary[f"zk_notifications_per_release_{name}"] = round(per_release, 2)

    def simulated_zookeeper(self) -> None:
        from distlab.locks import ZkLock
        from distlab.sim.ensemble import Ensemble

        ensemble = Ensemble(servers=3, seed=7)
        ensemble.wait_for_leader()
        lock = ZkLock(ensemble.client(), "/bench/sim")

        def cycle() -> None:
            lock.acquire()
            lock.release()

        _rate(cycle, 20)
        ours = _rate(cycle, max(50, self.args.zk_cycles // 4))
        self.record("zk_sim", "zk / simulated ensemble (wall clock)", "", None, ours, None, None, None)


# ---------------------------------------------------------------------------- main -----------
def main(argv: list[str] | None = None) -> int:
    from distlab.cli import plain  # the docstring without its reST markup

    parser = argparse.ArgumentParser(prog="distlab bench locks", description=plain(__doc__))
    parser.add_argument("--cycles", type=int, default=1000, help="uncontended cycles per round, SQL/Redis")
    parser.add_argument("--zk-cycles", type=int, default=200, help="uncontended cycles per round, ZooKeeper")
    parser.add_argument("--contended-cycles", type=int, default=400, help="cycles per client, SQL/Redis")
    parser.add_argument("--zk-contended-cycles", type=int, default=60, help="cycles per client, ZooKeeper")
    parser.add_argument("--clients", type=int, default=4, help="contending clients (default 4)")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds; medians are reported")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up cycles before measuring")
    parser.add_argument("--poll", type=float, default=0.001, help="seconds between tries while waiting (both sides)")
    parser.add_argument("--embedded-only", action="store_true", help="skip the real servers")
    parser.add_argument("--no-start", action="store_true", help="do not start servers that are not running")
    parser.add_argument("--sqlite", default=None, help="SQLite file (default: a temporary one)")
    args = parser.parse_args(argv)
    if min(args.cycles, args.zk_cycles, args.contended_cycles, args.zk_contended_cycles, args.clients,
           args.rounds) <= 0 or args.warmup < 0:
        parser.error("counts must be positive")

    started = False
    up = {name: False for name in ("redis", "postgres", "zk-standalone", "zk-ensemble")}
    if not args.embedded_only:
        up = _servers_up()
        if not all(up.values()) and not args.no_start and (SCRIPTS / "up.sh").exists():
            print("distlab bench locks: starting the servers (scripts/services/up.sh) ...", flush=True)
            result = subprocess.run(["bash", str(SCRIPTS / "up.sh")], capture_output=True, text=True)
            if result.returncode != 0:
                print(result.stderr)
            started = True
            up = _servers_up()

    bench = _Bench(args)
    import tempfile

    workdir = tempfile.TemporaryDirectory(prefix="distlab-bench-")
    def real_redis() -> Any:
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        bench.cleanup.append(client.close)
        return client

    def fake_redis() -> Any:
        import fakeredis

        from distlab.locks.redis import embedded_server

        return fakeredis.FakeRedis(server=embedded_server())

    plan: list[tuple[str, bool, Callable[[], None]]] = [
        ("db_sqlite", True, lambda: bench.sql("db_sqlite", "db / SQLite file (embedded)",
                                              args.sqlite or str(Path(workdir.name) / "locks.db"))),
        ("db_postgres", up["postgres"], lambda: bench.sql("db_postgres", "db / PostgreSQL", PG_DSN)),
        ("redis_fakeredis", True, lambda: bench.redis("redis_fakeredis", "redis / fakeredis (embedded)", fake_redis)),
        ("redis", up["redis"], lambda: bench.redis("redis", "redis / Redis 7 server", real_redis)),
        ("zk_sim", True, bench.simulated_zookeeper),
        ("zk_standalone", up["zk-standalone"],
         lambda: bench.zookeeper("zk_standalone", "zk / ZooKeeper standalone", ZK_HOSTS)),
        ("zk_herd", up["zk-standalone"], lambda: bench.herd(ZK_HOSTS)),
        ("zk_ensemble", up["zk-ensemble"],
         lambda: bench.zookeeper("zk_ensemble", "zk / ZooKeeper 3-server ensemble", ZK_ENSEMBLE_HOSTS)),
    ]
    try:
        for key, wanted, run in plan:
            if not wanted:
                continue
            try:
                run()
            except Exception as error:  # a broken backend is reported, the others still run
                bench.summary[f"{key}_error"] = f"{type(error).__name__}: {error}"
                bench.rows.append([key, f"failed: {type(error).__name__}"] + ["-"] * 7)
    finally:
        for fn in reversed(bench.cleanup):
            try:
                fn()
            except Exception:
                pass
        workdir.cleanup()
        if started:
            subprocess.run(["bash", str(SCRIPTS / "down.sh")], capture_output=True, text=True)

    summary = bench.summary
    summary["servers"] = {name: ("up" if ok else "not running") for name, ok in up.items()}
    ratios = {k: v for k, v in summary.items() if k.endswith("_ratio") and "contended" not in k
              and not k.startswith(("redis_fakeredis",))}
    summary["targets"] = {
        "uncontended_ratio_vs_peer_ge_1": {k: v >= 1.0 for k, v in ratios.items()},
        "one_notification_per_release": summary.get("zk_notifications_per_release_ours") == 1.0
        if "zk_notifications_per_release_ours" in summary else None,
    }
    notes = ""
    if "zk_notifications_per_release_ours" in summary:
        notes = (f"; ZooKeeper notifications per release: ours {summary['zk_notifications_per_release_ours']}, "
                 f"naive watch-the-parent {summary['zk_notifications_per_release_naive']}")
    print_report(
        f"distlab bench locks: acquire+release cycles/s, {args.clients} clients when contended, "
        f"median of {args.rounds} alternating rounds{notes}",
        ["strategy / backend", "ours", "peer", "peer", "ours/peer", "contended ours", "contended peer",
         "ours/peer", "round-trip floor"],
        bench.rows, summary)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
