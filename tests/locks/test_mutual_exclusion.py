"""互斥 — N competing clients increment a counter under the lock; the final count is exact.

The increment is a read-modify-write with a pause in the middle, so two clients inside at
once would lose an update. SQL clients are separate *processes* (SQLite's file is what they
share); Redis and kazoo clients are threads with their own connections; simulated ZooKeeper
clients are generators run side by side by ``SimScheduler``. Each increment records its
fencing token: in the order of the values written, the tokens grow.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pytest

from distlab.locks.db import connect
from distlab.locks.zk_sim import SimScheduler

from tests.locks.conftest import ZK_BACKENDS, SimZkBackend
from tests.locks.workers import (
    Inside,
    db_counter_worker,
    kazoo_counter_worker,
    prepare_db_counter,
    redis_counter_worker,
    run_threads,
    sim_counter_task,
    tokens_follow_the_counter,
)

CLIENTS, INCREMENTS = 4, 10


def test_sql_processes_count_exactly(db_backend):
    name = f"{db_backend.ns}-counter"
    db = connect(db_backend.target)
    db.ensure_schema()
    prepare_db_counter(db, name)
    with ProcessPoolExecutor(CLIENTS, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(db_counter_worker, db_backend.target, f"{db_backend.ns}-lock", name, INCREMENTS)
                   for _ in range(CLIENTS)]
        records = [r for f in futures for r in f.result(timeout=120)]
    (value,), = db.query("SELECT value FROM distlab_counter WHERE name = ?", (name,))
    db.close()
    assert value == CLIENTS * INCREMENTS
    assert sorted(v for _, v in records) == list(range(1, CLIENTS * INCREMENTS + 1))
    assert tokens_follow_the_counter(records)


def test_redis_threads_count_exactly(redis_backend):
    counter = f"{redis_backend.ns}-counter"
    inside = Inside()
    locks = [redis_backend.lock("counter-lock") for _ in range(CLIENTS)]
    locks[0].redis.set(counter, 0)
    results = run_threads([lambda lock=lock: redis_counter_worker(lock, counter, INCREMENTS, inside) for lock in locks])
    records = [r for rs in results for r in rs]
    assert int(locks[0].redis.get(counter)) == CLIENTS * INCREMENTS
    assert inside.most == 1
    assert tokens_follow_the_counter(records)


@pytest.mark.parametrize("zk_backend", ZK_BACKENDS, indirect=True)
def test_zookeeper_clients_count_exactly(zk_backend):
    counter = f"/counters/{zk_backend.ns}"
    inside, records = Inside(), []
    locks = [zk_backend.lock("counter") for _ in range(CLIENTS)]
    if isinstance(zk_backend, SimZkBackend) and not hasattr(zk_backend, "hosts"):
        locks[0].driver.client.create(counter, b"0", makepath=True)
        scheduler = SimScheduler(zk_backend.world)
        for lock in locks:
            scheduler.spawn(lock.driver.client, sim_counter_task(lock, counter, INCREMENTS, inside, records))
        scheduler.run(max_ms=600_000)
        data, _ = locks[0].driver.client.get(counter)
    else:
        locks[0].driver.client.create(counter, b"0", makepath=True)
        results = run_threads([lambda lock=lock: kazoo_counter_worker(lock, counter, INCREMENTS, inside)
                               for lock in locks])
        records = [r for rs in results for r in rs]
        data, _ = locks[0].driver.client.get(counter)
    assert int(data) == CLIENTS * INCREMENTS
    assert inside.most == 1
    assert tokens_follow_the_counter(records)
