"""Sessions: bucketed expiry, timeouts, ids (reference notes 5.7; ``SessionTrackerImpl``, ``ExpiryQueue``)."""

from __future__ import annotations

import pytest

from distlab.zk.errors import SessionExpiredError, UnknownSessionError
from distlab.zk.sessions import (
    ExpiryQueue,
    SessionState,
    SessionTracker,
    expiry_deadline,
    initialize_next_session_id,
)


@pytest.mark.parametrize(
    "now, timeout, tick, deadline",
    [
        (0, 4000, 2000, 6000),
        (1999, 4000, 2000, 6000),
        (2000, 4000, 2000, 8000),
        (1, 4000, 2000, 6000),
        (5999, 4000, 2000, 10000),
        (0, 6000, 3000, 9000),
        (2999, 6000, 3000, 9000),
        (0, 0, 2000, 2000),
    ],
    ids=["at a tick", "just before the next tick", "on the next tick", "1 ms in", "late in a bucket", "tick 3000", "tick 3000 late", "no timeout"],
)
def test_deadline_is_the_next_tick_after_now_plus_timeout(now: int, timeout: int, tick: int, deadline: int) -> None:
    # (floor((now + timeout) / tick) + 1) * tick
    assert expiry_deadline(now, timeout, tick) == deadline


@pytest.mark.parametrize(
    "requested, negotiated",
    [(1, 4000), (3999, 4000), (4000, 4000), (10_000, 10_000), (40_000, 40_000), (40_001, 40_000), (10**9, 40_000)],
    ids=["tiny", "just under min", "min", "middle", "max", "just over max", "huge"],
)
def test_timeout_is_clamped_to_2_and_20_ticks(requested: int, negotiated: int) -> None:
    tracker = SessionTracker(tick_time=2000)
    session_id = tracker.create(requested, now=0)
    assert tracker.timeout_of(session_id) == negotiated


def test_custom_timeout_bounds() -> None:
    tracker = SessionTracker(tick_time=1000, min_session_timeout=500, max_session_timeout=3000)
    assert [tracker.negotiate_timeout(t) for t in (100, 2000, 9000)] == [500, 2000, 3000]
    with pytest.raises(ValueError):
        SessionTracker(tick_time=1000, min_session_timeout=5000, max_session_timeout=3000)


def test_session_expires_at_its_bucket_time_not_before() -> None:
    tracker = SessionTracker(tick_time=2000)
    sid = tracker.create(4000, now=0)
    assert tracker.deadline_of(sid) == 6000
    assert tracker.expired(5999) == []
    assert tracker.expired(6000) == [sid]
    assert tracker.state(sid) == SessionState(sid, 4000, None, True)


def test_touch_moves_the_bucket() -> None:
    tracker = SessionTracker(tick_time=2000)
    sid = tracker.create(4000, now=0)
    assert tracker.touch(sid, 1999) is True
    assert tracker.deadline_of(sid) == 6000  # same bucket
    tracker.touch(sid, 2000)
    assert tracker.deadline_of(sid) == 8000
    assert tracker.expired(6000) == []
    assert tracker.expired(8000) == [sid]


def test_expired_catches_up_bucket_by_bucket_in_order() -> None:
    tracker = SessionTracker(tick_time=1000)
    late = tracker.create(5000, now=0)  # deadline 6000
    early = tracker.create(2000, now=0)  # deadline 3000
    middle = tracker.create(3000, now=0)  # deadline 4000
    assert tracker.expired(10_000) == [early, middle, late]
    assert tracker.next_expiration_time == 11_000


def test_closing_session_cannot_be_touched_or_used() -> None:
    tracker = SessionTracker(tick_time=2000)
    sid = tracker.create(4000, now=0)
    tracker.close(sid)
    assert tracker.touch(sid, 100) is False
    with pytest.raises(SessionExpiredError):
        tracker.check(sid)
    assert tracker.expired(100_000) == []  # not reported twice
    tracker.remove(sid)
    with pytest.raises(UnknownSessionError):
        tracker.check(sid)
    assert sid not in tracker
    assert tracker.touch(sid, 100_000) is False


def test_expired_session_is_closing_until_removed() -> None:
    tracker = SessionTracker(tick_time=2000)
    sid = tracker.create(4000, now=0)
    tracker.expired(6000)
    with pytest.raises(SessionExpiredError):
        tracker.check(sid)
    assert tracker.touch(sid, 6000) is False
    assert sid in tracker
    tracker.remove(sid)
    assert len(tracker) == 0


def test_track_a_session_learned_elsewhere() -> None:
    tracker = SessionTracker(tick_time=2000)
    assert tracker.track(0x0500000000000001, 6000, now=1000) is True
    assert tracker.track(0x0500000000000001, 6000, now=3000) is False  # only touched
    assert tracker.deadline_of(0x0500000000000001) == 10_000


def test_time_cannot_run_backwards() -> None:
    tracker = SessionTracker(tick_time=2000)
    tracker.expired(5000)
    with pytest.raises(ValueError, match="backwards"):
        tracker.create(4000, now=4000)


@pytest.mark.parametrize(
    "server_id, time_ms, first_id",
    [
        (0, 0, 1),  # 0 would mean "no owner"
        (1, 0, 0x0100000000000000),
        (2, 0, 0x0200000000000000),
        (0, 1000, 1000 << 16),
        (127, 0, 0x7F00000000000000),
        (128, 0, -(2**63) + 1),  # Long.MIN_VALUE marks containers, so +1
        (255, 0, -(1 << 56)),
    ],
    ids=["server 0", "server 1", "server 2", "time in the low bits", "server 127", "server 128", "server 255"],
)
def test_initialize_next_session_id(server_id: int, time_ms: int, first_id: int) -> None:
    assert initialize_next_session_id(server_id, time_ms) == first_id


def test_session_ids_count_up_deterministically() -> None:
    tracker = SessionTracker(tick_time=2000, server_id=3)
    ids = [tracker.create(4000, now=0) for _ in range(3)]
    assert ids == [0x0300000000000000, 0x0300000000000001, 0x0300000000000002]
    assert tracker.session_ids() == ids
    with pytest.raises(ValueError):
        initialize_next_session_id(256)


def test_expiry_queue_polls_one_bucket_per_call() -> None:
    queue: ExpiryQueue[str] = ExpiryQueue(1000, now=0)
    assert queue.next_expiration_time == 1000
    assert queue.update("a", 1500, now=0) == 2000
    assert queue.update("a", 1500, now=100) is None  # same bucket: no change
    queue.update("b", 500, now=0)  # 1000
    assert queue.wait_time(400) == 600
    assert queue.poll(999) == []
    assert queue.poll(5000) == ["b"]
    assert queue.poll(5000) == ["a"]
    assert queue.remove("a") is None
    assert queue.wait_time(5000) == 0
