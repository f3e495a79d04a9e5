"""The pseudo-cluster: ``distlab serve --ensemble 3`` with kazoo and zkCli.sh, and a leader kill.

Three OS processes each run the simulator's ``QuorumPeer`` over TCP with real timers. The
checks are the standalone ones (``test_kazoo.py``), then ``kill -9`` of the leader's process:
a new leader is elected among the two left and kazoo fails over with its session
(ZooKeeper's ``QuorumPeerMainTest``-style failover).
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError, NoNodeError
from kazoo.security import make_digest_acl

from tests.server.conftest import ROOT, ZKCLI
from tests.server.rawclient import four_letter_word

pytestmark = pytest.mark.slow


def free_base_port() -> int:
    for _ in range(200):
        base = random.randrange(20000, 40000)
        try:
            for port in (base, base + 1, base + 2, base + 1000, base + 1001, base + 1002):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError("no free ports")


def mode(port: int) -> str | None:
    try:
        match = re.search(r"Mode: (\w+)", four_letter_word(port, "srvr"))
    except OSError:
        return None
    return match.group(1) if match else None


class Ensemble:
    def __init__(self, tmp_path: Path) -> None:
        self.base = free_base_port()
        self.ports = {sid: self.base + sid - 1 for sid in (1, 2, 3)}
        self.log_path = tmp_path / "ensemble.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "distlab", "serve", "--ensemble", "3", "--base-port", str(self.base),
                 "--data", str(tmp_path / "data"), "--no-fsync"],
                stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            self.pids = {int(s): int(p) for s, p in re.findall(r"server (\d+): pid (\d+)", self.log)}
            # every member serving (a leader and two followers), not only a quorum: a client
            # sent to the third member while it still syncs would see ConnectionLoss
            if len(self.pids) == 3 and self.leader() is not None and self.serving() == 3:
                return
            time.sleep(0.1)
        raise RuntimeError(f"the ensemble did not elect a leader:\n{self.log}")

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def hosts(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.ports.values())

    def leader(self) -> int | None:
        modes = {sid: mode(port) for sid, port in self.ports.items()}
        leaders = [sid for sid, m in modes.items() if m == "leader"]
        followers = [sid for sid, m in modes.items() if m == "follower"]
        return leaders[0] if len(leaders) == 1 and len(followers) >= 1 else None

    def serving(self) -> int:
        """How many members answer as leader or follower."""
        return sum(1 for port in self.ports.values() if mode(port) in ("leader", "follower"))

    def kill(self, sid: int) -> None:
        os.kill(self.pids[sid], signal.SIGKILL)
        del self.ports[sid]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in self.pids.values():  # nothing may outlive the test
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def ensemble(tmp_path: Path):
    cluster = Ensemble(tmp_path)
    yield cluster
    cluster.stop()


def test_kazoo_on_the_pseudo_cluster_survives_a_leader_kill(ensemble: Ensemble) -> None:
    zk = KazooClient(hosts=ensemble.hosts, timeout=6)
    zk.start(timeout=15)
    try:
        zk.create("/app/config", b"v1", makepath=True)
        assert zk.get("/app/config")[0] == b"v1"
        events = []
        fired = threading.Event()
        zk.get("/app/config", watch=lambda e: (events.append(e.type), fired.set()))
        assert zk.set("/app/config", b"v2").version == 1
        assert fired.wait(5) and events == ["CHANGED"]
        results = zk.transaction()
        results.create("/app/t", b"")
        results.delete("/app/missing")
        assert [type(r).__name__ for r in results.commit()] == ["RolledBackError", "NoNodeError"]
        seq = zk.create("/app/q-", ephemeral=True, sequence=True)
        assert zk.get_children("/app", include_data=True)[1].numChildren == 2
        lock = zk.Lock("/lock", "me")
        assert lock.acquire(timeout=5)
        lock.release()
        session = zk.client_id

        # ACLs: the identities travel with each write to the leader; reads are checked locally
        zk.add_auth("digest", "alice:secret")
        zk.create("/private", b"s3cret", acl=[make_digest_acl("alice", "secret", all=True)])
        for member in ensemble.ports.values():  # a stranger on every member
            stranger = KazooClient(hosts=f"127.0.0.1:{member}", timeout=6)
            stranger.start(timeout=15)
            try:
                stranger.sync("/private")
                with pytest.raises(NoAuthError):
                    stranger.get("/private")
                with pytest.raises(NoAuthError):
                    stranger.set("/private", b"mine")
                assert stranger.get_acls("/app")[0][0].id.id == "anyone"
            finally:
                stranger.stop()
                stranger.close()
        assert zk.get("/private")[0] == b"s3cret"
        assert zk.set_acls("/private", [make_digest_acl("alice", "secret", all=True)]).aversion == 1

        leader = ensemble.leader()
        ensemble.kill(leader)
        started = time.monotonic()
        while True:
            try:
                zk.set("/app/config", b"after the kill")
                break
            except Exception:
                assert time.monotonic() - started < 20, ensemble.log
                time.sleep(0.02)
        failover = time.monotonic() - started
        assert zk.client_id == session  # the same session, on another member
        assert zk.get("/app/config")[0] == b"after the kill"
        assert zk.exists(seq) is not None  # its ephemeral lives on with it
        new_leader = ensemble.leader()
        assert new_leader is not None and new_leader != leader
        with pytest.raises(NoNodeError):
            zk.delete("/app/missing")
        print(f"failover after kill -9 of leader {leader}: {failover:.3f} s, new leader {new_leader}")
    finally:
        zk.stop()
        zk.close()


def test_zkcli_on_the_pseudo_cluster(ensemble: Ensemble) -> None:
    if not ZKCLI.exists():
        pytest.skip(f"{ZKCLI} missing")
    env = {**os.environ, "JVMFLAGS": "-Xmx64m -XX:TieredStopAtLevel=1"}

    def zkcli(port: int, *command: str) -> str:
        done = subprocess.run([str(ZKCLI), "-server", f"127.0.0.1:{port}", *command],
                              capture_output=True, text=True, timeout=60, env=env)
        return done.stdout + done.stderr

    first, second = list(ensemble.ports.values())[:2]
    assert "Created /cli" in zkcli(first, "create", "/cli", "hello")
    assert "hello" in zkcli(second, "get", "/cli").splitlines()  # written on one, read on another
    assert "[cli, zookeeper]" in zkcli(second, "ls", "/")
    zkcli(second, "delete", "/cli")
    assert "[zookeeper]" in zkcli(first, "ls", "/")
