"""Backends for the lock tests: every test runs on the embedded default and on the real server.

Embedded (always): SQLite file, fakeredis with Lua, distlab's simulated 3-server ensemble.
Real (marker ``real_server``): PostgreSQL, Redis 7, ZooKeeper standalone and a 3-server
ZooKeeper ensemble, as started by ``make services-up`` (``scripts/services/``).

A real server that is not running is a *failure* showing the server's log when services were
requested — ``make test`` sets DISTLAB_SERVICES=1, CI sets CI — and a skip with the reason
otherwise (a developer running ``pytest tests/locks`` without servers).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest

from distlab.locks import DbLock, RedisLock, ZkLock

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("DISTLAB_SERVICES_DIR", ROOT / ".services"))
SERVICES_SCRIPTS = ROOT / "scripts" / "services"

REDIS_PORT = int(os.environ.get("DISTLAB_REDIS_PORT", 16379))
ZK_PORT = int(os.environ.get("DISTLAB_ZK_PORT", 12181))
ZK_ENSEMBLE_PORTS = [int(p) for p in os.environ.get("DISTLAB_ZK_ENSEMBLE_PORTS", "12182 12183 12184").split()]
PG_PORT = int(os.environ.get("DISTLAB_PG_PORT", 15432))

REDIS_URL = f"redis://127.0.0.1:{REDIS_PORT}/0"
ZK_HOSTS = f"127.0.0.1:{ZK_PORT}"
ZK_ENSEMBLE_HOSTS = ",".join(f"127.0.0.1:{p}" for p in ZK_ENSEMBLE_PORTS)
PG_DSN = f"postgresql://distlab@127.0.0.1:{PG_PORT}/distlab"

# service -> (ports that must answer, logs to show when they do not)
SERVICES = {
    "redis": ([REDIS_PORT], [STATE / "redis" / "server.log"]),
    "postgres": ([PG_PORT], [STATE / "postgres" / "server.log"]),
    "zk-standalone": ([ZK_PORT], [STATE / "zk-standalone" / "server.log"]),
    "zk-ensemble": (ZK_ENSEMBLE_PORTS, [STATE / f"zk-{i}" / "server.log" for i in (1, 2, 3)]),
}


def services_requested() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("DISTLAB_SERVICES"))


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def zk_mode(port: int) -> str | None:
    """The ``srvr`` four-letter word's Mode line (standalone/leader/follower), or None."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2.0) as sock:
            sock.sendall(b"srvr")
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
    except OSError:
        return None
    for line in data.decode(errors="replace").splitlines():
        if line.startswith("Mode: "):
            return line[6:].strip()
    return None


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError as error:
        return f"(no log at {path}: {error})"
    return f"---- last {lines} lines of {path} ----\n" + "\n".join(text[-lines:])


def require(service: str) -> None:
    """Skip (locally) or fail (CI, make test) unless ``service`` answers on its ports."""
    ports, logs = SERVICES[service]
    down = [p for p in ports if not (zk_mode(p) if service.startswith("zk") else port_open(p))]
    if not down:
        return
    message = (f"{service} is not running (nothing serves 127.0.0.1:{down}); "
               f"start it with `make services-up`")
    if services_requested():
        pytest.fail(message + "\n" + "\n".join(log_tail(log) for log in logs), pytrace=False)
    pytest.skip(message)


def zk_script(*args: str) -> None:
    subprocess.run(["bash", str(SERVICES_SCRIPTS / "zookeeper.sh"), *args], check=True,
                   capture_output=True, text=True, timeout=120)


def zk_ensemble_roles() -> dict[int, str | None]:
    return {i: zk_mode(port) for i, port in enumerate(ZK_ENSEMBLE_PORTS, start=1)}


# --------------------------------------------------------------------------- backends ---------
class Backend:
    """Makes competing lock objects (one client each) for one strategy on one backend."""

    strategy = ""
    name = ""
    real = False

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.ns = uuid.uuid4().hex[:12]  # keeps tests apart on shared real servers
        self._cleanup: list[Callable[[], Any]] = []

    def lock(self, name: str = "lock", **options: Any):
        raise NotImplementedError

    def close(self) -> None:
        for fn in reversed(self._cleanup):
            try:
                fn()
            except Exception:
                pass

    def __repr__(self) -> str:
        return f"<{self.strategy}/{self.name}>"


class SqliteBackend(Backend):
    strategy, name = "db", "sqlite"

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.target = str(tmp_path / "locks.db")

    def lock(self, name: str = "lock", **options: Any) -> DbLock:
        options.setdefault("clock", time)
        options.setdefault("poll", 0.005)
        lock = DbLock(self.target, f"{self.ns}-{name}", **options)
        self._cleanup.append(lock.db.close)
        return lock


class PostgresBackend(SqliteBackend):
    strategy, name, real = "db", "postgres", True

    def __init__(self, tmp_path: Path) -> None:
        require("postgres")
        Backend.__init__(self, tmp_path)
        self.target = PG_DSN


class FakeRedisBackend(Backend):
    strategy, name = "redis", "fakeredis"

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        import fakeredis

        self.server = fakeredis.FakeServer()

    def client(self):
        import fakeredis

        return fakeredis.FakeRedis(server=self.server)

    def lock(self, name: str = "lock", **options: Any) -> RedisLock:
        options.setdefault("clock", time)
        options.setdefault("poll", 0.002)
        return RedisLock(self.client(), f"{self.ns}-{name}", **options)


class RealRedisBackend(FakeRedisBackend):
    strategy, name, real = "redis", "redis", True

    def __init__(self, tmp_path: Path) -> None:
        require("redis")
        Backend.__init__(self, tmp_path)

    def client(self):
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        self._cleanup.append(client.close)
        return client


class SimZkBackend(Backend):
    strategy, name = "zk", "sim"

    def __init__(self, tmp_path: Path, seed: int = 7) -> None:
        super().__init__(tmp_path)
        from distlab.sim.ensemble import Ensemble

        self.ns = f"seed{seed}"  # deterministic: the same seed gives the same run, names included
        self.ensemble = Ensemble(servers=3, seed=seed)
        self.ensemble.wait_for_leader()
        self.world = self.ensemble.world

    def client(self):
        return self.ensemble.client()

    def path(self, name: str) -> str:
        return f"/locks/{self.ns}-{name}"

    def lock(self, name: str = "lock", cls=ZkLock, **options: Any):
        return cls(self.client(), self.path(name), **options)


class KazooBackend(SimZkBackend):
    strategy, name, real = "zk", "zk-standalone", True
    hosts = ZK_HOSTS

    def __init__(self, tmp_path: Path) -> None:
        require(self.name)
        Backend.__init__(self, tmp_path)

    def client(self, timeout: float = 10.0):
        from kazoo.client import KazooClient

        client = KazooClient(hosts=self.hosts, timeout=timeout)
        client.start(timeout=15)
        self._cleanup.append(lambda: (client.stop(), client.close()))
        return client

    def lock(self, name: str = "lock", cls=ZkLock, **options: Any):
        options.setdefault("clock", time)
        return cls(self.client(), self.path(name), **options)


class KazooEnsembleBackend(KazooBackend):
    name = "zk-ensemble"
    hosts = ZK_ENSEMBLE_HOSTS


REAL = pytest.mark.real_server
DB_BACKENDS = [pytest.param(SqliteBackend, id="sqlite"), pytest.param(PostgresBackend, id="postgres", marks=REAL)]
REDIS_BACKENDS = [pytest.param(FakeRedisBackend, id="fakeredis"),
                  pytest.param(RealRedisBackend, id="redis", marks=REAL)]
ZK_BACKENDS = [pytest.param(SimZkBackend, id="zk-sim"),
               pytest.param(KazooBackend, id="zk-standalone", marks=REAL),
               pytest.param(KazooEnsembleBackend, id="zk-ensemble", marks=REAL)]
ALL_BACKENDS = DB_BACKENDS + REDIS_BACKENDS + ZK_BACKENDS


def pytest_collection_modifyitems(config, items):
    """A thread that dies of an exception fails its test here (instead of a mere warning)."""
    strict = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(strict)


def _make(request, tmp_path):
    backend = request.param(tmp_path)
    request.addfinalizer(backend.close)
    return backend


@pytest.fixture(params=ALL_BACKENDS)
def backend(request, tmp_path) -> Backend:
    return _make(request, tmp_path)


@pytest.fixture(params=DB_BACKENDS)
def db_backend(request, tmp_path) -> Backend:
    return _make(request, tmp_path)


@pytest.fixture(params=REDIS_BACKENDS)
def redis_backend(request, tmp_path) -> Backend:
    return _make(request, tmp_path)


@pytest.fixture(params=ZK_BACKENDS)
def zk_backend(request, tmp_path) -> Backend:
    return _make(request, tmp_path)
