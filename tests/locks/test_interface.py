"""The interface every strategy shares, on every backend (embedded and real servers).

acquire (blocking, non-blocking, timeout), release, the context manager, ``held`` /
``is_held()``, fencing tokens that grow with every grant, and the errors: LockNotHeld for a
non-holder's release (安全: refused, nothing changes), AcquireTimeout, and refusing
re-entry.
"""

from __future__ import annotations

import doctest

import pytest

import distlab.locks.api
import distlab.locks.db
import distlab.locks.redis
import distlab.locks.zk
from distlab.locks import AcquireTimeout, DistributedLock, LockNotHeld, UsageError


def test_acquire_release_and_tokens_grow_with_every_grant(backend):
    first, second = backend.lock("a"), backend.lock("a")
    assert isinstance(first, DistributedLock)
    assert first.acquire() is True
    assert first.held and first.is_held() and first.token is not None
    assert not second.held and not second.is_held()
    token = first.token
    first.release()
    assert first.token is None and not first.held
    assert second.acquire(blocking=False) is True
    assert second.token > token
    second.release()
    assert first.acquire() is True and first.token > token
    first.release()


def test_non_blocking_acquire_of_a_held_lock_returns_false_and_leaves_nothing(backend):
    holder, other = backend.lock("b"), backend.lock("b")
    holder.acquire()
    assert other.acquire(blocking=False) is False
    assert other.token is None and holder.is_held()
    holder.release()
    assert other.acquire(blocking=False) is True  # the failed try left nothing in the way
    other.release()


def test_acquire_timeout_raises_and_leaves_nothing_behind(backend):
    holder, other = backend.lock("c"), backend.lock("c")
    holder.acquire()
    with pytest.raises(AcquireTimeout, match="not acquired within 0.2 s"):
        other.acquire(timeout=0.2)
    assert other.token is None
    holder.release()
    assert other.acquire(timeout=5) is True
    other.release()


def test_a_non_holders_release_is_refused_and_changes_nothing(backend):
    holder, stranger = backend.lock("d"), backend.lock("d")
    holder.acquire()
    token = holder.token
    with pytest.raises(LockNotHeld, match="not held by this client"):
        stranger.release()
    assert holder.is_held() and holder.token == token
    assert stranger.acquire(blocking=False) is False  # still held: the refusal changed nothing
    holder.release()
    with pytest.raises(LockNotHeld):
        holder.release()  # releasing twice is a non-holder's release too


def test_context_manager_releases_even_when_the_body_raises(backend):
    lock, other = backend.lock("e"), backend.lock("e")
    with pytest.raises(RuntimeError, match="boom"):
        with lock:
            assert lock.held
            raise RuntimeError("boom")
    assert not lock.held
    assert other.acquire(blocking=False) is True
    other.release()


def test_locks_are_not_reentrant(backend):
    lock = backend.lock("f")
    lock.acquire()
    with pytest.raises(UsageError, match="not re-entrant"):
        lock.acquire(blocking=False)
    assert lock.is_held()
    lock.release()


def test_different_names_do_not_block_each_other(backend):
    one, two = backend.lock("g1"), backend.lock("g2")
    assert one.acquire(blocking=False) and two.acquire(blocking=False)
    one.release()
    two.release()


def test_check_returns_the_token_while_held(backend):
    lock = backend.lock("h")
    with pytest.raises(LockNotHeld):
        lock.check()
    with lock:
        assert lock.check() == lock.token


def test_bad_arguments_are_refused_with_what_was_wrong(backend):
    lock = backend.lock("i")
    with pytest.raises(UsageError, match="timeout must be None or a number"):
        lock.acquire(timeout=-1)
    with pytest.raises(UsageError, match="blocking=False"):
        lock.acquire(blocking=False, timeout=1)


@pytest.mark.parametrize("module", [distlab.locks.api, distlab.locks.db, distlab.locks.redis, distlab.locks.zk],
                         ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
