"""What is particular to the SQL and the Redis strategies.

SQL: the same statements on SQLite and PostgreSQL; the classic lost update on a business row
and its fix with a version column. Redis: ``PX`` and the notes' ``EX``; the scripts are run
by SHA and re-sent when the server forgot them; the release compares before it deletes.
"""

from __future__ import annotations

import threading
import time

import pytest

from distlab.locks import LockLost, RedisLock, UsageError
from distlab.locks.db import (
    connect,
    deposit,
    open_account,
    read_account,
    write_balance_blind,
    write_balance_cas,
)
from distlab.locks.redis import ACQUIRE_SCRIPT, RELEASE_SCRIPT, _SHA

from tests.locks.workers import run_threads


# ------------------------------------------------------------------------ SQL ---------------
def test_the_lock_is_a_row_with_a_version_that_every_change_bumps(db_backend):
    lock = db_backend.lock("row")
    lock.acquire()
    row = lock.row()
    assert row.owner is not None and row.version == lock.token and row.lease_until is not None
    lock.release()
    after = lock.row()
    assert after.owner is None and after.lease_until is None and after.version == row.version + 1


def test_lost_update_with_a_blind_write_and_its_fix_with_a_version_column(db_backend):
    db = connect(db_backend.target)
    account = f"{db_backend.ns}-acct"
    open_account(db, account, 100)
    # Two clients read the same balance, then both write what they computed.
    alice_balance, alice_version = read_account(db, account)
    bob_balance, bob_version = read_account(db, account)
    write_balance_blind(db, account, alice_balance + 50)
    write_balance_blind(db, account, bob_balance + 30)
    assert read_account(db, account)[0] == 130, "alice's +50 is lost: the lost update"

    open_account(db, account, 100)
    alice_balance, alice_version = read_account(db, account)
    bob_balance, bob_version = read_account(db, account)
    assert write_balance_cas(db, account, alice_balance + 50, alice_version)
    assert not write_balance_cas(db, account, bob_balance + 30, bob_version), "bob's version is stale"
    bob_balance, bob_version = read_account(db, account)  # bob reads again and retries
    assert write_balance_cas(db, account, bob_balance + 30, bob_version)
    assert read_account(db, account) == (180, 2)
    db.close()


@pytest.mark.parametrize("optimistic, exact", [(True, True), (False, False)], ids=["version-column", "blind"])
def test_concurrent_deposits(db_backend, optimistic, exact):
    target, account = db_backend.target, f"{db_backend.ns}-deposits"
    setup = connect(target)
    open_account(setup, account, 0)
    barrier = threading.Barrier(4)

    def client():
        db = connect(target)
        barrier.wait(10)  # start together
        tries = 0
        for _ in range(10):
            tries += deposit(db, account, 1, optimistic=optimistic, between=lambda: time.sleep(0.002))
        db.close()
        return tries

    tries = run_threads([client] * 4)
    balance, _ = read_account(setup, account)
    setup.close()
    if exact:
        assert balance == 40 and sum(tries) > 40, "every deposit lands; some needed a second try"
    else:
        assert balance < 40, "blind writes lose deposits"


def test_connect_picks_the_backend_from_the_target(tmp_path):
    db = connect(str(tmp_path / "x.db"))
    assert type(db).__name__ == "SqliteDb"
    db.close()
    with pytest.raises(UsageError, match="SQLite path or a postgresql:// DSN"):
        connect("")


# ------------------------------------------------------------------------ Redis -------------
@pytest.mark.parametrize("expiry, ttl", [("PX", 0.25), ("EX", 1)])
def test_px_and_ex_both_set_the_ttl(redis_backend, expiry, ttl):
    lock = redis_backend.lock("ttl-" + expiry, ttl=ttl, expiry=expiry)
    lock.acquire()
    pttl = lock.redis.pttl(lock.name)
    assert 0 < pttl <= ttl * 1000
    lock.release()


def test_ex_needs_whole_seconds(redis_backend):
    with pytest.raises(UsageError, match="EX counts whole seconds"):
        redis_backend.lock("ex", ttl=0.5, expiry="EX")


def test_scripts_run_by_sha_and_are_sent_again_after_a_script_flush(redis_backend):
    lock = redis_backend.lock("sha")
    lock.acquire()
    lock.release()
    assert lock.redis.script_exists(_SHA[ACQUIRE_SCRIPT], _SHA[RELEASE_SCRIPT]) == [True, True]
    lock.redis.script_flush()  # a restarted server forgets every script
    assert lock.acquire(blocking=False)
    lock.release()
    assert lock.redis.script_exists(_SHA[ACQUIRE_SCRIPT])[0]


def test_the_release_script_leaves_another_holders_key_alone(redis_backend):
    old = redis_backend.lock("swap", ttl=5)
    old.acquire()
    old.redis.set(old.name, "somebody-else")  # as if our TTL ran out and another client got it
    with pytest.raises(LockLost, match="nothing was deleted"):
        old.release()
    assert old.redis.get(old.name) == b"somebody-else"


def test_the_fence_counter_is_a_separate_key_that_only_grows(redis_backend):
    a, b = redis_backend.lock("fence"), redis_backend.lock("fence")
    tokens = []
    for lock in (a, b, a, b):
        lock.acquire()
        tokens.append(lock.token)
        lock.release()
    assert tokens == sorted(tokens) and len(set(tokens)) == 4
    assert int(a.redis.get(a.fence_key)) == tokens[-1]


def test_redis_lock_needs_a_clock():
    with pytest.raises(UsageError, match="clock=time"):
        RedisLock(None, "x", clock=None)
