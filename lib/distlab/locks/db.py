"""Database optimistic lock (数据库乐观锁): one row per lock, a version column, compare-and-set.

:Status: reference implementation for Lab 1
:Backends: SQLite (the default: a file, so separate processes compete) and PostgreSQL through
    ``psycopg`` when given a DSN — the same SQL on both (PostgresDb rewrites the placeholders).

Every lock is a row of ``distlab_locks(name, owner, version, lease_until)``. Nobody ever locks
the row; instead every change is a compare-and-set, ``UPDATE ... WHERE version = ?``, and the
row count says whether it won. Any change bumps ``version``, so a version number describes the
whole row: "the row is still as I read it" is exactly "its version is still v".

**Acquire**

1. Make sure the row exists (``INSERT ... ON CONFLICT DO NOTHING``: version 0, no owner).
2. Read it: ``owner``, ``version``, ``lease_until``.
3. Decide with :func:`lock_is_free`: free if it has no owner or the owner's lease has run
   out. If not: with ``blocking=False`` report failure, otherwise sleep ``poll`` seconds (never
   past the timeout) and go back to 2.
4. Compare-and-set: ``UPDATE ... SET owner = :owner, version = version + 1, lease_until =
   :lease_until WHERE name = :name AND version = :version`` (the version read in 2). One row changed
   (:func:`cas_won`): the lock is mine and its fencing token is the new version. No row:
   somebody changed the row between 2 and 4, go back to 2.

(A client that released the lock last remembers the version its release wrote; it tries step 4
with that version first and skips the read when nobody touched the row since.)

**Release**: ``UPDATE ... SET owner = NULL, version = version + 1 WHERE name = :name AND owner =
:owner AND version = :version`` (my grant). No row changed means the lease ran out and someone took over:
:class:`~distlab.locks.api.LockLost`, and the other holder's row is left as it is.
**Extend**: the same compare-and-set, moving ``lease_until`` (and bumping the version, so a
competitor that read the old, expiring lease cannot take it over afterwards). The three
statements are seams (``acquire_sql=``, ``extend_sql=``, ``release_sql=``): Lab 1's learners
write them, with named parameters (:data:`CAS_ACQUIRE` says which).

**Which step secures which condition**

- 互斥 (mutual exclusion) — step 4. The database applies UPDATEs of one row one at a time;
  when two clients read the same free row in step 2, the first CAS bumps the version and the
  second one's ``WHERE version = v`` matches nothing.
- 安全 (only the holder releases) — the release's ``WHERE owner = ? AND version = ?``: a
  replaced holder or a stranger matches no row and changes nothing; an object that never held
  the lock refuses before sending anything (:class:`~distlab.locks.api.LockNotHeld`).
- 容错 (fault tolerance) — the lock is durable database state: a client crash loses nothing
  and any client can continue. The lock is exactly as available as the database.
- 死锁 (no deadlock) — the lease in step 3: a crashed holder's ``lease_until`` passes and the
  next CAS takes over. The fencing token (the version) lets storage refuse the old holder's
  late writes.

**Caveats**

- Leases compare clocks of *different* clients (``lease_until`` was written with the holder's
  clock and is read with the competitor's); clock skew eats into the lease. Keep ``ttl`` well
  above skew plus the longest pause, and fence writes anyway.
- Waiters poll: there is no notification, so latency is up to ``poll`` and load grows with
  the number of waiters. That is the price of needing nothing but a table.
- SQLite serialises writers on the whole file (WAL mode, a busy timeout of 30 s); PostgreSQL
  locks just the row while an UPDATE runs and re-checks ``WHERE version = ?`` after waiting,
  which is what makes the CAS correct under READ COMMITTED.

Also here: the classic **lost update** on a business row and its fix with a version column
(:func:`read_account`, :func:`write_balance_blind`, :func:`write_balance_cas`, :func:`deposit`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

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
    "DbLock",
    "SqlDb",
    "SqliteDb",
    "PostgresDb",
    "connect",
    "LockRow",
    "LockIsFree",
    "CasWon",
    "lock_is_free",
    "cas_won",
    "SCHEMA",
    "open_account",
    "read_account",
    "write_balance_blind",
    "write_balance_cas",
    "deposit",
]

# ----------------------------------------------------------------------------- the SQL -------
# The library's own statements use `?` placeholders; PostgresDb turns them into psycopg's `%s`.
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS distlab_locks (
           name        TEXT PRIMARY KEY,
           owner       TEXT,
           version     BIGINT NOT NULL DEFAULT 0,
           lease_until DOUBLE PRECISION
       )""",
    """CREATE TABLE IF NOT EXISTS distlab_accounts (
           id      TEXT PRIMARY KEY,
           balance BIGINT NOT NULL,
           version BIGINT NOT NULL DEFAULT 0
       )""",
)
ENSURE_ROW = ("INSERT INTO distlab_locks (name, owner, version, lease_until) VALUES (?, NULL, 0, NULL) "
              "ON CONFLICT (name) DO NOTHING")
READ_ROW = "SELECT owner, version, lease_until FROM distlab_locks WHERE name = ?"
# The three statements a lock is made of are lab seams (Lab 1): they are written with *named*
# parameters, one convention for every statement a learner writes. Named, because the text is
# written once and runs on both backends: SQLite reads ``:name`` itself and PostgresDb rewrites
# it to psycopg's ``%(name)s``; because the order of the parameters then does not matter; and
# because a statement may leave out a parameter it does not need (DbLock passes them all).
#   acquire: :name, :owner (the new owner), :version (the version read), :lease_until, :now
#   extend:  :name, :owner, :version (the holder's grant), :lease_until (the new end), :now
#   release: :name, :owner, :version (the holder's grant), :now
# Each must change exactly the lock's one row when it wins and no row when it loses, and move
# the version on when it changes the row (DbLock counts on version + 1).
CAS_ACQUIRE = ("UPDATE distlab_locks SET owner = :owner, version = version + 1, lease_until = :lease_until "
               "WHERE name = :name AND version = :version")
CAS_RELEASE = ("UPDATE distlab_locks SET owner = NULL, version = version + 1, lease_until = NULL "
               "WHERE name = :name AND owner = :owner AND version = :version")
CAS_EXTEND = ("UPDATE distlab_locks SET version = version + 1, lease_until = :lease_until "
              "WHERE name = :name AND owner = :owner AND version = :version")


# ----------------------------------------------------------------------------- decisions -----
class LockIsFree(Protocol):
    """Seam (Lab 1): may a client try to take a lock whose row reads ``owner``/``lease_until``?"""

    def __call__(self, owner: str | None, lease_until: float | None, now: float) -> bool: ...


class CasWon(Protocol):
    """Seam (Lab 1): did a compare-and-set UPDATE that changed ``rowcount`` rows win?"""

    def __call__(self, rowcount: int) -> bool: ...


@dataclass(frozen=True, slots=True)
class LockRow:
    """One row of ``distlab_locks``."""

    owner: str | None
    version: int
    lease_until: float | None


def lock_is_free(owner: str | None, lease_until: float | None, now: float) -> bool:
    """May a client try to take the lock whose row reads ``owner`` / ``lease_until`` at ``now``?

    Free means nobody owns it, or the owner's lease has run out (the 死锁 rule: a crashed
    holder is replaced after its lease). A lease that ends exactly now has run out.

    =========  ===========  ======  ======  ===========================================
    owner      lease_until  now     free    why
    =========  ===========  ======  ======  ===========================================
    None       None         50.0    True    never taken, or released
    "a"        100.0        50.0    False   held, lease still running
    "a"        100.0        100.0   True    the lease ends now: it has run out
    "a"        100.0        130.0   True    a crashed (or paused) holder is replaced
    "a"        None         50.0    False   held without a lease: only a release frees it
    =========  ===========  ======  ======  ===========================================

    >>> lock_is_free("a", 100.0, 130.0)
    True
    """
    if owner is None:
        return True
    return lease_until is not None and lease_until <= now


def cas_won(rowcount: int) -> bool:
    """Did the compare-and-set ``UPDATE ... WHERE name = ? AND version = ?`` win?

    The WHERE clause names one row by its primary key and the version it was read at, so the
    statement changes one row (the row was unchanged: we won) or none (someone changed it
    first: we lost). Anything else means the table is not what the recipe assumes.

    ========  ======================================================
    rowcount  meaning
    ========  ======================================================
    1         won: the row was still at the version we read
    0         lost: another client changed the row since we read it
    2         UsageError: ``name`` is not the table's primary key
    -1        UsageError: the driver did not report a row count
    ========  ======================================================

    >>> cas_won(1), cas_won(0)
    (True, False)
    """
    if rowcount == 1:
        return True
    if rowcount == 0:
        return False
    raise UsageError(f"a compare-and-set UPDATE changed {rowcount} rows; it must change 0 or 1 "
                     f"(is `name` the primary key of the lock table?)")


# ----------------------------------------------------------------------------- backends ------
class SqlDb(Protocol):
    """What the recipe needs from a database: autocommit statements and a row count."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement in its own transaction; return the number of rows it changed."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Run one SELECT; return its rows."""

    def ensure_schema(self) -> None:
        """Create the tables if missing (idempotent, safe when many clients race)."""

    def close(self) -> None: ...


class SqliteDb:
    """A SQLite file in autocommit mode: every statement is its own transaction.

    WAL journal, so readers do not block the writer; a 30 s busy timeout, so competing
    processes queue for the write lock instead of failing. ``synchronous=NORMAL``: durable
    across process crashes (which is what a lock must survive), not across power loss.
    """

    def __init__(self, path: str, busy_timeout: float = 30.0) -> None:
        import sqlite3

        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout,
                                    check_same_thread=False)
        if path != ":memory:":
            self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self._schema = False

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.conn.execute(sql, params).rowcount

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self.conn.execute(sql, params).fetchall()

    def ensure_schema(self) -> None:
        if not self._schema:
            for statement in SCHEMA:
                self.conn.execute(statement)
            self._schema = True

    def close(self) -> None:
        self.conn.close()

    def __repr__(self) -> str:
        return f"SqliteDb({self.path!r})"


class PostgresDb:
    """PostgreSQL through psycopg 3 in autocommit mode, running the same SQL as SQLite."""

    def __init__(self, dsn: str) -> None:
        import psycopg

        self.dsn = dsn
        self.conn = psycopg.connect(dsn, autocommit=True)
        self._errors = psycopg.errors
        self._schema = False
        self._converted: dict[str, str] = {}

    def _sql(self, sql: str, named: bool = False) -> str:
        converted = self._converted.get((sql, named))
        if converted is None:
            converted = self._converted[(sql, named)] = (_named_to_pyformat(sql) if named
                                                        else sql.replace("?", "%s"))
        return converted

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        with self.conn.cursor() as cur:
            cur.execute(self._sql(sql, isinstance(params, dict)), params)
            return cur.rowcount

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple]:
        with self.conn.cursor() as cur:
            cur.execute(self._sql(sql, isinstance(params, dict)), params)
            return cur.fetchall()

    def ensure_schema(self) -> None:
        if self._schema:
            return
        for statement in SCHEMA:
            try:
                self.execute(statement)
            except (self._errors.UniqueViolation, self._errors.DuplicateTable):
                pass  # another client created it at the same moment (IF NOT EXISTS races)
        self._schema = True

    def close(self) -> None:
        self.conn.close()

    def __repr__(self) -> str:
        return f"PostgresDb({self.dsn!r})"


_NAMED = None


def _named_to_pyformat(sql: str) -> str:
    """``:name`` parameters (SQLite's named style) as psycopg's ``%(name)s``.

    Outside quoted strings and identifiers only; ``::`` (a PostgreSQL cast) is left alone and a
    literal ``%`` is doubled, as psycopg needs when parameters are given.
    """
    import re

    global _NAMED
    if _NAMED is None:
        _NAMED = re.compile(r"""('(?:[^']|'')*'|"(?:[^"]|"")*")|::|(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)|(%)""")

    def swap(match: "re.Match[str]") -> str:
        if match.group(1) is not None or match.group(0) == "::":
            return match.group(0).replace("%", "%%")
        if match.group(3):
            return "%%"
        return f"%({match.group(2)})s"

    return _NAMED.sub(swap, sql)


def connect(target: str) -> SqlDb:
    """``postgresql://...`` (or ``postgres://``) opens PostgreSQL; anything else a SQLite file."""
    if not isinstance(target, str) or not target:
        raise UsageError(f"connect() needs a SQLite path or a postgresql:// DSN, got {target!r}")
    if target.startswith(("postgresql://", "postgres://")):
        return PostgresDb(target)
    return SqliteDb(target)


# ----------------------------------------------------------------------------- the recipe ----
class DbLock(DistributedLock):
    """A lock that is a row in a table, taken and given back by compare-and-set.

    Usage::

        import time
        from distlab.locks import DbLock

        lock = DbLock("locks.db", "nightly-report", clock=time, ttl=30)
        with lock:
            run_report(fencing_token=lock.token)

    :param db: a :class:`SqlDb`, a SQLite path or a ``postgresql://`` DSN.
    :param name: the lock's name (its row's primary key).
    :param clock: a :class:`~distlab.locks.api.Clock` (``time``, or a ManualClock in tests).
    :param ttl: the lease in seconds; a holder that neither releases nor extends within it
        can be replaced.
    :param poll: seconds between attempts while waiting.
    :param identifier: put into the ``owner`` column (with a random suffix per grant), so
        people can see who holds what.
    :param is_free: the lab seam for step 3 (default :func:`lock_is_free`).
    :param won: the lab seam for step 4's row count (default :func:`cas_won`).
    :param acquire_sql: the lab seam for step 4's statement (default :data:`CAS_ACQUIRE`).
    :param extend_sql: the lab seam for the renewal (default :data:`CAS_EXTEND`).
    :param release_sql: the lab seam for the release (default :data:`CAS_RELEASE`). All three
        are ``UPDATE`` statements of ``distlab_locks`` with named parameters (see
        :data:`CAS_ACQUIRE` for which ones each gets); their row count is the verdict.

    Not re-entrant; one object is one client. ``token`` is the lock's version right after the
    grant: it grows with every grant.
    """

    def __init__(self, db: SqlDb | str, name: str, *, clock: Clock, ttl: float = 30.0,
                 poll: float = 0.05, identifier: str = "", is_free: LockIsFree | None = None,
                 won: CasWon | None = None, acquire_sql: str | None = None, extend_sql: str | None = None,
                 release_sql: str | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise UsageError(f"a lock name must be a non-empty str, got {name!r}")
        if not isinstance(ttl, (int, float)) or ttl <= 0:
            raise UsageError(f"ttl must be a positive number of seconds, got {ttl!r}")
        if not isinstance(poll, (int, float)) or poll <= 0:
            raise UsageError(f"poll must be a positive number of seconds, got {poll!r}")
        self.db = connect(db) if isinstance(db, str) else db
        self.name = name
        self.clock = _check_clock(clock, "DbLock")
        self.ttl = float(ttl)
        self.poll = float(poll)
        self.identifier = identifier
        self.is_free = is_free or lock_is_free  # the seams: a learner's decisions plug in here
        self.won = won or cas_won
        self.acquire_sql = acquire_sql or CAS_ACQUIRE  # ... and a learner's statements here
        self.extend_sql = extend_sql or CAS_EXTEND
        self.release_sql = release_sql or CAS_RELEASE
        self.token: int | None = None
        self._owner: str | None = None
        self._version: int | None = None  # the row's version while we hold it
        self._known_free: int | None = None  # the version our last release wrote
        self.lease_until: float | None = None
        self.db.ensure_schema()

    # -- acquire --------------------------------------------------------------------------
    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        self._not_reentrant()
        _check_timeout(timeout, blocking)
        clock = self.clock
        deadline = None if timeout is None else clock.monotonic() + timeout
        owner = f"{self.identifier}:{secrets.token_hex(8)}"
        if self._known_free is not None:
            # Fast path: our own release wrote this version with no owner; if the row is
            # still at it, nobody touched it since and it is free.
            version, self._known_free = self._known_free, None
            if self._try_cas(owner, version, clock.time()):
                return True
        while True:
            row = self._read_row()
            now = clock.time()
            if self.is_free(row.owner, row.lease_until, now):           # step 3
                if self._try_cas(owner, row.version, now):              # step 4
                    return True
                continue  # somebody changed the row since step 2: read it again
            if not blocking:
                return False
            wait = self.poll
            if deadline is not None:
                left = deadline - clock.monotonic()
                if left <= 0:
                    raise AcquireTimeout(
                        f"lock {self.name!r} not acquired within {timeout} s: held by {row.owner!r} "
                        f"(version {row.version}, lease until {row.lease_until})", lock=self.name)
                wait = min(wait, left)
            if row.lease_until is not None:
                # Wake no later than the holder's lease end, so a crashed holder costs a lease.
                wait = min(wait, max(row.lease_until - now, 0.001))
            clock.sleep(wait)

    def _try_cas(self, owner: str, version: int, now: float) -> bool:
        lease_until = now + self.ttl
        params = {"name": self.name, "owner": owner, "version": version, "lease_until": lease_until, "now": now}
        if not self.won(self.db.execute(self.acquire_sql, params)):
            return False
        self._owner, self._version, self.token = owner, version + 1, version + 1
        self.lease_until = lease_until
        return True

    def _read_row(self) -> LockRow:
        rows = self.db.query(READ_ROW, (self.name,))
        if not rows:                                                     # step 1
            self.db.execute(ENSURE_ROW, (self.name,))
            rows = self.db.query(READ_ROW, (self.name,))
        owner, version, lease_until = rows[0]
        return LockRow(owner, int(version), None if lease_until is None else float(lease_until))

    # -- release, extend, inspect ---------------------------------------------------------
    def release(self) -> None:
        if self.token is None:
            raise self._not_held()
        owner, version, token = self._owner, self._version, self.token
        self._forget()
        params = {"name": self.name, "owner": owner, "version": version, "now": self.clock.time()}
        if self.won(self.db.execute(self.release_sql, params)):
            self._known_free = version + 1
            return
        row = self._read_row()
        raise LockLost(f"release of lock {self.name!r} (token {token}) refused: the lease ran out and the "
                       f"row moved on to version {row.version} (owner {row.owner!r}); nothing was changed",
                       lock=self.name)

    def extend(self, ttl: float | None = None) -> None:
        """Push the lease to ``now + ttl`` (default: this lock's ttl); LockLost if too late."""
        if self.token is None:
            raise self._not_held()
        now = self.clock.time()
        lease_until = now + (self.ttl if ttl is None else float(ttl))
        params = {"name": self.name, "owner": self._owner, "version": self._version, "lease_until": lease_until,
                  "now": now}
        if self.won(self.db.execute(self.extend_sql, params)):
            self._version += 1
            self.lease_until = lease_until
            return
        token = self.token
        self._forget()
        raise LockLost(f"extend of lock {self.name!r} (token {token}) refused: the lease ran out and "
                       f"another client changed the row", lock=self.name)

    def is_held(self) -> bool:
        if self.token is None:
            return False
        row = self._read_row()
        return (row.owner == self._owner and row.version == self._version
                and not self.is_free(row.owner, row.lease_until, self.clock.time()))

    def row(self) -> LockRow:
        """The lock's row as the database has it now (for people and tests)."""
        return self._read_row()

    def _forget(self) -> None:
        self.token = self._owner = self._version = self.lease_until = None


# ----------------------------------------------------------------------------- lost update ---
# The business-row version of the same idea. Two clients read a balance of 100 and each adds
# to it; with a blind write the second write erases the first (a *lost update*); with
# `WHERE version = ?` the second write changes no row, and that client reads again and retries.
def open_account(db: SqlDb, account: str, balance: int) -> None:
    """Create (or reset) ``account`` with ``balance`` at version 0."""
    db.ensure_schema()
    db.execute("DELETE FROM distlab_accounts WHERE id = ?", (account,))
    db.execute("INSERT INTO distlab_accounts (id, balance, version) VALUES (?, ?, 0)", (account, balance))


def read_account(db: SqlDb, account: str) -> tuple[int, int]:
    """``(balance, version)`` of ``account``."""
    rows = db.query("SELECT balance, version FROM distlab_accounts WHERE id = ?", (account,))
    if not rows:
        raise UsageError(f"no account {account!r}; create it with open_account()")
    balance, version = rows[0]
    return int(balance), int(version)


def write_balance_blind(db: SqlDb, account: str, balance: int) -> None:
    """The bug: write what we computed, whatever happened since we read (last writer wins)."""
    db.execute("UPDATE distlab_accounts SET balance = ?, version = version + 1 WHERE id = ?", (balance, account))


def write_balance_cas(db: SqlDb, account: str, balance: int, version: int) -> bool:
    """The fix: write only if the row is still at ``version``; False means read again."""
    return cas_won(db.execute(
        "UPDATE distlab_accounts SET balance = ?, version = version + 1 WHERE id = ? AND version = ?",
        (balance, account, version)))


def deposit(db: SqlDb, account: str, amount: int, *, optimistic: bool = True, max_tries: int = 1000,
            between: Any = None) -> int:
    """Add ``amount`` by read-modify-write; return how many tries it took.

    ``optimistic=False`` writes blindly (and can lose other clients' deposits);
    ``between()``, if given, runs between the read and the write (a test's way to widen the
    race window).
    """
    for attempt in range(1, max_tries + 1):
        balance, version = read_account(db, account)
        if between is not None:
            between()
        if not optimistic:
            write_balance_blind(db, account, balance + amount)
            return attempt
        if write_balance_cas(db, account, balance + amount, version):
            return attempt
    raise UsageError(f"deposit to {account!r} lost the race {max_tries} times in a row")
