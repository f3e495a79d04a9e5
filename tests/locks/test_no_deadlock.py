"""死锁 — a holder that crashes or pauses is replaced after its lease, TTL or session timeout,
and fencing tokens stop its late writes (安全 for the data, where the lock alone cannot).

Per strategy, the holder's "pause" is the thing that ends its grant:
- SQL: its lease runs out (a shared ManualClock is moved past ``ttl``; no waiting);
- Redis: the key's TTL runs out on the server (a short real TTL);
- ZooKeeper: its session expires — the simulated client is crashed or cut off from every
  server; the real one is a separate process stopped with SIGSTOP, as a GC pause would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from distlab.locks import FencedStore, LockLost, ManualClock, StaleToken, ZkLock
from distlab.locks.zk_sim import SimScheduler

from tests.locks.conftest import KazooBackend, SimZkBackend

HERE = Path(__file__).resolve().parent


def replaced_holder_is_fenced(old, new, store: FencedStore) -> None:
    """``old`` was replaced by ``new``: its late write is refused, its release changes nothing."""
    assert new.token > old.token
    store.write("report", f"by token {new.token}", token=new.token)
    with pytest.raises(StaleToken, match=f"fencing token {old.token} refused"):
        store.write("report", f"late write by token {old.token}", token=old.token)
    assert store.read("report") == f"by token {new.token}"
    with pytest.raises(LockLost):
        old.release()
    assert new.is_held(), "the replaced holder's release must leave the new holder's lock alone"
    new.release()


# ------------------------------------------------------------------------ SQL: lease ---------
def test_sql_a_paused_holder_is_replaced_after_its_lease_and_fenced(db_backend):
    clock = ManualClock()
    old = db_backend.lock("lease", clock=clock, ttl=5)
    new = db_backend.lock("lease", clock=clock, ttl=5)
    assert old.acquire()
    clock.advance(4.9)
    assert not new.acquire(blocking=False), "the lease is still running"
    clock.advance(0.2)  # the holder pauses past its lease ...
    assert not old.is_held()
    assert new.acquire(blocking=False)  # ... and is replaced
    replaced_holder_is_fenced(old, new, FencedStore())


def test_sql_a_crashed_holder_costs_one_lease_to_a_blocking_waiter(db_backend):
    clock = ManualClock()
    crashed = db_backend.lock("crash", clock=clock, ttl=5, poll=0.25)
    crashed.acquire()  # ... and never releases: its process is gone
    waiter = db_backend.lock("crash", clock=clock, ttl=5, poll=0.25)
    started = clock.time()
    assert waiter.acquire(timeout=60)
    assert 5.0 <= clock.time() - started <= 5.3  # woken at the lease's end, not a poll later
    waiter.release()


def test_sql_extend_keeps_the_lease_and_blocks_a_competitor_that_read_the_old_one(db_backend):
    clock = ManualClock()
    holder = db_backend.lock("extend", clock=clock, ttl=5)
    other = db_backend.lock("extend", clock=clock, ttl=5)
    holder.acquire()
    stale_row = other.row()  # a competitor reads the row ...
    clock.advance(4)
    holder.extend()  # ... the holder extends (and bumps the version) ...
    clock.advance(2)  # ... the old lease would have run out by now,
    assert not other._try_cas("sneaky", stale_row.version, clock.time()), "a CAS on the pre-extend version must fail"
    assert not other.acquire(blocking=False)
    assert holder.is_held()
    clock.advance(6)  # now the extended lease has run out too
    assert other.acquire(blocking=False)
    with pytest.raises(LockLost, match="extend"):
        holder.extend()
    other.release()


# ------------------------------------------------------------------------ Redis: TTL ----------
def test_redis_a_holder_paused_past_its_ttl_is_replaced_and_fenced(redis_backend):
    old = redis_backend.lock("ttl", ttl=0.2)
    new = redis_backend.lock("ttl", ttl=5)
    assert old.acquire()
    assert old.remaining() <= 0.2
    time.sleep(0.3)  # the "GC pause": the key expires on the server meanwhile
    assert old.held and not old.is_held(), "the paused holder still believes it holds the lock"
    assert new.acquire(blocking=False)
    replaced_holder_is_fenced(old, new, FencedStore())


def test_redis_extend_keeps_the_key_alive_and_fails_once_it_expired(redis_backend):
    holder, other = redis_backend.lock("ext", ttl=0.8), redis_backend.lock("ext", ttl=1)
    holder.acquire()
    for _ in range(3):
        time.sleep(0.3)
        holder.extend()
    assert not other.acquire(blocking=False), "0.9 s after acquiring, the extended key still stands"
    time.sleep(1.0)
    with pytest.raises(LockLost, match="TTL had run out"):
        holder.extend()


# ------------------------------------------------------------------------ ZooKeeper: sessions -
def test_zk_sim_a_crashed_holder_is_replaced_after_its_session_timeout():
    backend = SimZkBackend(Path("."))
    holder, waiter = backend.lock("crash"), backend.lock("crash")
    holder.acquire()
    world = backend.world
    world.crash(holder.driver.client.name)  # the holder's machine dies without a word
    started = world.now
    assert waiter.acquire(timeout=60)
    waited = world.now - started
    timeout_ms = waiter.driver.client.process.timeout_ms
    assert timeout_ms <= waited <= timeout_ms + 4 * backend.ensemble.config.tick_ms
    assert not holder.held
    waiter.release()


def test_zk_sim_a_holder_cut_off_past_its_session_is_told_and_fenced():
    backend = SimZkBackend(Path("."))
    lost = []
    old = backend.lock("pause", on_lost=lost.append)
    new = backend.lock("pause")
    store = FencedStore()
    assert old.acquire()
    world, client = backend.world, old.driver.client
    world.partition([client.name], [n for n in world.nodes if n != client.name])  # a pause, as others see it
    assert new.acquire(timeout=60)
    assert old.token is not None and not lost, "cut off, the holder cannot know yet"
    world.heal()
    world.run_until(lambda w: client.process.state.name == "EXPIRED", world.now + 30_000)
    assert not old.held and lost == [old], "reconnecting, the holder learns its session expired"
    with pytest.raises(LockLost, match="session"):
        old.check()
    replaced_holder_is_fenced(old, new, store)


def test_zk_real_a_holder_process_stopped_past_its_session_is_replaced_told_and_fenced(tmp_path):
    backend = KazooBackend(tmp_path)  # requires the standalone server (skips/fails as configured)
    try:
        path = backend.path("sigstop")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parents[1] / "lib"), str(HERE.parents[1]),
                                                          os.environ.get("PYTHONPATH", "")]))
        holder = subprocess.Popen([sys.executable, str(HERE / "holder_process.py"), backend.hosts, path],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        try:
            line = holder.stdout.readline().split()
            assert line[0] == "HELD", line
            old_token = int(line[1])
            os.kill(holder.pid, signal.SIGSTOP)  # the whole process freezes, heartbeats too
            new = backend.lock("sigstop")
            started = time.monotonic()
            assert new.acquire(timeout=20)
            assert time.monotonic() - started >= 0.9  # the session timeout (1 s) had to pass
            store = FencedStore()
            store.write("report", "by the new holder", token=new.token)
            os.kill(holder.pid, signal.SIGCONT)
            told = holder.stdout.readline().split()
            assert told == ["LOST", str(old_token)], told  # kazoo's LOST reached on_lost
            with pytest.raises(StaleToken):
                store.write("report", "late write of the paused holder", token=old_token)
            holder.stdin.write("release\n")
            holder.stdin.flush()
            assert holder.stdout.readline().split()[0] == "LockLost"
            assert new.is_held()
            new.release()
        finally:
            holder.kill()
            holder.wait(10)
    finally:
        backend.close()


def test_zk_real_session_expiry_is_reported_to_the_holder_at_once(tmp_path):
    """kazoo's LOST reaches ``on_lost`` without the holder doing anything (the expire trick:
    a second client on the same session closes it, as kazoo's own tests do)."""
    backend = KazooBackend(tmp_path)
    try:
        lost = []
        lock = backend.lock("expire", on_lost=lost.append)
        lock.acquire()
        client = lock.driver.client
        session_id, password = client.client_id
        from kazoo.client import KazooClient

        twin = KazooClient(hosts=backend.hosts, client_id=(session_id, password))
        twin.start()
        twin.stop()  # closes *our* session on the server
        deadline = time.monotonic() + 15
        while not lost and time.monotonic() < deadline:
            try:
                client.exists("/")  # any request: the server answers "session expired"
            except Exception:
                pass
            time.sleep(0.05)
        assert lost == [lock] and not lock.held
        with pytest.raises(LockLost):
            lock.release()
    finally:
        backend.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_zk_sim_waiters_are_not_blocked_by_a_holder_that_crashes_mid_contention(seed):
    backend = SimZkBackend(Path("."), seed=seed)
    locks = [backend.lock("mid") for _ in range(4)]
    grants = []

    def task(lock, hold):
        yield from lock.acquire_steps()
        grants.append(lock.token)
        from distlab.locks.zk import Sleep

        yield Sleep(hold)
        yield from lock.release_steps()

    scheduler = SimScheduler(backend.world)
    tasks = [scheduler.spawn(lock.driver.client, task(lock, 1.0)) for lock in locks]
    world = backend.world
    # crash whoever holds the lock 0.5 s in: its task dies with it, the others go on
    world.call_at(world.now + 500, lambda w: w.crash(next(
        lock.driver.client.name for lock in locks if lock.token is not None)), "crash the holder")
    scheduler.run(max_ms=120_000)
    assert sorted(t.status for t in tasks) == ["crashed", "done", "done", "done"]
    assert len(grants) == 4 and grants == sorted(grants)
