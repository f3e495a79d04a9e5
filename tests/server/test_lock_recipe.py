"""distlab's ZooKeeper lock recipe against kazoo's behaviour (``kazoo/tests/test_lock.py``).

- kazoo names its contenders ``<uuid hex>__lock__<seq>`` (``__rlock__`` for readers):
  ``predecessor`` must rank them, so distlab's lock waits for kazoo's holder;
- a waiter whose session expires starts over with the client's new session (kazoo's
  ``Lock._inner_acquire`` retries through SessionExpired);
- a holder is not ``held`` while SUSPENDED: another client may already hold the lock.
"""

from __future__ import annotations

import threading
import time

import pytest
from kazoo.client import KazooClient
from kazoo.protocol.states import KazooState

from distlab.locks import LockLost, ZkLock
from distlab.locks.zk import SHARED, parse_node, predecessor


def test_predecessor_ranks_kazoo_lock_names() -> None:
    kazoo_holder = "5e1a9c__lock__0000000000"
    kazoo_reader = "77b0ee__rlock__0000000001"
    ours = "c0ffee-lock-0000000002"
    children = [ours, kazoo_reader, kazoo_holder]
    assert parse_node(kazoo_holder).kind == "lock" and parse_node(kazoo_reader).kind == "read"
    assert predecessor(children, ours) == kazoo_reader
    assert predecessor(children, "c0ffee-read-0000000003" if False else ours, SHARED) == kazoo_holder


def client(hosts: str, **kwargs) -> KazooClient:
    zk = KazooClient(hosts=hosts, timeout=4, **kwargs)
    zk.start(timeout=10)
    return zk


def test_distlab_lock_waits_for_kazoos_holder(kazoo: KazooClient, server) -> None:
    other = client(server.hosts)
    try:
        theirs = kazoo.Lock("/mixed", "kazoo")
        assert theirs.acquire(timeout=5)
        ours = ZkLock(other, "/mixed", "distlab", clock=time)
        assert not ours.acquire(blocking=False)
        theirs.release()
        assert ours.acquire(timeout=5)
        ours.release()
    finally:
        other.stop()
        other.close()


def expire(session_of: KazooClient, hosts: str) -> None:
    """Take over the session with its id and password, then close it: the owner is expired."""
    thief = KazooClient(hosts=hosts, timeout=4, client_id=session_of.client_id)
    thief.start(timeout=10)
    thief.stop()
    thief.close()


def test_waiter_whose_session_expires_starts_over_with_a_new_session(kazoo: KazooClient, server) -> None:
    waiter_client = client(server.hosts)
    try:
        holder = ZkLock(kazoo, "/exp", "holder", clock=time)
        holder.acquire()
        waiter = ZkLock(waiter_client, "/exp", "waiter", clock=time)
        result: list = []
        thread = threading.Thread(target=lambda: result.append(waiter.acquire(timeout=20)))
        thread.start()
        deadline = time.monotonic() + 5
        while len(kazoo.get_children("/exp")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        old_session = waiter_client.client_id[0]
        expire(waiter_client, server.hosts)
        deadline = time.monotonic() + 10
        while (waiter_client.client_id is None or waiter_client.client_id[0] == old_session
               or not waiter_client.connected) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert waiter_client.client_id[0] != old_session  # kazoo opened a new session
        holder.release()
        thread.join(20)
        assert result == [True]
        assert waiter.held
        assert waiter_client.exists(f"/exp/{waiter.node}").ephemeralOwner == waiter_client.client_id[0]
        waiter.release()
    finally:
        waiter_client.stop()
        waiter_client.close()


@pytest.mark.slow
def test_holder_is_not_held_while_suspended(serve_factory, tmp_path) -> None:
    data = str(tmp_path / "data")
    server = serve_factory("--data", data)
    zk = client(server.hosts)
    states: list = []
    zk.add_listener(states.append)
    try:
        lock = ZkLock(zk, "/sus", "me", clock=time)
        lock.acquire()
        assert lock.held
        server.kill()  # the connection drops; the session lives on in the txn log
        deadline = time.monotonic() + 5
        while KazooState.SUSPENDED not in states and time.monotonic() < deadline:
            time.sleep(0.02)
        assert KazooState.SUSPENDED in states
        assert not lock.held
        with pytest.raises(LockLost, match="SUSPENDED"):
            lock.check()
        serve_factory("--data", data, port=server.port, name="restarted")
        deadline = time.monotonic() + 10
        while not zk.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.1)
        assert lock.held  # same session, same node: safe again
        lock.release()
    finally:
        zk.stop()
        zk.close()
