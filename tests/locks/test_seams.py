"""The seams are passed in, never patched: a learner's decision runs inside the real recipe.

Each test plugs a plausible *wrong* decision into a recipe and shows which of the four
conditions breaks — what the labs' hidden checks look for.
"""

from __future__ import annotations

import time

import pytest

from distlab.locks import AcquireTimeout, ManualClock


def test_a_lease_blind_is_free_deadlocks_behind_a_crashed_holder(db_backend):
    clock = ManualClock()
    ignores_leases = lambda owner, lease_until, now: owner is None  # noqa: E731 - a learner's bug
    crashed = db_backend.lock("seam-db", clock=clock, ttl=5)
    crashed.acquire()  # and never releases
    waiter = db_backend.lock("seam-db", clock=clock, ttl=5, is_free=ignores_leases)
    with pytest.raises(AcquireTimeout):
        waiter.acquire(timeout=60)  # 死锁: a minute after the lease ran out, still waiting
    assert db_backend.lock("seam-db", clock=clock, ttl=5).acquire(blocking=False), "the reference takes over"


def test_a_release_script_that_does_not_compare_deletes_another_holders_lock(redis_backend):
    blind = "return redis.call('DEL', KEYS[1])"  # a learner's release: no token comparison
    old = redis_backend.lock("seam-redis", ttl=0.1, release_script=blind)
    new = redis_backend.lock("seam-redis", ttl=5)
    old.acquire()
    time.sleep(0.15)
    new.acquire()
    old.release()  # 安全 broken: no error, and ...
    assert not new.is_held()  # ... the new holder's lock is gone


def test_a_predecessor_that_always_says_go_breaks_mutual_exclusion(zk_backend):
    always_go = lambda children, me, blocked_by=None: None  # noqa: E731 - a learner's bug
    one = zk_backend.lock("seam-zk", decide=always_go)
    two = zk_backend.lock("seam-zk", decide=always_go)
    assert one.acquire(blocking=False) and two.acquire(blocking=False)  # 互斥 broken: two holders
    one.release()
    two.release()
