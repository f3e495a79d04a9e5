"""The pure decisions, one table each: the seams learners implement in Labs 1, 2 and 4.

Each row is a case from the decision's docstring table (and from kazoo's / Curator's / the
ZooKeeper recipes page's rules, cited per table). No server, no clock.
"""

from __future__ import annotations

import pytest

from distlab.locks import (
    FencedStore,
    ManualClock,
    StaleToken,
    UsageError,
    cas_won,
    lock_is_free,
    predecessor,
    release_allowed,
    token_accepted,
)
from distlab.locks.zk import EXCLUSIVE, SHARED, NodeName, NodeVanished, parse_node


# ---------------------------------------------------------------- 数据库乐观锁 (Lab 1) -------
@pytest.mark.parametrize("owner, lease_until, now, free", [
    (None, None, 50.0, True),
    ("a", 100.0, 50.0, False),
    ("a", 100.0, 100.0, True),
    ("a", 100.0, 130.0, True),
    ("a", None, 50.0, False),
], ids=["never-taken", "lease-running", "lease-ends-now", "crashed-holder-replaced", "no-lease"])
def test_lock_is_free(owner, lease_until, now, free):
    assert lock_is_free(owner, lease_until, now) is free


@pytest.mark.parametrize("rowcount, won", [(1, True), (0, False)], ids=["row-unchanged-won", "row-changed-lost"])
def test_cas_won(rowcount, won):
    assert cas_won(rowcount) is won


@pytest.mark.parametrize("rowcount", [2, -1], ids=["name-not-primary-key", "no-rowcount"])
def test_cas_won_refuses_impossible_row_counts(rowcount):
    with pytest.raises(UsageError, match=f"changed {rowcount} rows"):
        cas_won(rowcount)


# ---------------------------------------------------------------- Redis (Lab 2) --------------
@pytest.mark.parametrize("stored, token, allowed", [
    (b"t1", "t1", True),
    (None, "t1", False),
    (b"t2", "t1", False),
    ("t1", b"t1", True),
], ids=["ours", "expired-nobody", "expired-someone-else", "str-vs-bytes"])
def test_release_allowed(stored, token, allowed):
    assert release_allowed(stored, token) is allowed


# ---------------------------------------------------------------- fencing --------------------
@pytest.mark.parametrize("highest, token, accepted", [
    (None, 1, True), (33, 34, True), (34, 34, True), (34, 33, False),
], ids=["first-write", "newer-grant", "same-holder-again", "paused-holder"])
def test_token_accepted(highest, token, accepted):
    assert token_accepted(highest, token) is accepted


def test_fenced_store_refuses_a_stale_token_and_keeps_the_newer_write():
    store = FencedStore()
    store.write("file", "from 34", token=34)
    with pytest.raises(StaleToken, match="fencing token 33 refused: token 34 wrote already"):
        store.write("file", "from 33", token=33)
    assert store.read("file") == "from 34" and store.refused == [("file", 33)]


def test_fenced_store_takes_a_learner_decision():
    # The seam: a store built with a (wrong) decision that accepts everything lets the stale write in.
    store = FencedStore(accept=lambda highest, token: True)
    store.write("file", "new", token=34)
    store.write("file", "stale", token=33)
    assert store.read("file") == "stale"


def test_manual_clock_moves_only_when_told():
    clock = ManualClock(start=10.0)
    assert clock.time() == clock.monotonic() == 10.0
    clock.sleep(0.5)
    clock.advance(2)
    assert clock.time() == 12.5
    with pytest.raises(UsageError):
        clock.sleep(-1)


# ---------------------------------------------------------------- ZooKeeper (Lab 4) ----------
@pytest.mark.parametrize("name, parsed", [
    ("ab12-lock-0000000007", NodeName("ab12-", "lock", 7)),
    ("ab12-read-0000000010", NodeName("ab12-", "read", 10)),
    ("lock-0000000003", NodeName("", "lock", 3)),
    ("config", None),
    ("ab12-lock-000007", None),
    ("ab12-lock--2147483648", NodeName("ab12-", "lock", -2**31)),
], ids=["mutex", "reader", "no-prefix", "not-a-contender", "short-sequence", "wrapped-sequence"])
def test_parse_node(name, parsed):
    assert parse_node(name) == parsed


def _n(kind: str, seq: int, prefix: str = "p") -> str:
    return f"{prefix}{seq}-{kind}-{seq:010d}"


# The recipes page's "Locks" and "Shared Locks"; kazoo's `_get_predecessor`; Curator's
# `StandardLockInternalsDriver.getsTheLock` (maxLeases = 1).
PREDECESSOR_CASES = [
    ([_n("lock", 1)], _n("lock", 1), EXCLUSIVE, None),
    ([_n("lock", 1), _n("lock", 2), _n("lock", 3)], _n("lock", 3), EXCLUSIVE, _n("lock", 2)),
    ([_n("lock", 1), _n("lock", 3)], _n("lock", 3), EXCLUSIVE, _n("lock", 1)),
    ([_n("lock", 3), _n("lock", 1), _n("lock", 2)], _n("lock", 2), EXCLUSIVE, _n("lock", 1)),
    ([_n("read", 1), _n("read", 2)], _n("read", 2), SHARED, None),
    ([_n("write", 1), _n("read", 2), _n("read", 3)], _n("read", 3), SHARED, _n("write", 1)),
    ([_n("read", 1), _n("read", 2), _n("write", 3)], _n("write", 3), EXCLUSIVE, _n("read", 2)),
    ([_n("lock", 2), "config"], _n("lock", 2), EXCLUSIVE, None),
    ([_n("lock", 9), _n("lock", 10)], _n("lock", 10), EXCLUSIVE, _n("lock", 9)),
]


@pytest.mark.parametrize("children, me, blocked_by, expected", PREDECESSOR_CASES, ids=[
    "alone-holds", "watch-next-lower-not-lowest", "gap-left-by-a-waiter", "unsorted-children",
    "readers-share", "reader-waits-for-writer", "writer-waits-for-reader", "ignores-non-contenders",
    "numeric-not-string-order"])
def test_predecessor(children, me, blocked_by, expected):
    assert predecessor(children, me, blocked_by) == expected


def test_predecessor_of_a_vanished_node_says_the_session_expired():
    with pytest.raises(NodeVanished, match="session expired"):
        predecessor([_n("lock", 1), _n("lock", 2)], _n("lock", 7))


def test_predecessor_refuses_a_name_that_is_not_a_contender():
    with pytest.raises(UsageError, match="not a lock contender"):
        predecessor(["config"], "config")
