"""Redis lock: ``SET key token NX PX ttl`` to take it, a Lua script to give it back.

:Status: reference implementation for Lab 2
:Backends: fakeredis with Lua (the default: in process, no server) and a real Redis through
    redis-py when given a URL or a client. Both run the very same scripts.

**Acquire**

1. Make a random *token* for this attempt: who the holder is, as Redis will see it.
2. Run the acquire script. It is ``SET key token NX PX ttl`` (``EX`` seconds as the notes
   write it, ``PX`` milliseconds by default) and, if that set the key, ``INCR`` of the fence
   key, whose new value it returns: the fencing token. One round trip, and a fencing token
   exists exactly when the lock was granted.
3. Nil: somebody holds it. With ``blocking=False`` report failure; otherwise sleep ``poll``
   seconds (never past the timeout) and go back to 2.

**Release**: the release script compares and deletes in one step — ``if GET key == token then
DEL key`` (:func:`release_allowed` is that decision). **Extend**: the same comparison, then
``PEXPIRE``. Scripts are sent once (``SCRIPT LOAD``) and run by their SHA1 (``EVALSHA``); a
server that forgot them (restarted, ``SCRIPT FLUSH``) answers NOSCRIPT and gets them again.

**Which step secures which condition**

- 互斥 (mutual exclusion) — step 2's ``NX``: Redis runs one command (one script) at a time,
  and only one ``SET NX`` can find the key missing.
- 安全 (only the holder releases) — the release script: the token comparison and the ``DEL``
  run as one unit. A plain ``GET`` then ``DEL`` from the client would delete a lock that
  expired and was granted to someone else in between — the classic bug.
- 容错 (fault tolerance) — *weak*: one Redis server is one point of failure; with a replica,
  asynchronous replication can lose a just-granted key in a failover and grant it twice
  (the Redlock debate). Use ZooKeeper when the lock must survive server failures.
- 死锁 (no deadlock) — the TTL: a crashed holder's key expires by itself.

**Caveats**

- A holder paused longer than its TTL (GC, swapping, a slow disk) is replaced while it still
  believes it holds the lock, and its late writes land — unless the storage checks fencing
  tokens (:class:`~distlab.locks.api.FencedStore`). :meth:`RedisLock.remaining` says how much
  of the TTL is left by the client's own clock (measured from *before* the acquire was sent).
- The TTL runs on the server's clock; a server whose clock jumps expires keys early.
- The fence counter lives in Redis: a server restarted without persistence starts it again
  from 0, and tokens would go backwards. Persist it, or keep fencing where the data is.
- Waiters poll (there is no notification), like ``redis.lock.Lock``.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from distlab.locks.api import (
    AcquireTimeout,
    Clock,
    DistributedLock,
    LockLost,
    UsageError,
    _check_clock,
    _check_timeout,
)

__all__ = [
    "RedisLock",
    "ACQUIRE_SCRIPT",
    "RELEASE_SCRIPT",
    "EXTEND_SCRIPT",
    "release_allowed",
    "redis_client",
    "embedded_server",
]

# KEYS[1] lock key, KEYS[2] fence key; ARGV[1] token, ARGV[2] "PX" or "EX", ARGV[3] the ttl.
ACQUIRE_SCRIPT = """\
if redis.call('SET', KEYS[1], ARGV[1], 'NX', ARGV[2], ARGV[3]) then
    return redis.call('INCR', KEYS[2])
end
return 0
"""

# KEYS[1] lock key; ARGV[1] token. 1: released; 0: not ours (any more).
RELEASE_SCRIPT = """\
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS[1] lock key; ARGV[1] token, ARGV[2] new ttl in ms. 1: extended; 0: not ours.
EXTEND_SCRIPT = """\
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_SHA: dict[str, str] = {}


def _sha(script: str) -> str:
    sha = _SHA.get(script)
    if sha is None:
        sha = _SHA[script] = hashlib.sha1(script.encode()).hexdigest()
    return sha


for _script in (ACQUIRE_SCRIPT, RELEASE_SCRIPT, EXTEND_SCRIPT):
    _sha(_script)


def release_allowed(stored: bytes | str | None, token: bytes | str) -> bool:
    """The release script's decision: delete the key only if it still holds *our* token.

    ==============  ========  =======  ============================================
    stored value    token     delete?  why
    ==============  ========  =======  ============================================
    b"t1"           "t1"      True     we hold it
    None            "t1"      False    our TTL ran out; nobody holds it now
    b"t2"           "t1"      False    our TTL ran out and t2 got it: hands off
    ==============  ========  =======  ============================================

    Redis compares inside the script (``RELEASE_SCRIPT``), so no other command can run
    between the comparison and the ``DEL``.

    >>> release_allowed(b"t2", "t1")
    False
    """
    if stored is None:
        return False
    if isinstance(stored, bytes):
        stored = stored.decode()
    if isinstance(token, bytes):
        token = token.decode()
    return stored == token


_EMBEDDED: dict[str, Any] = {}


def embedded_server() -> Any:
    """The process-wide fakeredis server: every default client shares it, so locks compete."""
    if "server" not in _EMBEDDED:
        import fakeredis

        _EMBEDDED["server"] = fakeredis.FakeServer()
    return _EMBEDDED["server"]


def redis_client(url: str | None = None) -> Any:
    """A redis-py client: on ``url`` (``redis://127.0.0.1:6379/0``), or embedded fakeredis if None."""
    if url is None:
        import fakeredis

        return fakeredis.FakeRedis(server=embedded_server())
    if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
        raise UsageError(f"a Redis URL looks like redis://127.0.0.1:6379/0, got {url!r}")
    import redis

    return redis.Redis.from_url(url)


class RedisLock(DistributedLock):
    """A Redis key held with a TTL; released only by the token that set it.

    Usage::

        import time
        from distlab.locks import RedisLock

        lock = RedisLock(None, "orders", clock=time, ttl=10)          # embedded fakeredis
        lock = RedisLock("redis://127.0.0.1:6379/0", "orders", clock=time, ttl=10)
        with lock:
            storage.write(..., token=lock.token)

    :param client: a redis-py client, a ``redis://`` URL, or None for embedded fakeredis.
    :param name: the lock's key. The fence counter is ``fence_key`` (default ``<name>:fence``).
    :param clock: a :class:`~distlab.locks.api.Clock` (``time`` for real time).
    :param ttl: seconds before Redis drops the key of a holder that went silent.
    :param expiry: ``"PX"`` (milliseconds, the default) or ``"EX"`` (whole seconds, as the
        notes write it).
    :param poll: seconds between attempts while waiting.
    :param release_script: the lab seam, Lua run with ``KEYS[1]`` = the key and ``ARGV[1]`` =
        our token, returning 1 if it released (default :data:`RELEASE_SCRIPT`).
    :param extend_script: the lab seam for :meth:`extend`: ``KEYS[1]`` the key, ``ARGV[1]`` our
        token, ``ARGV[2]`` the new TTL in milliseconds; 1 if extended (default
        :data:`EXTEND_SCRIPT`).
    :param acquire_script: the lab seam for step 2: ``KEYS[1]`` the key, ``KEYS[2]`` the fence
        counter, ``ARGV[1]`` our token, ``ARGV[2]`` ``"PX"`` or ``"EX"``, ``ARGV[3]`` the TTL in
        that unit; the fencing token if granted, 0 if not (default :data:`ACQUIRE_SCRIPT`).

    Not re-entrant; one object is one client.

    .. warning:: a holder that pauses past ``ttl`` loses the lock without noticing; fence
       every write with :attr:`token`.
    """

    def __init__(self, client: Any, name: str, *, clock: Clock, ttl: float = 10.0, expiry: str = "PX",
                 poll: float = 0.02, fence_key: str | None = None, release_script: str = RELEASE_SCRIPT,
                 extend_script: str = EXTEND_SCRIPT, acquire_script: str = ACQUIRE_SCRIPT) -> None:
        if not isinstance(name, str) or not name:
            raise UsageError(f"a lock name must be a non-empty str, got {name!r}")
        if expiry not in ("PX", "EX"):
            raise UsageError(f"expiry must be 'PX' (milliseconds) or 'EX' (seconds), got {expiry!r}")
        if not isinstance(ttl, (int, float)) or ttl <= 0:
            raise UsageError(f"ttl must be a positive number of seconds, got {ttl!r}")
        if expiry == "EX" and float(ttl) != int(ttl):
            raise UsageError(f"EX counts whole seconds; ttl={ttl!r} needs expiry='PX'")
        if not isinstance(poll, (int, float)) or poll <= 0:
            raise UsageError(f"poll must be a positive number of seconds, got {poll!r}")
        self.redis = redis_client(client) if client is None or isinstance(client, str) else client
        self.name = name
        self.fence_key = fence_key or f"{name}:fence"
        self.clock = _check_clock(clock, "RedisLock")
        self.ttl = float(ttl)
        self.expiry = expiry
        self._ttl_arg = int(ttl * 1000) if expiry == "PX" else int(ttl)
        self.poll = float(poll)
        self.release_script = release_script  # the lab seams: KEYS[1] the key, ARGV[1] the token
        self.extend_script = extend_script
        self.acquire_script = acquire_script
        self.token: int | None = None
        self._secret: str | None = None
        self._valid_until: float | None = None

    # -- scripts ---------------------------------------------------------------------------
    def _run(self, script: str, keys: tuple, args: tuple) -> Any:
        """EVALSHA the script; on NOSCRIPT load it (once per server) and run it again."""
        sha = _sha(script)
        try:
            return self.redis.evalsha(sha, len(keys), *keys, *args)
        except Exception as error:
            if type(error).__name__ != "NoScriptError":
                raise
        loaded = self.redis.script_load(script)
        if isinstance(loaded, bytes):
            loaded = loaded.decode()
        if loaded != sha:
            raise UsageError(f"Redis computed SHA {loaded} for a script distlab hashed as {sha}")
        return self.redis.evalsha(sha, len(keys), *keys, *args)

    # -- acquire ---------------------------------------------------------------------------
    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        self._not_reentrant()
        _check_timeout(timeout, blocking)
        clock = self.clock
        deadline = None if timeout is None else clock.monotonic() + timeout
        secret = secrets.token_hex(16)                                          # step 1
        keys, args = (self.name, self.fence_key), (secret, self.expiry, self._ttl_arg)
        while True:
            started = clock.monotonic()
            fence = int(self._run(self.acquire_script, keys, args))            # step 2
            if fence:
                self.token, self._secret = fence, secret
                self._valid_until = started + self.ttl
                return True
            if not blocking:                                                    # step 3
                return False
            wait = self.poll
            if deadline is not None:
                left = deadline - clock.monotonic()
                if left <= 0:
                    raise AcquireTimeout(f"lock {self.name!r} not acquired within {timeout} s "
                                         f"(its key is held by another token)", lock=self.name)
                wait = min(wait, left)
            clock.sleep(wait)

    # -- release, extend, inspect ----------------------------------------------------------
    def release(self) -> None:
        if self.token is None:
            raise self._not_held()
        secret, token = self._secret, self.token
        self._forget()
        if not int(self._run(self.release_script, (self.name,), (secret,))):
            raise LockLost(f"release of lock {self.name!r} (token {token}) refused: its TTL ran out "
                           f"({self.ttl} s) and the key is gone or belongs to another holder; "
                           f"nothing was deleted", lock=self.name)

    def extend(self, ttl: float | None = None) -> None:
        """Set the key's TTL to ``ttl`` seconds from now (default: this lock's ttl)."""
        if self.token is None:
            raise self._not_held()
        ttl = self.ttl if ttl is None else float(ttl)
        started = self.clock.monotonic()
        if int(self._run(self.extend_script, (self.name,), (self._secret, int(ttl * 1000)))):
            self._valid_until = started + ttl
            return
        token = self.token
        self._forget()
        raise LockLost(f"extend of lock {self.name!r} (token {token}) refused: its TTL had run out",
                       lock=self.name)

    def is_held(self) -> bool:
        if self.token is None:
            return False
        return release_allowed(self.redis.get(self.name), self._secret)

    def remaining(self) -> float:
        """Seconds of TTL left by this client's clock (0 when not held); a lower bound."""
        if self._valid_until is None:
            return 0.0
        return max(0.0, self._valid_until - self.clock.monotonic())

    def _forget(self) -> None:
        self.token = self._secret = self._valid_until = None
