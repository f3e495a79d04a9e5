"""What every distributed lock in distlab promises: the interface, its errors, fencing tokens.

The notes ask four things of a distributed lock (分布式锁的四个条件):

========  ===============================================================================
互斥       mutual exclusion: at most one client holds the lock at any moment.
安全       safety: only the holder can release it; anybody else's release is refused and
          changes nothing.
容错       fault tolerance: it keeps working while some servers are down.
死锁       no deadlock: a holder that crashes (or stalls) does not block everyone forever —
          its lease, TTL or session runs out and the lock is granted again.
========  ===============================================================================

Three strategies follow them, one module each: :mod:`~distlab.locks.db` (a version column
and compare-and-set), :mod:`~distlab.locks.redis` (``SET NX PX`` and a Lua release) and
:mod:`~distlab.locks.zk` (ephemeral-sequential znodes). All three implement
:class:`DistributedLock`::

    with lock:                      # acquire() then release(), even if the body raises
        write(token=lock.token)     # the fencing token of this grant

    if lock.acquire(timeout=2.0):   # AcquireTimeout after 2 s (blocking=False: one try)
        try:
            ...
        finally:
            lock.release()          # LockLost if the lease/TTL/session ran out meanwhile

**Fencing tokens.** The 死锁 condition has a price: a holder that *pauses* (a GC pause, a
swapped-out VM) past its lease is replaced while it still believes it holds the lock. No lock
can stop that paused process from writing when it wakes up; the storage it writes to can.
Each grant carries a token that grows with every grant, and a storage that remembers the
highest token it has seen refuses writes with a lower one (:class:`FencedStore`,
decision :func:`token_accepted`). This is Martin Kleppmann's argument in "How to do
distributed locking" (2016), and why :attr:`DistributedLock.token` exists.

**Clocks.** distlab's protocol packages never read the wall clock or sleep by themselves
(``tests/project/test_layering.py``): a recipe that needs time is handed a :class:`Clock`.
The ``time`` module *is* one (``clock=time``); tests pass a :class:`ManualClock` and move
time by hand, so lease expiry is tested without waiting.
"""

from __future__ import annotations

import abc
from typing import Any, Protocol

from distlab.sansio import UsageError

__all__ = [
    "Clock",
    "ManualClock",
    "DistributedLock",
    "LockError",
    "LockNotHeld",
    "AcquireTimeout",
    "LockLost",
    "StaleToken",
    "UsageError",
    "token_accepted",
    "TokenAccepted",
    "FencedStore",
]


# ---------------------------------------------------------------------------- errors ---------
class LockError(Exception):
    """Base of every lock error; ``lock`` names the lock it is about."""

    def __init__(self, message: str, *, lock: str | None = None) -> None:
        super().__init__(message)
        self.lock = lock


class LockNotHeld(LockError):
    """安全: release (or extend) by a client that does not hold the lock. Nothing changed."""


class AcquireTimeout(LockError, TimeoutError):
    """The lock was not granted within the timeout; the attempt left nothing behind."""


class LockLost(LockError):
    """The holder's lease, TTL or session ran out and the lock may now belong to someone else.

    Raised by ``release()``/``extend()``/``check()`` of a holder that was replaced; what it did
    after losing the lock is protected only by fencing tokens.
    """


class StaleToken(LockError):
    """A fenced storage refused a write: a newer grant has written already."""


# ---------------------------------------------------------------------------- clocks ---------
class Clock(Protocol):
    """Time as a lock recipe sees it. The ``time`` module satisfies it as it is.

    - ``time()``: wall-clock seconds since the epoch — lease deadlines that other *processes*
      (other machines, for a database) compare against their own clocks;
    - ``monotonic()``: seconds that never go backwards — this process's timeouts;
    - ``sleep(seconds)``: wait (a :class:`ManualClock` just moves its time forward).
    """

    def time(self) -> float: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class ManualClock:
    """A clock that moves only when told: ``sleep`` and ``advance`` add to it.

    >>> clock = ManualClock(start=100.0)
    >>> clock.sleep(2.5); clock.time()
    102.5
    >>> clock.advance(10); clock.monotonic()
    112.5

    Several lock objects sharing one ManualClock in one thread see one consistent time, so a
    test can "pause" a holder past its lease and let another client take over, instantly.
    """

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = float(start)

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise UsageError(f"cannot sleep a negative time ({seconds!r} s)")
        self.now += seconds

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (the same as ``sleep``, read as "meanwhile ...")."""
        self.sleep(seconds)

    def __repr__(self) -> str:
        return f"ManualClock(now={self.now})"


def _check_clock(clock: Any, who: str) -> Any:
    if clock is None or not all(callable(getattr(clock, m, None)) for m in ("time", "monotonic", "sleep")):
        raise UsageError(
            f"{who} needs clock=<a Clock>: pass the time module (clock=time) for real time or a "
            f"distlab.locks.ManualClock in tests; distlab's lock recipes never read the wall "
            f"clock themselves. Got {clock!r}")
    return clock


def _check_timeout(timeout: float | None, blocking: bool) -> None:
    if timeout is not None:
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout < 0:
            raise UsageError(f"timeout must be None or a number of seconds >= 0, got {timeout!r}")
        if not blocking:
            raise UsageError("a timeout makes no sense with blocking=False (that is one try)")


# ---------------------------------------------------------------------------- interface -------
class DistributedLock(abc.ABC):
    """The interface the three strategies share (not re-entrant; one holder per object).

    Subclasses implement :meth:`acquire`, :meth:`release` and :meth:`is_held`; this class adds
    the context manager and the bookkeeping every strategy needs.

    Attributes:
        name: the lock's name (a key, a row, a znode path).
        token: the fencing token of the current grant, ``None`` while not held by this object.
            Tokens grow with every grant of the same lock, whichever client gets it.
    """

    name: str
    token: int | None = None

    @abc.abstractmethod
    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Get the lock.

        :param blocking: False makes one attempt and returns whether it succeeded.
        :param timeout: seconds to wait at most (None: as long as it takes).
        :returns: True once held (False only with ``blocking=False``).
        :raises AcquireTimeout: not granted within ``timeout``; nothing is left behind.
        :raises UsageError: this object holds the lock already (locks are not re-entrant).
        """

    @abc.abstractmethod
    def release(self) -> None:
        """Give the lock up.

        :raises LockNotHeld: this object does not hold it (nothing is changed).
        :raises LockLost: it was held, but the lease/TTL/session ran out first; the lock may
            belong to someone else now, and it is left untouched.
        """

    @abc.abstractmethod
    def is_held(self) -> bool:
        """Ask the backend whether this object still holds the lock (a round trip)."""

    @property
    def held(self) -> bool:
        """Whether this object believes it holds the lock (no round trip; see ``is_held``)."""
        return self.token is not None

    def check(self) -> int:
        """Return the fencing token if the backend confirms the lock is held; else LockLost."""
        if self.token is None:
            raise LockNotHeld(f"lock {self.name!r} is not held by this client", lock=self.name)
        token = self.token
        if not self.is_held():
            raise LockLost(f"lock {self.name!r} (token {token}) was lost: its lease, TTL or session "
                           f"ran out and it may belong to another client now", lock=self.name)
        return token

    def _not_reentrant(self) -> None:
        if self.token is not None:
            raise UsageError(f"lock {self.name!r} is already held by this object (token {self.token}); "
                             f"distlab's locks are not re-entrant")

    def _not_held(self) -> LockNotHeld:
        return LockNotHeld(f"release refused: lock {self.name!r} is not held by this client", lock=self.name)

    def __enter__(self) -> "DistributedLock":
        self.acquire()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.release()

    def __repr__(self) -> str:
        state = f"held, token {self.token}" if self.token is not None else "not held"
        return f"<{type(self).__name__} {self.name!r} {state}>"


# ---------------------------------------------------------------------------- fencing ---------
class TokenAccepted(Protocol):
    """Seam: may a write with ``token`` go ahead, given the highest token the storage has seen?"""

    def __call__(self, highest_seen: int | None, token: int) -> bool: ...


def token_accepted(highest_seen: int | None, token: int) -> bool:
    """May a write carrying ``token`` go ahead, given the highest token the storage has seen?

    The storage side of fencing: tokens only grow, so a token *below* the highest one seen
    belongs to a holder that has been replaced. The same token again is the same holder
    writing twice, and is allowed.

    ============  =======  ========  ==========================================
    highest_seen  token    accepted  why
    ============  =======  ========  ==========================================
    None          1        True      the first write ever
    33            34       True      a newer grant
    34            34       True      the same holder writes again
    34            33       False     a paused holder woke up after being replaced
    ============  =======  ========  ==========================================

    >>> token_accepted(34, 33)
    False
    """
    return highest_seen is None or token >= highest_seen


class FencedStore:
    """A storage that checks fencing tokens: the last line of defence against paused holders.

    >>> store = FencedStore()
    >>> store.write("file", b"from 34", token=34)
    >>> store.write("file", b"from 33", token=33)
    Traceback (most recent call last):
    ...
    distlab.locks.api.StaleToken: write to 'file' with fencing token 33 refused: token 34 wrote already

    ``accept`` is the decision (the lab seam); it defaults to :func:`token_accepted`.
    """

    def __init__(self, accept: TokenAccepted = token_accepted) -> None:
        self.accept = accept
        self.data: dict[str, Any] = {}
        self.highest: dict[str, int] = {}
        self.refused: list[tuple[str, int]] = []

    def write(self, key: str, value: Any, *, token: int) -> None:
        highest = self.highest.get(key)
        if not self.accept(highest, token):
            self.refused.append((key, token))
            raise StaleToken(f"write to {key!r} with fencing token {token} refused: token {highest} wrote already")
        self.highest[key] = token if highest is None else max(highest, token)
        self.data[key] = value

    def read(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)
