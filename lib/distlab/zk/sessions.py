"""Sessions and their expiry (``SessionTrackerImpl``, ``ExpiryQueue``).

A session lives while its client keeps talking: every request or ping "touches" it, moving
its deadline ``timeout`` ms into the future. ZooKeeper does not keep one timer per session.
It rounds each deadline **up to the next multiple of tickTime** and keeps one bucket per
multiple (``ExpiryQueue``), so expiry is checked once per tick for a whole bucket::

    deadline(now, timeout) = (floor((now + timeout) / tick) + 1) * tick

    tick 2000, timeout 4000, touched at 0     -> deadline 6000
                             touched at 1999  -> deadline 6000 (same bucket)
                             touched at 2000  -> deadline 8000

So a session may outlive its timeout by up to one tick, never less. ``expired(now)`` empties
every bucket whose time has come and marks those sessions *closing* (they can no longer be
touched); the server then submits a ``CloseSessionRequest`` for each, which deletes all the
session's ephemerals in one txn, and calls ``remove`` once that txn is applied.

Timeouts are negotiated into [2*tick, 20*tick] by default
(``ZooKeeperServer.processConnectRequest``). Session ids come from the server id and a
counter (``initialize_next_session_id``), never from randomness. Time is always a parameter
(int ms); this module never reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Hashable, TypeVar

from distlab.zk.errors import SessionExpiredError, UnknownSessionError

__all__ = [
    "ExpiryQueue",
    "SessionTracker",
    "SessionState",
    "expiry_deadline",
    "initialize_next_session_id",
]

_MASK64 = (1 << 64) - 1
_LONG_MIN = -(1 << 63)

E = TypeVar("E", bound=Hashable)


def expiry_deadline(now: int, timeout: int, tick_time: int) -> int:
    """The bucket a session touched at ``now`` lands in (``ExpiryQueue.roundToNextInterval``).

    >>> [expiry_deadline(now, 4000, 2000) for now in (0, 1999, 2000)]
    [6000, 6000, 8000]
    """
    return ((now + timeout) // tick_time + 1) * tick_time


def initialize_next_session_id(server_id: int, time_ms: int = 0) -> int:
    """The first session id a server hands out (``SessionTrackerImpl.initializeNextSessionId``).

    ZooKeeper puts the server id in the top byte and the start time, shifted, below it, so
    ids from different servers (and restarts) never collide; later ids count up from there.
    distlab passes the time explicitly (0 by default). Ids are Java longs (signed 64-bit);
    ``Long.MIN_VALUE`` marks containers, so it is skipped, and so is 0, which marks "no
    owner" in ``ephemeralOwner`` (the first id of server 0 at time 0 is therefore 1).
    """
    if not 0 <= server_id <= 255:
        raise ValueError(f"server id {server_id} must fit in one byte (0..255)")
    unsigned = (((time_ms << 24) & _MASK64) >> 8) | ((server_id << 56) & _MASK64)
    session_id = unsigned - (1 << 64) if unsigned >= 1 << 63 else unsigned
    if session_id in (_LONG_MIN, 0):
        session_id += 1
    return session_id


class ExpiryQueue(Generic[E]):
    """Elements bucketed by expiry time, a multiple of ``interval`` (``ExpiryQueue``)."""

    def __init__(self, interval: int, now: int) -> None:
        if interval <= 0:
            raise ValueError(f"expiry interval must be positive, not {interval}")
        self.interval = interval
        self._deadline_of: dict[E, int] = {}
        self._buckets: dict[int, dict[E, None]] = {}  # deadline -> elements, insertion-ordered
        self.next_expiration_time = expiry_deadline(now, 0, interval)

    def update(self, elem: E, timeout: int, now: int) -> int | None:
        """Move ``elem`` to the bucket for ``now + timeout``; the new deadline, or None if same."""
        deadline = expiry_deadline(now, timeout, self.interval)
        previous = self._deadline_of.get(elem)
        if previous == deadline:
            return None
        self._buckets.setdefault(deadline, {})[elem] = None
        self._deadline_of[elem] = deadline
        if previous is not None:
            self._buckets.get(previous, {}).pop(elem, None)
        return deadline

    def remove(self, elem: E) -> int | None:
        """Forget ``elem``; its deadline, or None if it was not queued."""
        deadline = self._deadline_of.pop(elem, None)
        if deadline is not None:
            self._buckets.get(deadline, {}).pop(elem, None)
        return deadline

    def deadline_of(self, elem: E) -> int | None:
        """The bucket time of ``elem``, or None if it is not queued."""
        return self._deadline_of.get(elem)

    def wait_time(self, now: int) -> int:
        """Ms until the next bucket is due (0 if it is due now)."""
        return max(0, self.next_expiration_time - now)

    def poll(self, now: int) -> list[E]:
        """If the next bucket is due, remove and return its elements and move on one interval.

        One bucket per call, as ``ExpiryQueue.poll``; call until ``wait_time`` is positive to
        catch up after a long gap.
        """
        if now < self.next_expiration_time:
            return []
        due = self.next_expiration_time
        self.next_expiration_time += self.interval
        bucket = self._buckets.pop(due, {})
        for elem in bucket:
            del self._deadline_of[elem]
        return list(bucket)


@dataclass(frozen=True, slots=True)
class SessionState:
    """A session as the tracker sees it (``SessionTrackerImpl.SessionImpl``)."""

    session_id: int
    timeout: int
    deadline: int | None  # None once expired (taken out of its bucket)
    closing: bool


class SessionTracker:
    """Tracks open sessions and tells which have expired (``SessionTrackerImpl``).

    Example::

        tracker = SessionTracker(tick_time=2000)
        sid = tracker.create(timeout=4000, now=0)   # deadline 6000
        tracker.expired(5999)                        # []
        tracker.expired(6000)                        # [sid], now closing
        tracker.remove(sid)                          # after its CloseSessionTxn is applied

    Args:
        tick_time: the bucket width in ms (ZooKeeper's tickTime).
        server_id: top byte of every session id this tracker hands out.
        now: the start time in ms; the first bucket is the next multiple of ``tick_time``.
        min_session_timeout, max_session_timeout: negotiation bounds, default 2 and 20 ticks.
    """

    def __init__(
        self,
        tick_time: int = 2000,
        *,
        server_id: int = 0,
        now: int = 0,
        min_session_timeout: int | None = None,
        max_session_timeout: int | None = None,
    ) -> None:
        self.tick_time = tick_time
        if min_session_timeout is None:
            min_session_timeout = 2 * tick_time
        if max_session_timeout is None:
            max_session_timeout = 20 * tick_time
        self.min_session_timeout = min_session_timeout
        self.max_session_timeout = max_session_timeout
        if self.min_session_timeout > self.max_session_timeout:
            raise ValueError("min_session_timeout must not exceed max_session_timeout")
        self._queue: ExpiryQueue[int] = ExpiryQueue(tick_time, now)
        self._timeouts: dict[int, int] = {}
        self._closing: set[int] = set()
        self._next_session_id = initialize_next_session_id(server_id, now)
        self._now = now

    def negotiate_timeout(self, requested: int) -> int:
        """``requested`` clamped to [min, max] (``ZooKeeperServer.processConnectRequest``)."""
        return max(self.min_session_timeout, min(requested, self.max_session_timeout))

    def create(self, timeout: int, now: int) -> int:
        """Open a session with the negotiated ``timeout``; return its id (``createSession``)."""
        self._advance(now)
        session_id = self._next_session_id
        self._next_session_id += 1
        self.track(session_id, self.negotiate_timeout(timeout), now)
        return session_id

    def track(self, session_id: int, timeout: int, now: int) -> bool:
        """Start tracking a session whose id was chosen elsewhere (``trackSession``).

        Used when a replica learns a session from a txn or a snapshot. ``timeout`` is taken
        as already negotiated. Returns False if the session was already tracked (it is then
        only touched).
        """
        self._advance(now)
        added = session_id not in self._timeouts
        if added:
            self._timeouts[session_id] = timeout
        if session_id not in self._closing:
            self._queue.update(session_id, self._timeouts[session_id], now)
        return added

    def touch(self, session_id: int, now: int) -> bool:
        """Push the session's deadline out (``touchSession``); False if unknown or closing."""
        self._advance(now)
        if session_id not in self._timeouts or session_id in self._closing:
            return False
        self._queue.update(session_id, self._timeouts[session_id], now)
        return True

    def check(self, session_id: int) -> None:
        """Raise unless the session may issue requests (``SessionTrackerImpl.checkSession``).

        Raises:
            UnknownSessionError: never opened, or already removed.
            SessionExpiredError: expired or closing.
        """
        if session_id not in self._timeouts:
            raise UnknownSessionError(None, f"session 0x{session_id:x} is not known")
        if session_id in self._closing:
            raise SessionExpiredError(None, f"session 0x{session_id:x} is closing")

    def expired(self, now: int) -> list[int]:
        """Sessions whose bucket time is at or before ``now``, now marked closing.

        The ``SessionTrackerImpl.run`` loop: poll bucket after bucket until the next one lies
        in the future. Returned in bucket order, then creation order within a bucket.
        """
        self._advance(now)
        expired: list[int] = []
        while self._queue.wait_time(now) == 0:
            for session_id in self._queue.poll(now):
                self._closing.add(session_id)
                expired.append(session_id)
        return expired

    def close(self, session_id: int) -> None:
        """Mark the session closing, e.g. on a client's close (``setSessionClosing``)."""
        if session_id in self._timeouts:
            self._closing.add(session_id)
            self._queue.remove(session_id)

    def remove(self, session_id: int) -> None:
        """Forget the session, once its CloseSessionTxn is applied (``removeSession``)."""
        self._timeouts.pop(session_id, None)
        self._closing.discard(session_id)
        self._queue.remove(session_id)

    def state(self, session_id: int) -> SessionState | None:
        """A frozen view of the session, or None if it is not tracked."""
        if session_id not in self._timeouts:
            return None
        return SessionState(
            session_id,
            self._timeouts[session_id],
            self._queue.deadline_of(session_id),
            session_id in self._closing,
        )

    def timeout_of(self, session_id: int) -> int:
        """The negotiated timeout in ms. Raises KeyError for an unknown session."""
        return self._timeouts[session_id]

    def deadline_of(self, session_id: int) -> int | None:
        """The session's bucket time, or None if it is not queued (unknown or closing)."""
        return self._queue.deadline_of(session_id)

    @property
    def next_expiration_time(self) -> int:
        """When the next bucket is due."""
        return self._queue.next_expiration_time

    def session_ids(self) -> list[int]:
        """Every tracked session (closing ones included), in creation order."""
        return list(self._timeouts)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._timeouts

    def __len__(self) -> int:
        return len(self._timeouts)

    def _advance(self, now: int) -> None:
        # Deadlines are only meaningful if time never runs backwards.
        if now < self._now:
            raise ValueError(f"time went backwards: {now} < {self._now}")
        self._now = now
