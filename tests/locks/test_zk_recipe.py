"""The ZooKeeper recipe's own promises, on the simulated ensemble and on real ZooKeeper.

- no herd effect: a release wakes exactly one waiter (the naive watch-the-parent recipe wakes
  them all) — the recipes page's "Locks", step 4;
- a create whose reply is lost is found again by its prefix, not created twice (Curator's
  protected create, kazoo's ``_find_node``);
- the read-write lock of the recipes page's "Shared Locks";
- 容错: contention goes on through a follower crash and a leader crash;
- determinism: the same seed gives the same simulated run, node names included.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from distlab.locks import ZkLock, ZkReadLock, ZkWriteLock
from distlab.locks.zk import GetChildren, Pipeline, Sleep, parse_node
from distlab.locks.zk_sim import SimScheduler
from distlab.zk.errors import ConnectionLossError, KeeperError
from distlab.zk.watches import WatchedEvent

from tests.locks.conftest import (
    KazooEnsembleBackend,
    SimZkBackend,
    zk_ensemble_roles,
    zk_script,
)
from tests.locks.workers import Inside, run_threads, sim_counter_task, tokens_follow_the_counter


def is_sim(backend) -> bool:
    return not hasattr(backend, "hosts")


# ------------------------------------------------------------------------ herd effect ---------
def queue_up_and_release(backend, watch: str, waiters: int = 4) -> list[int]:
    """A holder, ``waiters`` queued behind it, then each releases in turn.

    Returns the number of watch notifications each waiter received.
    """
    holder = backend.lock("herd", watch=watch)
    holder.acquire()
    locks = [backend.lock("herd", watch=watch) for _ in range(waiters)]
    if is_sim(backend):
        scheduler = SimScheduler(backend.world)

        def waiter(lock):
            yield from lock.acquire_steps()
            yield Sleep(0.05)
            yield from lock.release_steps()

        def release_when_all_queued():
            while not all(task.status == "watch" for task in scheduler.tasks[:waiters]):
                yield Sleep(0.01)
            yield from holder.release_steps()

        marks = {lock: len(lock.driver.client.events) for lock in locks}
        for lock in locks:
            scheduler.spawn(lock.driver.client, waiter(lock))
        scheduler.spawn(holder.driver.client, release_when_all_queued())
        scheduler.run(max_ms=120_000)
        return [sum(isinstance(e, WatchedEvent) for e in lock.driver.client.events[marks[lock]:]) for lock in locks]

    def waiter_thread(lock):
        lock.acquire(timeout=30)
        time.sleep(0.02)
        lock.release()

    def release_when_all_queued():
        deadline = time.monotonic() + 20  # every waiter is waiting on its watch
        while not all(lock.driver.waiting for lock in locks) and time.monotonic() < deadline:
            time.sleep(0.005)
        holder.release()

    run_threads([lambda lock=lock: waiter_thread(lock) for lock in locks] + [release_when_all_queued])
    return [lock.driver.notifications for lock in locks]


def test_a_release_wakes_exactly_one_waiter(zk_backend):
    assert queue_up_and_release(zk_backend, "predecessor") == [1, 1, 1, 1]


def test_the_naive_recipe_wakes_every_waiter_on_every_change(zk_backend):
    notifications = queue_up_and_release(zk_backend, "parent")
    assert sum(notifications) > 4, notifications  # the herd: more wake-ups than releases
    assert max(notifications) >= 3, notifications  # the last in line was woken again and again


# ------------------------------------------------------------------------ lost create reply ----
def lose_the_first_create_reply(steps):
    """Pass a recipe's operations through, but lose the reply to its first (pipelined) create:
    the node is created on the server and the client only sees ConnectionLoss."""
    lost = False
    value, error = None, None
    while True:
        try:
            op = steps.throw(error) if error is not None else steps.send(value)
        except StopIteration as stop:
            return stop.value
        try:
            value, error = (yield op), None
        except KeeperError as exc:
            value, error = None, exc
            continue
        if not lost and type(op) is Pipeline and isinstance(value[0], str):
            lost = True
            value = [ConnectionLossError(o.path, "test: the reply was lost") for o in op.ops]


def test_a_create_whose_reply_was_lost_is_found_by_its_prefix_not_made_twice(zk_backend):
    lock = zk_backend.lock("lost-reply")
    assert lock.driver.run(lose_the_first_create_reply(lock.acquire_steps())) is True
    names = lock.driver.run(_children(lock.path))
    assert names == [lock.node], "one node only: the retry found the first one by its prefix"
    assert lock.token == parse_node(lock.node).seq
    lock.release()
    assert lock.driver.run(_children(lock.path)) == []


def _children(path):
    return (yield GetChildren(path))


def test_sim_a_reply_lost_on_the_network_is_recovered_the_same_way():
    """The same, with a real loss: the server's link to the client is cut right after the
    create is applied, so the reply never arrives; the client times out, reconnects elsewhere."""
    backend = SimZkBackend(Path("."), seed=11)
    lock = backend.lock("net-lost")
    lock.acquire()  # makes the lock node; the next attempt is the interesting one
    lock.release()
    world, client = backend.world, lock.driver.client
    server = client.server
    peer = backend.ensemble.peer(server)

    def created(_world) -> bool:
        try:
            return any(child.endswith(tuple(f"-lock-{n:010d}" for n in range(1, 3)))
                       for child in peer.tree.get_children(lock.path))
        except KeyError:
            return False

    scheduler = SimScheduler(world)
    task = scheduler.spawn(client, lock.acquire_steps())
    scheduler._resume(task)  # the create is on its way
    assert world.run_until(created, world.now + 30_000)
    world.cut(server, client.name)  # its reply is lost; the client times out and fails over
    world.call_at(world.now + 20_000, lambda w: w.heal())
    scheduler.run(max_ms=120_000)
    assert task.status == "done" and task.result is True
    assert lock.driver.run(_children(lock.path)) == [lock.node]
    lock.release()


# ------------------------------------------------------------------------ read-write lock ------
def test_readers_share_and_writers_exclude(zk_backend):
    r1, r2 = zk_backend.lock("rw", cls=ZkReadLock), zk_backend.lock("rw", cls=ZkReadLock)
    w = zk_backend.lock("rw", cls=ZkWriteLock)
    mutex = zk_backend.lock("rw", cls=ZkLock)
    assert r1.acquire(blocking=False) and r2.acquire(blocking=False), "readers share"
    assert not w.acquire(blocking=False) and not mutex.acquire(blocking=False), "readers block writers"
    r1.release()
    assert not w.acquire(blocking=False)
    r2.release()
    assert w.acquire(blocking=False)
    assert not r1.acquire(blocking=False) and not mutex.acquire(blocking=False), "a writer blocks everyone"
    w.release()
    assert mutex.acquire(blocking=False)
    assert not r1.acquire(blocking=False), "the plain lock is a writer too"
    mutex.release()


def test_sim_a_reader_arriving_behind_a_waiting_writer_waits_for_it():
    backend = SimZkBackend(Path("."))
    first, writer, late = (backend.lock("fair", cls=cls) for cls in (ZkReadLock, ZkWriteLock, ZkReadLock))
    grants = []

    def hold(lock, name, start, seconds):
        yield Sleep(start)
        yield from lock.acquire_steps()
        grants.append(name)
        yield Sleep(seconds)
        yield from lock.release_steps()

    scheduler = SimScheduler(backend.world)
    scheduler.spawn(first.driver.client, hold(first, "reader-1", 0.0, 1.0))
    scheduler.spawn(writer.driver.client, hold(writer, "writer", 0.2, 0.5))
    scheduler.spawn(late.driver.client, hold(late, "reader-2", 0.4, 0.1))
    scheduler.run(max_ms=60_000)
    assert grants == ["reader-1", "writer", "reader-2"]


# ------------------------------------------------------------------------ 容错 -----------------
@pytest.mark.parametrize("seed", [3, 4])
def test_sim_contention_survives_a_follower_crash_then_a_leader_crash(seed):
    """One server down at a time (3 servers: a majority stays up), while 4 clients contend."""
    backend = SimZkBackend(Path("."), seed=seed)
    ensemble, world = backend.ensemble, backend.world
    locks = [backend.lock("faults") for _ in range(4)]
    counter = "/counters/faults"
    locks[0].driver.client.create(counter, b"0", makepath=True)
    inside, records, log = Inside(), [], []
    leader = ensemble.leader()
    follower = next(sid for sid in ensemble.servers if sid != leader)

    def crash(sid, role):
        log.append((role, len(records)))
        ensemble.crash(sid)

    def crash_leader_once_all_serve(w):
        if set(ensemble.serving()) == set(ensemble.servers) and ensemble.leader() is not None:
            crash(ensemble.leader(), "leader")
        else:
            w.call_at(w.now + 100, crash_leader_once_all_serve)

    start = world.now
    world.call_at(start + 1000, lambda w: crash(follower, "follower"), f"crash follower {follower}")
    world.call_at(start + 2500, lambda w: ensemble.restart(follower), f"restart follower {follower}")
    world.call_at(start + 3500, crash_leader_once_all_serve, "crash the leader once all serve")
    scheduler = SimScheduler(world)
    for lock in locks:
        scheduler.spawn(lock.driver.client, sim_counter_task(lock, counter, 8, inside, records, hold=0.3))
    scheduler.run(max_ms=600_000)
    assert [t.status for t in scheduler.tasks] == ["done"] * 4
    assert [role for role, _ in log] == ["follower", "leader"]
    assert all(0 < done < 32 for _, done in log), f"both crashes must hit during contention: {log}"
    data, _ = locks[0].driver.client.get(counter)
    assert int(data) == 32 and inside.most == 1
    assert tokens_follow_the_counter(records)


def test_real_ensemble_contention_survives_a_follower_kill_then_a_leader_kill(tmp_path):
    """kill -9 a follower, bring it back, then kill -9 the leader, while 4 kazoo clients contend."""
    backend = KazooEnsembleBackend(tmp_path)
    down: list[int] = []
    stop = threading.Event()
    try:
        counter = f"/counters/{backend.ns}"
        locks = [backend.lock("faults") for _ in range(4)]
        locks[0].driver.client.create(counter, b"0", makepath=True)
        inside, progress = Inside(), []

        def wait_for_progress(count: int) -> None:
            deadline = time.monotonic() + 60
            while len(progress) < count and time.monotonic() < deadline:
                time.sleep(0.01)

        def chaos():
            try:
                wait_for_progress(5)
                roles = zk_ensemble_roles()
                follower = next(sid for sid, role in roles.items() if role == "follower")
                zk_script("kill", str(follower))
                down.append(follower)
                at_follower = len(progress)
                wait_for_progress(at_follower + 5)
                zk_script("start", str(follower))  # waits until it serves again
                down.remove(follower)
                roles = zk_ensemble_roles()
                leader = next(sid for sid, role in roles.items() if role == "leader")
                zk_script("kill", str(leader))
                down.append(leader)
                at_leader = len(progress)
                wait_for_progress(at_leader + 10)
                return at_follower, at_leader
            finally:
                stop.set()

        results = run_threads([chaos] + [lambda lock=lock: kazoo_counter_worker_retrying(
            lock, counter, stop, inside, progress) for lock in locks], timeout=120)
        at_follower, at_leader = results[0]
        records = [r for rs in results[1:] for r in rs]
        assert 0 < at_follower < at_leader < len(records), f"kills at {results[0]}, {len(records)} increments"
        data, _ = _retry(lambda: locks[0].driver.client.get(counter))
        assert int(data) == len(records) and inside.most == 1
        assert tokens_follow_the_counter(records)
    finally:
        stop.set()
        backend.close()
        for sid in down:
            zk_script("start", str(sid))


def _retry(fn, seconds: float = 30.0):
    from kazoo.exceptions import ConnectionLoss, OperationTimeoutError as KazooOpTimeout, SessionExpiredError

    deadline = time.monotonic() + seconds
    while True:
        try:
            return fn()
        except (ConnectionLoss, KazooOpTimeout, SessionExpiredError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def kazoo_counter_worker_retrying(lock, counter, stop, inside, progress):
    """Increment until ``stop``; every get/set is retried through failovers (idempotent under
    the lock: a retried set writes the same value)."""
    client = lock.driver.client
    records = []
    while not stop.is_set():
        with lock:
            inside.enter()
            data, _ = _retry(lambda: client.get(counter))
            time.sleep(0.005)
            value = int(data) + 1
            _retry(lambda: client.set(counter, str(value).encode()))
            records.append((lock.token, value))
            progress.append(value)
            inside.leave()
    return records


# ------------------------------------------------------------------------ determinism ---------
def test_the_same_seed_gives_the_same_simulated_lock_run():
    def run(seed):
        backend = SimZkBackend(Path("."), seed=seed)
        locks = [backend.lock("same") for _ in range(3)]
        records = []
        locks[0].driver.client.create("/counters/same", b"0", makepath=True)
        scheduler = SimScheduler(backend.world)
        for lock in locks:
            scheduler.spawn(lock.driver.client, sim_counter_task(lock, "/counters/same", 3, Inside(), records))
        scheduler.run()
        return backend.world.trace.digest(), records

    assert run(5) == run(5)
    assert run(5)[0] != run(6)[0]

