"""Lab 1 — the database optimistic lock (数据库乐观锁): version column, compare-and-set, lease.

Four parts, each checked on cases drawn from the seed and then run inside the real recipe:

- ``cas_update_sql`` (the lost update and its fix): the learner's ``UPDATE`` is run by the
  grader, in its own SQLite database, for several clients depositing into one account in a
  seeded interleaving; the final balance must be exact.
- ``cas_won`` (互斥): plugged into :class:`distlab.locks.DbLock` as ``won=``; competing clients
  increment a counter under the lock while the grader's database lets a rival win the race
  between a client's read and its compare-and-set.
- ``lock_is_free`` (死锁 and 互斥): plugged in as ``is_free=``; a crashed holder must be replaced
  once its lease has run out, and never before.
- ``release_sql`` (安全): the grader's database runs the learner's statement whenever
  ``DbLock`` releases; a replaced holder's late release must change nothing.

Graded functions take and return plain data (two of them return SQL text). The grader runs
that SQL itself, on an in-memory SQLite connection with an authorizer that allows only an
``UPDATE`` of the lab's table (no ATTACH, PRAGMA, other tables, or functions beyond a few
harmless ones) and a progress limit, so a submitted statement can neither touch the grader's
files nor run forever.
"""

from __future__ import annotations

import random
import sqlite3
from typing import Any, Callable

from distlab.grading.parts import Outcome, Part, register, Verdict, verdict_fail, verdicts
from distlab.locks.api import AcquireTimeout, LockLost, ManualClock
from distlab.locks.db import (
    CAS_RELEASE,
    READ_ROW,
    SCHEMA,
    DbLock,
    lock_is_free,
)

LOCK = "counter-lock"
TTL = 1000.0  # seconds of lease in the contention runs: far longer than any run
START = 1_000_000.0  # ManualClock's start
MAX_SQL = 2000
ACCOUNTS = "distlab_accounts"
LOCKS = "distlab_locks"
_SAFE_FUNCTIONS = frozenset({"abs", "coalesce", "ifnull", "nullif", "min", "max", "iif", "typeof"})




def _strict_bool(got: Any, call: str) -> bool:
    if type(got) is not bool:
        raise verdict_fail(f"{call} must return True or False, got {got!r} ({type(got).__name__})")
    return got


# ------------------------------------------------------------------ the grader's SQL ----------
class _Database:
    """One in-memory SQLite connection shared by every simulated client (a ``SqlDb``).

    Statements run one at a time, each in its own transaction — as separate clients' statements
    reach one database. ``release_sql`` (the learner's) replaces ``DbLock``'s release
    statement; ``on_read`` runs just before a client reads the lock row (the race window).
    """

    def __init__(self, release_sql: str | None = None) -> None:
        self.conn = sqlite3.connect(":memory:", isolation_level=None)
        self.release_sql = release_sql
        self.on_read: Callable[[tuple], None] | None = None
        self.ensure_schema()

    def ensure_schema(self) -> None:
        for statement in SCHEMA:
            self.conn.execute(statement)

    def execute(self, sql: str, params: Any = ()) -> int:
        if self.release_sql is not None and sql == CAS_RELEASE:
            name, owner, version = params
            return run_learner_sql(self.conn, self.release_sql, LOCKS,
                                   {"name": name, "owner": owner, "version": version})
        return self.conn.execute(sql, params).rowcount

    def query(self, sql: str, params: Any = ()) -> list[tuple]:
        rows = self.conn.execute(sql, params).fetchall()
        if sql == READ_ROW and rows and self.on_read is not None:
            # The client has read the row; before it can act on what it read, a rival may run.
            hook, self.on_read = self.on_read, None  # the rival's own read must not recurse
            try:
                hook(rows[0])
            finally:
                self.on_read = hook
        return rows

    def row(self, name: str = LOCK) -> tuple | None:
        rows = self.conn.execute(READ_ROW, (name,)).fetchall()
        return rows[0] if rows else None

    def close(self) -> None:
        self.conn.close()


class SqlRefused(Exception):
    """The learner's SQL could not run; the message says why, for people."""


def run_learner_sql(conn: sqlite3.Connection, sql: Any, table: str, params: dict[str, Any]) -> int:
    """Run one learner ``UPDATE`` of ``table`` with named ``params``; return its row count.

    Only an UPDATE of ``table`` is authorised; anything else raises :class:`SqlRefused`.
    """
    if not isinstance(sql, str):
        raise SqlRefused(f"the SQL must be a str, got {sql!r} ({type(sql).__name__})")
    if len(sql) > MAX_SQL:
        raise SqlRefused(f"the SQL is {len(sql)} characters long; one UPDATE needs far fewer (limit {MAX_SQL})")
    seen = {"update": False}

    def authorize(action: int, arg1: Any, arg2: Any, _db: Any, _source: Any) -> int:
        if action == sqlite3.SQLITE_UPDATE and arg1 == table:
            seen["update"] = True
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_READ and arg1 == table:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_SELECT:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION and str(arg2).lower() in _SAFE_FUNCTIONS:
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY

    budget = {"left": 200}

    def progress() -> int:
        budget["left"] -= 1
        return 1 if budget["left"] <= 0 else 0

    conn.set_authorizer(authorize)
    conn.set_progress_handler(progress, 10_000)
    try:
        cursor = conn.execute(sql, params)
    except sqlite3.ProgrammingError as error:
        if "no name" in str(error) or "named" in str(error) or "binding" in str(error).lower():
            raise SqlRefused(f"SQLite refused the parameters ({error}): use the named parameters "
                             + ", ".join(f":{name}" for name in params) + " (not ?)") from None
        raise SqlRefused(f"SQLite refused the statement: {error}") from None
    except sqlite3.OperationalError as error:
        if "interrupted" in str(error):
            raise SqlRefused("the statement ran too long (the grader stops a statement after a few "
                             "million steps; one UPDATE of one row needs a handful)") from None
        raise SqlRefused(f"SQLite refused the statement: {error}") from None
    except sqlite3.DatabaseError as error:
        raise SqlRefused(f"SQLite refused the statement ({error}): the grader runs only an UPDATE of "
                         f"{table}, with the named parameters " + ", ".join(f":{n}" for n in params)) from None
    finally:
        conn.set_authorizer(None)
        conn.set_progress_handler(None, 0)
    if not seen["update"]:
        raise SqlRefused(f"the statement is not an UPDATE of {table}")
    return cursor.rowcount


def _sql_text(fn: Any, part: str) -> str:
    sql = fn()
    if not isinstance(sql, str):
        raise verdict_fail(f"{part}() must return the SQL statement as a str, got {sql!r} ({type(sql).__name__})")
    return sql


# ------------------------------------------------------------------ A: the lost update -------
def _open(conn: sqlite3.Connection, account: str, balance: int, version: int) -> None:
    conn.execute(f"DELETE FROM {ACCOUNTS} WHERE id = ?", (account,))
    conn.execute(f"INSERT INTO {ACCOUNTS} (id, balance, version) VALUES (?, ?, ?)", (account, balance, version))


def _account(conn: sqlite3.Connection, account: str) -> tuple[int, int]:
    return conn.execute(f"SELECT balance, version FROM {ACCOUNTS} WHERE id = ?", (account,)).fetchone()


@verdicts
def check_cas_update_sql(fn: Any, seed: int) -> Outcome:
    rng = random.Random(f"lab1/cas_update_sql/{seed}")
    sql = _sql_text(fn, "cas_update_sql")
    db = _Database()
    conn = db.conn
    try:
        # 1. One write at the version read changes exactly that row and bumps its version.
        version = rng.randint(0, 9)
        balance = rng.randint(50, 500)
        _open(conn, "acct-1", balance, version)
        _open(conn, "acct-2", 77, version)  # same version: a WHERE without the id hits it too
        new = balance + rng.randint(1, 99)
        try:
            changed = run_learner_sql(conn, sql, ACCOUNTS, {"id": "acct-1", "balance": new, "version": version})
        except SqlRefused as error:
            return Outcome.fail(str(error))
        after, other = _account(conn, "acct-1"), _account(conn, "acct-2")
        case = (f"account acct-1 at (balance {balance}, version {version}); your UPDATE with "
                f":id='acct-1', :balance={new}, :version={version}")
        if other != (77, version):
            return Outcome.fail(f"{case} also changed account acct-2 to {other}: the WHERE clause must name "
                                f"the row (id = :id) as well as the version read")
        if changed != 1 or after[0] != new:
            return Outcome.fail(f"{case} changed {changed} row(s) and left {after}; the row was still at the "
                                f"version read, so the write must go through: balance {new}")
        if after[1] != version + 1:
            return Outcome.fail(f"{case} left version {after[1]}; every write must move the version on by one "
                                f"(version = version + 1, 版本号), or a second writer that read version {version} "
                                f"would still match and overwrite this deposit")
        # 2. A write at an old version changes nothing.
        try:
            stale = run_learner_sql(conn, sql, ACCOUNTS, {"id": "acct-1", "balance": balance + 1, "version": version})
        except SqlRefused as error:
            return Outcome.fail(str(error))
        if stale != 0 or _account(conn, "acct-1") != after:
            return Outcome.fail(f"a second client that also read version {version} wrote with it after the first "
                                f"write: your UPDATE changed {stale} row(s) and left {_account(conn, 'acct-1')}; "
                                f"it must change nothing (0 rows) so that client reads again — otherwise its write "
                                f"erases the first deposit (a lost update, 更新丢失)")
        # 3. Seeded interleavings of several depositing clients.
        return _deposits(conn, sql, rng, seed)
    finally:
        db.close()


def _deposits(conn: sqlite3.Connection, sql: str, rng: random.Random, seed: int) -> Outcome:
    clients = rng.randint(2, 5)
    start = rng.randint(0, 1000)
    _open(conn, "acct-1", start, rng.randint(0, 5))
    amounts = {f"c{i + 1}": [rng.randint(1, 50) for _ in range(rng.randint(1, 4))] for i in range(clients)}
    trace: list[str] = []
    writes: dict[int, str] = {}  # version read -> the client whose write with it went through

    def client(name: str):
        for amount in amounts[name]:
            for attempt in range(60):
                balance, version = _account(conn, "acct-1")
                trace.append(f"{name} reads balance {balance}, version {version}")
                yield
                changed = run_learner_sql(conn, sql, ACCOUNTS,
                                          {"id": "acct-1", "balance": balance + amount, "version": version})
                trace.append(f"{name} writes {balance + amount} where version = {version}: {changed} row(s)")
                if changed not in (0, 1):
                    raise verdict_fail(f"{name}'s UPDATE changed {changed} rows; it must change the one account row or none",
                                "\n".join(trace[-8:]))
                if changed == 1:
                    if version in writes:
                        raise verdict_fail(f"lost update (更新丢失): {writes[version]} and {name} both read version {version} "
                                    f"and both writes went through, so {name}'s write erased {writes[version]}'s "
                                    f"deposit (seed {seed})", "\n".join(trace[-8:]))
                    writes[version] = name
                    break
                yield
            else:
                raise verdict_fail(f"{name}'s deposit never went through in 60 tries, each with a fresh read: your UPDATE "
                            f"changes no row even at the current version", "\n".join(trace[-8:]))
            yield

    tasks = {name: client(name) for name in amounts}
    try:
        while tasks:
            name = rng.choice(sorted(tasks))
            try:
                next(tasks[name])
            except StopIteration:
                del tasks[name]
    except SqlRefused as error:
        return Outcome.fail(str(error))
    except Verdict as verdict:
        return verdict.outcome
    expected = start + sum(sum(a) for a in amounts.values())
    final = _account(conn, "acct-1")[0]
    if final != expected:
        return Outcome.fail(f"{clients} clients deposited {sum(sum(a) for a in amounts.values())} in total onto "
                            f"{start}, but the balance ended at {final}, not {expected} (seed {seed})",
                            "\n".join(trace[-8:]))
    return Outcome.ok()


# ------------------------------------------------------------------ contention under DbLock ---
class _Run:
    """Clients increment a counter under one DbLock in a seeded interleaving.

    A client's step is one of: try to acquire (non-blocking), read the counter, write it + 1,
    release. Before a client reads the lock row, the grader's database may let a *rival* —
    another client that is waiting — try to acquire first (the race between read and CAS).
    """

    def __init__(self, seed: int, *, part: str, won: Any = None, is_free: Any = None,
                 release_sql: str | None = None, clients: int | None = None) -> None:
        self.rng = random.Random(f"lab1/{part}/run/{seed}")
        self.seed = seed
        self.db = _Database(release_sql)
        self.clock = ManualClock(START)
        self.trace: list[str] = []
        n = clients or self.rng.randint(3, 5)
        self.locks = {f"c{i + 1}": DbLock(self.db, LOCK, clock=self.clock, ttl=TTL, poll=0.5,
                                          identifier=f"c{i + 1}", won=won, is_free=is_free)
                      for i in range(n)}
        self.increments = self.rng.randint(2, 4)
        self.counter = 0
        self.inside: set[str] = set()
        self.waiting: set[str] = set()
        self.tokens: list[int] = []
        self.race = self.rng.choice((0.5, 0.7, 0.9))
        self.raced = False

    def excerpt(self) -> str:
        return "\n".join(self.trace[-10:])

    def _granted(self, name: str) -> None:
        lock = self.locks[name]
        owner, version, lease_until = self.db.row()
        self.trace.append(f"t={self.clock.time() - START:.1f} s: {name} is granted the lock (token {lock.token})")
        if owner != lock._owner:
            holder = next((n for n, other in self.locks.items() if other._owner == owner), owner)
            raise verdict_fail(f"互斥 broken: {name} was told it holds the lock, but the lock row's owner is {holder} "
                        f"(version {version}): {name}'s compare-and-set changed 0 rows because {holder} won the "
                        f"race, yet it counted as a win (seed {self.seed})", self.excerpt())
        for other_name, other in self.locks.items():
            if other_name != name and other.token is not None and other.lease_until is not None \
                    and other.lease_until > self.clock.time():
                raise verdict_fail(f"互斥 broken: {name} took the lock at t={self.clock.time() - START:.1f} s while "
                            f"{other_name} held it with a lease running until t={other.lease_until - START:.1f} s "
                            f"(seed {self.seed})", self.excerpt())
        if self.tokens and lock.token <= self.tokens[-1]:
            raise verdict_fail(f"fencing tokens must grow with every grant: {name} got token {lock.token} after "
                        f"{self.tokens[-1]}", self.excerpt())
        self.tokens.append(lock.token)

    def _rival(self, reader: str, row: tuple) -> None:
        """``reader`` has just read a free lock row: maybe a waiting rival takes it first."""
        owner, _version, lease_until = row
        if not lock_is_free(owner, lease_until, self.clock.time()):
            return  # a rival could not take it either
        rivals = sorted(n for n in self.waiting if n != reader and self.locks[n].token is None)
        if not rivals or (self.raced and self.rng.random() >= self.race):
            return
        self.raced = True  # the first chance of a race is always taken
        rival = self.rng.choice(rivals)
        self.trace.append(f"{rival} slips in between {reader}'s read of the lock row and its compare-and-set")
        if self.locks[rival].acquire(blocking=False):
            self._granted(rival)

    def client(self, name: str):
        lock = self.locks[name]
        for _ in range(self.increments):
            self.waiting.add(name)
            while lock.token is None:
                self.db.on_read = lambda row: self._rival(name, row)
                got = lock.acquire(blocking=False)
                self.db.on_read = None
                if got:
                    self._granted(name)
                    break
                yield
            self.waiting.discard(name)
            self.inside.add(name)
            if len(self.inside) > 1:
                raise verdict_fail(f"互斥 broken: {sorted(self.inside)} were inside the critical section together "
                            f"(seed {self.seed})", self.excerpt())
            value = self.counter
            yield
            self.counter = value + 1
            self.trace.append(f"{name} writes counter {value + 1}")
            self.inside.discard(name)
            yield
            try:
                lock.release()
            except LockLost as error:
                raise verdict_fail(f"{name}'s release of its own lock was refused ({error}); the holder must be able "
                            f"to release (seed {self.seed})", self.excerpt()) from None
            self.trace.append(f"{name} releases")
            self.clock.advance(0.1)

    def run(self, max_steps: int = 3000) -> Outcome:
        tasks = {name: self.client(name) for name in self.locks}
        try:
            for _ in range(max_steps):
                if not tasks:
                    break
                name = self.rng.choice(sorted(tasks))
                try:
                    next(tasks[name])
                except StopIteration:
                    del tasks[name]
                self.clock.advance(0.01)
            else:
                stuck = sorted(tasks)
                owner, version, lease_until = self.db.row()
                return Outcome.fail(f"no progress after {max_steps} steps: {stuck} never got the lock, whose row "
                                    f"reads owner={'nobody' if owner is None else owner.split(':')[0]}, "
                                    f"version {version} (seed {self.seed})", self.excerpt())
        except Verdict as verdict:
            return verdict.outcome
        except SqlRefused as error:
            return Outcome.fail(str(error), self.excerpt())
        finally:
            self.db.close()
        expected = len(self.locks) * self.increments
        if self.counter != expected:
            return Outcome.fail(f"{len(self.locks)} clients each incremented the counter {self.increments} times "
                                f"under the lock, but it ended at {self.counter}, not {expected}", self.excerpt())
        return Outcome.ok()


# ------------------------------------------------------------------ B: cas_won ----------------
@verdicts
def check_cas_won(fn: Any, seed: int) -> Outcome:
    rng = random.Random(f"lab1/cas_won/{seed}")
    rows = [1, 0, 2, -1] + [rng.choice((0, 1, 1, 2, 3, -1)) for _ in range(8)]
    meaning = {1: "the row was still at the version read: won", 0: "another client changed the row first: lost",
               -1: "the driver did not report a row count: not a win"}
    for rowcount in rows:
        try:
            got = _strict_bool(fn(rowcount), f"cas_won({rowcount})")
        except Verdict as verdict:
            return verdict.outcome
        if got != (rowcount == 1):
            why = meaning.get(rowcount, f"{rowcount} rows changed: the WHERE clause matched more than the lock's "
                                        f"one row (its primary key), so this is no win")
            return Outcome.fail(f"cas_won({rowcount}) returned {got}; expected {rowcount == 1} ({why})")

    def won(rowcount: int) -> bool:
        return _strict_bool(fn(rowcount), f"cas_won({rowcount})")

    return _Run(seed, part="cas_won", won=won).run()


# ------------------------------------------------------------------ C: lock_is_free -----------
IS_FREE_ROWS = [
    (None, None, 50.0, True, "never taken, or released"),
    ("a", 100.0, 50.0, False, "held, and the lease is still running"),
    ("a", 100.0, 100.0, True, "the lease ends exactly now: it has run out"),
    ("a", 100.0, 130.0, True, "a crashed (or paused) holder's lease ran out"),
    ("a", None, 50.0, False, "held without a lease: only a release frees it"),
    (None, 100.0, 50.0, True, "nobody owns it (a stale lease on a free row means nothing)"),
]


@verdicts
def check_lock_is_free(fn: Any, seed: int) -> Outcome:
    rng = random.Random(f"lab1/lock_is_free/{seed}")
    rows = list(IS_FREE_ROWS)
    for _ in range(30):
        owner = rng.choice((None, "worker-1:9f2c", "worker-2:77aa"))
        lease = rng.choice((None, round(rng.uniform(0, 200), 1)))
        now = rng.choice((round(rng.uniform(0, 200), 1), lease if lease is not None else 0.0))
        rows.append((owner, lease, now, lock_is_free(owner, lease, now), ""))
    for owner, lease, now, expected, why in rows:
        try:
            got = _strict_bool(fn(owner, lease, now), f"lock_is_free({owner!r}, {lease!r}, {now!r})")
        except Verdict as verdict:
            return verdict.outcome
        except TypeError as error:
            return Outcome.fail(f"lock_is_free({owner!r}, {lease!r}, {now!r}) raised TypeError ({error}); "
                                f"lease_until is None when the row has no lease")
        if got != expected:
            rule = why or ("free means: no owner, or the owner's lease has run out (lease_until <= now); "
                           "a held row without a lease is not free")
            return Outcome.fail(f"lock_is_free(owner={owner!r}, lease_until={lease!r}, now={now!r}) returned {got}; "
                                f"expected {expected} ({rule})")

    def is_free(owner: Any, lease_until: Any, now: Any) -> bool:
        return _strict_bool(fn(owner, lease_until, now), f"lock_is_free({owner!r}, {lease_until!r}, {now!r})")

    outcome = _crashed_holder(is_free, rng, seed)
    if outcome.passed is not True:
        return outcome
    return _Run(seed, part="lock_is_free", is_free=is_free).run()


def _crashed_holder(is_free: Any, rng: random.Random, seed: int) -> Outcome:
    """死锁: a holder crashes; a blocking waiter gets the lock when the lease ends, not before."""
    db = _Database()
    clock = ManualClock(START)
    ttl = float(rng.choice((5, 10, 30)))
    try:
        crashed = DbLock(db, LOCK, clock=clock, ttl=ttl, poll=0.25, identifier="crashed", is_free=is_free)
        waiter = DbLock(db, LOCK, clock=clock, ttl=ttl, poll=0.25, identifier="waiter", is_free=is_free)
        if not crashed.acquire(blocking=False):
            return Outcome.fail("a client could not take a lock nobody had ever taken (owner None): "
                                "lock_is_free said it was not free")
        lease_end = crashed.lease_until
        clock.advance(rng.choice((0.5, 1.0, ttl / 2)))
        if waiter.acquire(blocking=False):
            return Outcome.fail(f"互斥 broken: a client took the lock {clock.time() - START:.1f} s after another "
                                f"took it, while that holder's {ttl:g} s lease was still running")
        try:
            waiter.acquire(timeout=3 * ttl)
        except AcquireTimeout:
            return Outcome.fail(f"死锁: the holder crashed at t=0 with a {ttl:g} s lease; {3 * ttl:g} s later the "
                                f"waiter still had not got the lock. A holder whose lease has run out is gone: "
                                f"its row must count as free (seed {seed})")
        if clock.time() < lease_end:
            return Outcome.fail(f"互斥 broken: the waiter took over at t={clock.time() - START:.2f} s, before the "
                                f"crashed holder's lease ended at t={lease_end - START:.2f} s")
        return Outcome.ok()
    finally:
        db.close()


# ------------------------------------------------------------------ D: release_sql ------------
@verdicts
def check_release_sql(fn: Any, seed: int) -> Outcome:
    rng = random.Random(f"lab1/release_sql/{seed}")
    sql = _sql_text(fn, "release_sql")
    try:
        outcome = _release_cases(sql, rng)
        if outcome.passed is not True:
            return outcome
        outcome = _replaced_holder(sql, rng, seed)
        if outcome.passed is not True:
            return outcome
        return _Run(seed, part="release_sql", release_sql=sql).run()
    except SqlRefused as error:
        return Outcome.fail(str(error))


def _release_cases(sql: str, rng: random.Random) -> Outcome:
    db = _Database()
    conn = db.conn
    version = rng.randint(3, 40)
    lease = START + rng.randint(5, 60)
    owner = f"worker-{rng.randint(1, 9)}:{rng.getrandbits(32):08x}"
    rows = {"orders": (owner, version, lease), "reports": (owner, version, lease)}
    try:
        def reset() -> None:
            conn.execute(f"DELETE FROM {LOCKS}")
            for name, (o, v, l) in rows.items():
                conn.execute(f"INSERT INTO {LOCKS} (name, owner, version, lease_until) VALUES (?, ?, ?, ?)",
                             (name, o, v, l))

        def release(name: str, who: str, v: int) -> tuple[int, tuple]:
            changed = run_learner_sql(conn, sql, LOCKS, {"name": name, "owner": who, "version": v})
            return changed, db.row("orders")

        # The holder releases.
        reset()
        changed, after = release("orders", owner, version)
        case = f"lock 'orders' held by {owner!r} at version {version}; its holder releases"
        if db.row("reports") != rows["reports"]:
            return Outcome.fail(f"{case}, and your UPDATE also changed the lock 'reports' (held by the same client "
                                f"at the same version) to {db.row('reports')}: the WHERE clause must name the lock "
                                f"(name = :name)")
        if changed != 1 or after[0] is not None:
            return Outcome.fail(f"{case}: your UPDATE changed {changed} row(s) and left the row as {after}; "
                                f"the owner must become NULL (the lock is free)")
        if after[1] != version + 1:
            return Outcome.fail(f"{case}: the row is left at version {after[1]}; a release changes the row, so it "
                                f"must move the version on (version = version + 1). DbLock relies on it: a "
                                f"client remembers the version its release wrote as 'free' and later takes the "
                                f"lock by compare-and-set on it — if the release did not bump it, that "
                                f"compare-and-set would match the next holder's row and steal it")
        # A stranger releases.
        reset()
        stranger = f"worker-0:{rng.getrandbits(32):08x}"
        changed, after = release("orders", stranger, version)
        if changed != 0 or after != rows["orders"]:
            return Outcome.fail(f"安全 broken: lock 'orders' is held by {owner!r}; {stranger!r}, who does not hold it, "
                                f"released it ({changed} row(s) changed, row now {after}). Only the holder may "
                                f"release: the WHERE clause must compare the owner (owner = :owner)")
        # The same owner name, but an older grant (it lost the lock and won it again since).
        reset()
        old = version - rng.randint(1, 3)
        changed, after = release("orders", owner, old)
        if changed != 0 or after != rows["orders"]:
            return Outcome.fail(f"安全 broken: {owner!r} holds lock 'orders' at version {version}; a release left over "
                                f"from its older grant at version {old} released the current grant ({changed} "
                                f"row(s) changed). Owners' names can repeat (a host name, a worker id); the version "
                                f"is what names one grant: compare it too (version = :version)")
        return Outcome.ok()
    finally:
        db.close()


def _replaced_holder(sql: str, rng: random.Random, seed: int) -> Outcome:
    """A holder pauses past its lease and is replaced; its late release must change nothing."""
    db = _Database(release_sql=sql)
    clock = ManualClock(START)
    ttl = float(rng.choice((5, 10, 30)))
    try:
        old = DbLock(db, LOCK, clock=clock, ttl=ttl, identifier="paused")
        new = DbLock(db, LOCK, clock=clock, ttl=ttl, identifier="next")
        old.acquire(blocking=False)
        clock.advance(ttl + rng.choice((0.5, 2.0)))  # the holder pauses past its lease ...
        new.acquire(blocking=False)  # ... and is replaced
        try:
            old.release()
        except LockLost:
            pass
        else:
            return Outcome.fail(f"安全 broken: a holder paused past its {ttl:g} s lease and another client took the "
                                f"lock; the paused holder's late release then changed the new holder's row "
                                f"(DbLock saw 1 row changed). The release must match only its own grant "
                                f"(owner and version) (seed {seed})")
        if not new.is_held():
            return Outcome.fail(f"安全 broken: after a replaced holder's late release, the new holder no longer holds "
                                f"the lock (row {db.row()})")
        new.release()
        # The releaser's fast path: it remembers the version its release wrote and tries that first.
        a = DbLock(db, "second", clock=clock, ttl=ttl, identifier="a")
        b = DbLock(db, "second", clock=clock, ttl=ttl, identifier="b")
        a.acquire(blocking=False)
        a.release()
        b.acquire(blocking=False)
        if a.acquire(blocking=False):
            return Outcome.fail("互斥 broken: a released the lock, b took it, and then a took it again while b held "
                                "it — a's compare-and-set on the version its release wrote matched b's row. "
                                "The release must bump the version (version = version + 1)")
        return Outcome.ok()
    finally:
        db.close()


register(
    1, "Database optimistic lock", "lab1-db-lock.ipynb",
    Part(1, "cas_update_sql", "The lost update and the version column", 3,
         "a write goes through only if the row is still at the version read, and moves the version on; "
         "concurrent read-modify-write deposits then lose nothing", check_cas_update_sql),
    Part(1, "cas_won", "Who won the compare-and-set", 2,
         "a compare-and-set wins only if it changed exactly one row; with it, clients racing for the lock "
         "never both hold it (互斥)", check_cas_won),
    Part(1, "lock_is_free", "Leases", 2,
         "a lock row is free if it has no owner or the owner's lease has run out (lease_until <= now); a crashed "
         "holder is replaced after its lease, never before (死锁, 互斥)", check_lock_is_free),
    Part(1, "release_sql", "Only the holder releases", 3,
         "a release clears the owner and bumps the version only where name, owner and version all match the "
         "releaser's grant; a replaced holder's late release changes nothing (安全)", check_release_sql),
)
