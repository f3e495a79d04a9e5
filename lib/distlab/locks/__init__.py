"""``distlab.locks`` — the notes' three distributed locks, one module per strategy.

- :mod:`~distlab.locks.api` — the interface (:class:`DistributedLock`), the errors, fencing
  tokens (:class:`FencedStore`) and clocks (:class:`ManualClock`; the ``time`` module is one);
- :mod:`~distlab.locks.db` — 数据库乐观锁: a version column and ``UPDATE ... WHERE version = ?``
  (SQLite by default, PostgreSQL given a DSN);
- :mod:`~distlab.locks.redis` — ``SET key token NX PX ttl`` and a Lua release (fakeredis by
  default, a real Redis given a URL);
- :mod:`~distlab.locks.zk` — ephemeral-sequential znodes, watch the predecessor (the
  simulated ensemble, or a real ZooKeeper through kazoo), plus the read-write lock.

Each module's docstring states its algorithm as numbered steps and which step secures which
of the four conditions (互斥, 安全, 容错, 死锁). The decisions are pure functions —
:func:`lock_is_free`, :func:`cas_won`, :func:`release_allowed`, :func:`predecessor`,
:func:`token_accepted` — the seams learners implement in Labs 1, 2 and 4.
"""

from distlab.locks.api import (
    AcquireTimeout,
    Clock,
    DistributedLock,
    FencedStore,
    LockError,
    LockLost,
    LockNotHeld,
    ManualClock,
    StaleToken,
    UsageError,
    token_accepted,
)
from distlab.locks.db import DbLock, cas_won, lock_is_free
from distlab.locks.redis import RedisLock, release_allowed
from distlab.locks.zk import ZkLock, ZkReadLock, ZkWriteLock, predecessor

__all__ = [
    "DistributedLock",
    "Clock",
    "ManualClock",
    "LockError",
    "LockNotHeld",
    "AcquireTimeout",
    "LockLost",
    "StaleToken",
    "UsageError",
    "FencedStore",
    "token_accepted",
    "DbLock",
    "lock_is_free",
    "cas_won",
    "RedisLock",
    "release_allowed",
    "ZkLock",
    "ZkReadLock",
    "ZkWriteLock",
    "predecessor",
]
