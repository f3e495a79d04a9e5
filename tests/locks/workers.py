"""Competing clients for the mutual-exclusion tests: each increments a shared counter under the
lock with a read-modify-write that loses updates if two clients are ever inside at once.

Every increment records ``(fencing token, value written)``: sorted by value, the tokens must
grow too — the order of grants is the order of the tokens.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from distlab.locks import DbLock, RedisLock
from distlab.locks.zk import GetData, SetData, Sleep
from distlab.zk.errors import ConnectionLossError, OperationTimeoutError


class Inside:
    """Counts clients inside the critical section; more than one is a violation of 互斥."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self._guard = threading.Lock()

    def enter(self) -> None:
        with self._guard:
            self.now += 1
            self.most = max(self.most, self.now)

    def leave(self) -> None:
        with self._guard:
            self.now -= 1


# ------------------------------------------------------------------------ SQL (processes) ---
def db_counter_worker(target: str, lock_name: str, counter: str, increments: int) -> list[tuple[int, int]]:
    """One process: ``increments`` times, take the lock, read the counter row, write it + 1."""
    lock = DbLock(target, lock_name, clock=time, ttl=30, poll=0.002)
    db = lock.db
    records = []
    for _ in range(increments):
        with lock:
            (value,), = db.query("SELECT value FROM distlab_counter WHERE name = ?", (counter,))
            time.sleep(0.001)  # widen the window a lost update needs
            db.execute("UPDATE distlab_counter SET value = ? WHERE name = ?", (value + 1, counter))
            records.append((lock.token, value + 1))
    db.close()
    return records


def prepare_db_counter(db: Any, counter: str) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS distlab_counter (name TEXT PRIMARY KEY, value BIGINT NOT NULL)")
    db.execute("DELETE FROM distlab_counter WHERE name = ?", (counter,))
    db.execute("INSERT INTO distlab_counter (name, value) VALUES (?, 0)", (counter,))


# ------------------------------------------------------------------------ threads -------------
def run_threads(workers: list[Callable[[], Any]], timeout: float = 60.0) -> list[Any]:
    """Run each worker in a thread; re-raise the first error; return their results."""
    results: list[Any] = [None] * len(workers)
    errors: list[BaseException] = []

    def run(i: int, fn: Callable[[], Any]) -> None:
        try:
            results[i] = fn()
        except BaseException as error:  # noqa: BLE001 - handed to the test
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i, fn), daemon=True) for i, fn in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    if any(thread.is_alive() for thread in threads):
        raise TimeoutError(f"workers still running after {timeout} s")
    if errors:
        raise errors[0]
    return results


def redis_counter_worker(lock: RedisLock, counter: str, increments: int, inside: Inside) -> list[tuple[int, int]]:
    records = []
    client = lock.redis
    for _ in range(increments):
        with lock:
            inside.enter()
            value = int(client.get(counter) or 0)
            time.sleep(0.001)
            client.set(counter, value + 1)
            records.append((lock.token, value + 1))
            inside.leave()
    return records


def kazoo_counter_worker(lock: Any, counter: str, increments: int, inside: Inside,
                         hold: float = 0.001) -> list[tuple[int, int]]:
    """A kazoo client's increments; get/set retried through failovers (idempotent under the lock)."""
    client = lock.driver.client
    records = []
    for _ in range(increments):
        with lock:
            inside.enter()
            data, _ = client.retry(client.get, counter)
            time.sleep(hold)
            value = int(data) + 1
            client.retry(client.set, counter, str(value).encode())
            records.append((lock.token, value))
            inside.leave()
    return records


# ------------------------------------------------------------------------ simulator tasks -----
def retrying(op: Any):
    """Yield ``op`` until it gets an answer: a failover's ConnectionLoss is retried."""
    while True:
        try:
            return (yield op)
        except (ConnectionLossError, OperationTimeoutError):
            yield Sleep(0.05)


def sim_counter_task(lock: Any, counter: str, increments: int, inside: Inside, records: list,
                     hold: float = 0.005):
    """A simulated client's increments as a generator for SimScheduler."""
    for _ in range(increments):
        yield from lock.acquire_steps()
        inside.enter()
        data, _stat = yield from retrying(GetData(counter))
        yield Sleep(hold)
        value = int(data) + 1
        yield from retrying(SetData(counter, str(value).encode()))
        records.append((lock.token, value))
        inside.leave()
        yield from lock.release_steps()


def tokens_follow_the_counter(records: list[tuple[int, int]]) -> bool:
    """Sorted by the value each increment wrote, the fencing tokens strictly grow."""
    tokens = [token for token, _ in sorted(records, key=lambda r: r[1])]
    return all(a < b for a, b in zip(tokens, tokens[1:]))
