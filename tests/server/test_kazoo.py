"""kazoo, unmodified, against ``distlab serve``: the operations, watches, multi and recipes.

Each expectation is what kazoo's own test-suite expects of a real ZooKeeper
(``kazoo/tests/test_client.py``, ``test_lock.py``, ``test_election.py``, ``test_queue.py``,
``test_counter.py``, ``test_barrier.py``).
"""

from __future__ import annotations

import threading
import time

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import (
    BadVersionError,
    InvalidACLError,
    LockTimeout,
    NoAuthError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
)
from kazoo.security import make_acl, make_digest_acl


def new_client(hosts: str, **kwargs) -> KazooClient:
    client = KazooClient(hosts=hosts, timeout=4, **kwargs)
    client.start(timeout=10)
    return client


def last_zxid(client: KazooClient) -> int:
    line = next(l for l in client.command(b"srvr").splitlines() if l.startswith("Zxid:"))
    return int(line.split()[1], 16)


def test_create_get_set_delete(kazoo: KazooClient) -> None:
    assert kazoo.create("/a", b"one") == "/a"
    data, stat = kazoo.get("/a")
    assert data == b"one" and stat.version == 0 and stat.dataLength == 3
    assert kazoo.set("/a", b"two").version == 1
    with pytest.raises(BadVersionError):
        kazoo.set("/a", b"x", version=7)
    with pytest.raises(NodeExistsError):
        kazoo.create("/a")
    with pytest.raises(NoNodeError):
        kazoo.create("/missing/child")
    kazoo.create("/a/b/c", b"deep", makepath=True)
    with pytest.raises(NotEmptyError):
        kazoo.delete("/a")
    seq = kazoo.create("/a/s-", sequence=True, ephemeral=True)
    assert seq == "/a/s-0000000001"  # /a/b took cversion 0
    assert kazoo.exists(seq).ephemeralOwner == kazoo.client_id[0]
    path, stat = kazoo.create("/a/with-stat", b"x", include_data=True)  # create2
    assert path == "/a/with-stat" and stat.czxid == stat.mzxid
    assert sorted(kazoo.get_children("/a")) == ["b", "s-0000000001", "with-stat"]
    children, stat = kazoo.get_children("/a", include_data=True)  # getChildren2
    assert stat.numChildren == 3
    kazoo.delete("/a", recursive=True)
    assert kazoo.exists("/a") is None
    assert kazoo.get_children("/") == ["zookeeper"]


def test_watches_fire_once_each(kazoo: KazooClient, server) -> None:
    other = new_client(server.hosts)
    try:
        events = []
        fired = threading.Event()

        def record(event):
            events.append((event.type, event.path))
            fired.set()

        kazoo.exists("/w", watch=record)  # a watch on a missing node
        other.create("/w", b"")
        assert fired.wait(5)
        fired.clear()
        kazoo.get("/w", watch=record)
        kazoo.get_children("/w", watch=record)
        other.create("/w/c")
        assert fired.wait(5)
        fired.clear()
        other.set("/w", b"changed")
        assert fired.wait(5)
        time.sleep(0.2)
        assert events == [("CREATED", "/w"), ("CHILD", "/w"), ("CHANGED", "/w")]
    finally:
        other.stop()
        other.close()


def test_transactions_commit_or_roll_back_whole(kazoo: KazooClient) -> None:
    kazoo.create("/t", b"0")
    t = kazoo.transaction()
    t.create("/t/a", b"a")
    t.set_data("/t", b"1")
    t.check("/t", 1)
    t.delete("/t/a")
    created, stat, checked, deleted = t.commit()
    # the setData's stat is the node as that op left it: /t/a still there (DataTree.setData)
    assert (created, stat.version, stat.numChildren, checked, deleted) == ("/t/a", 1, 1, True, True)
    bad = kazoo.transaction()
    bad.create("/t/b")
    bad.delete("/t/nope")
    bad.create("/t/c")
    results = bad.commit()
    assert [type(r) for r in results] == [RolledBackError, NoNodeError, type(results[2])]
    assert type(results[2]).__name__ == "RuntimeInconsistency"
    assert kazoo.get_children("/t") == []


def test_empty_multi_and_refused_writes_use_a_zxid(kazoo: KazooClient) -> None:
    """``PrepRequestProcessor``: every write, refused or empty, takes the next zxid."""
    before = last_zxid(kazoo)
    assert kazoo.transaction().commit() == []
    with pytest.raises(NoNodeError):
        kazoo.delete("/does-not-exist")
    assert last_zxid(kazoo) == before + 2
    kazoo.exists("/x")
    kazoo.get_children("/")
    assert last_zxid(kazoo) == before + 2  # reads take none


def test_four_letter_words_and_server_version(kazoo: KazooClient) -> None:
    assert kazoo.command(b"ruok") == "imok"
    assert "Mode: standalone" in kazoo.command(b"srvr")
    assert "Clients:" in kazoo.command(b"stat")
    assert "zk_server_state\tstandalone" in kazoo.command(b"mntr")
    assert "zookeeper.version=3.8" in kazoo.command(b"envi")
    assert kazoo.server_version()[:2] == (3, 8)


def test_digest_acl_keeps_out_a_client_without_the_password(kazoo: KazooClient, server) -> None:
    """``DigestAuthenticationProvider`` + ``checkACL``: only the digest's owner gets in."""
    kazoo.add_auth("digest", "alice:secret")
    acl = make_digest_acl("alice", "secret", all=True)
    kazoo.create("/private", b"s3cret", acl=[acl])
    assert kazoo.get("/private")[0] == b"s3cret"
    assert kazoo.get_acls("/private")[0][0].id.id == acl.id.id
    stranger = new_client(server.hosts)
    wrong = new_client(server.hosts, auth_data=[("digest", "alice:guess")])
    try:
        for client in (stranger, wrong):
            with pytest.raises(NoAuthError):
                client.get("/private")
            with pytest.raises(NoAuthError):
                client.set("/private", b"mine now")
            with pytest.raises(NoAuthError):
                client.delete("/private/none")  # DELETE is checked on the parent first
            with pytest.raises(NoAuthError):
                client.set_acls("/private", [make_digest_acl("eve", "x", all=True)])
            with pytest.raises(NoAuthError):
                client.exists("/private")  # READ once the node exists: ZOOKEEPER-2590 (3.8.2+; Debian's 3.8.0 lets it through)
            with pytest.raises(NoAuthError):
                client.get_acls("/private")  # READ or ADMIN
        # getACL with READ but without ADMIN shows the digest masked (FinalRequestProcessor)
        kazoo.create("/shown", acl=[acl, make_acl("world", "anyone", read=True)])
        masked, _ = stranger.get_acls("/shown")
        assert [a.id.id for a in masked] == ["alice:x", "anyone"]
        with pytest.raises(InvalidACLError):
            stranger.create("/bad", acl=[make_acl("auth", "", all=True)])  # not authenticated
        assert kazoo.set_acls("/private", [acl]).aversion == 1
    finally:
        for client in (stranger, wrong):
            client.stop()
            client.close()


def test_kazoo_recipes(kazoo: KazooClient, server) -> None:
    """kazoo's Lock, Election, Queue, Counter and Barrier, as their tests use them."""
    others = [new_client(server.hosts) for _ in range(2)]
    try:
        # Lock: the second contender waits until the first releases
        lock_a, lock_b = kazoo.Lock("/lock", "a"), others[0].Lock("/lock", "b")
        assert lock_a.acquire(timeout=5)
        with pytest.raises(LockTimeout):
            lock_b.acquire(timeout=0.3)
        assert lock_a.contenders() == ["a"]
        got = threading.Event()
        waiter = threading.Thread(target=lambda: lock_b.acquire(timeout=5) and got.set())
        waiter.start()
        time.sleep(0.2)
        assert not got.is_set()
        lock_a.release()
        waiter.join(5)
        assert got.is_set()
        lock_b.release()

        # Election: the first volunteer leads; when it leaves the next one does
        leaders = []
        lead_lock = threading.Event()

        def lead(name):
            leaders.append(name)
            lead_lock.wait(5)

        e1, e2 = kazoo.Election("/election", "e1"), others[1].Election("/election", "e2")
        t1 = threading.Thread(target=e1.run, args=(lead, "e1"))
        t1.start()
        time.sleep(0.3)
        t2 = threading.Thread(target=e2.run, args=(lead, "e2"))
        t2.start()
        time.sleep(0.3)
        assert leaders == ["e1"]
        lead_lock.set()
        t1.join(5)
        t2.join(5)
        assert leaders == ["e1", "e2"]

        # Queue: FIFO
        queue = kazoo.Queue("/queue")
        for item in (b"one", b"two", b"three"):
            queue.put(item)
        assert len(queue) == 3
        assert [queue.get(), queue.get(), queue.get()] == [b"one", b"two", b"three"]

        # Counter: compare-and-set on the version
        counter = kazoo.Counter("/counter")
        counter += 2
        other_counter = others[0].Counter("/counter")
        other_counter += 3
        assert counter.value == 5

        # Barrier: wait blocks until the barrier node is removed
        barrier = kazoo.Barrier("/barrier")
        barrier.create()
        assert not others[1].Barrier("/barrier").wait(timeout=0.3)
        passed = threading.Event()
        t = threading.Thread(target=lambda: others[1].Barrier("/barrier").wait(5) and passed.set())
        t.start()
        time.sleep(0.2)
        barrier.remove()
        t.join(5)
        assert passed.is_set()
    finally:
        for client in others:
            client.stop()
            client.close()


def test_distlab_zklock_runs_through_kazoo(kazoo: KazooClient, server) -> None:
    from distlab.locks import ZkLock

    other = new_client(server.hosts)
    try:
        first = ZkLock(kazoo, "/locks/orders", "w1", clock=time)
        second = ZkLock(other, "/locks/orders", "w2", clock=time)
        first.acquire()
        first_token = first.token
        assert not second.acquire(blocking=False)
        first.release()
        assert second.acquire(timeout=5)
        assert second.token > first_token
        second.release()
    finally:
        other.stop()
        other.close()


@pytest.mark.slow
def test_restart_keeps_data_and_sessions(serve_factory, tmp_path) -> None:
    """``FileTxnSnapLog``: after kill -9 the txn log replays; a client keeps its session."""
    data = tmp_path / "data"
    server = serve_factory("--data", str(data))
    client = new_client(server.hosts)
    try:
        client.create("/kept", b"v1")
        client.create("/mine", ephemeral=True)
        session = client.client_id
        changed = threading.Event()
        client.get("/kept", watch=lambda event: changed.set())
        server.kill()
        restarted = serve_factory("--data", str(data), port=server.port, name="restarted")
        deadline = time.monotonic() + 10
        while not client.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get("/kept")[0] == b"v1"
        assert client.client_id == session  # the same session, re-attached
        assert client.exists("/mine") is not None  # so its ephemeral is still there
        assert "Re-established session" in restarted.log
        # kazoo re-registered its watch on the new connection (setWatches): it still fires
        other = new_client(restarted.hosts)
        other.set("/kept", b"v2")
        other.stop()
        other.close()
        assert changed.wait(5)
    finally:
        client.stop()
        client.close()
