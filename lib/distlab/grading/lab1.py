"""Lab 1 — the database optimistic lock (数据库乐观锁): version column, compare-and-set, lease.

Six parts, each checked on cases drawn from the seed and then run inside the real recipe:

- ``cas_update_sql`` (the lost update and its fix): the learner's ``UPDATE`` is run by the
  grader, in its own SQLite database, for several clients depositing into one account in a
  seeded interleaving; the final balance must be exact.
- ``cas_won`` (互斥): plugged into :class:`distlab.locks.DbLock` as ``won=``; competing clients
  increment a counter under the lock while the grader's database lets a rival win the race
  between a client's read and its compare-and-set.
- ``lock_is_free`` (死锁 and 互斥): plugged in as ``is_free=``; a crashed holder must be replaced
  once its lease has run out, and never before.
- ``release_sql`` (安全): plugged in as ``release_sql=``; the grader's database runs the
  learner's statement whenever ``DbLock`` releases; a replaced holder's late release must
  change nothing.
- ``acquire_sql`` and ``extend_sql`` (the whole lock: 互斥, 死锁, 锁续期, 安全): the learner's
  own compare-and-set for taking the lock and for renewing its lease, plugged in as
  ``acquire_sql=`` / ``extend_sql=``. The other seams are the reference's, so a mistake in an
  earlier part is not charged again here. They run under contention with a rival slipping in
  between read and compare-and-set, with a crashed holder (its lease must run out and be taken
  over, never before), with a holder that renews for several leases, one paused past its lease
  that renews late after being replaced, and a late renewal racing a rival that read the
  expired row. ``tests/grading/test_lab1_lab2_components.py`` also runs them on PostgreSQL.

The three lock statements use named parameters (``:name``, ``:owner``, ``:version``,
``:lease_until``, ``:now``; see :data:`distlab.locks.db.CAS_ACQUIRE`), like ``cas_update_sql``:
one convention, and the same text runs on SQLite and (rewritten by ``PostgresDb``) PostgreSQL.
Every failure message names the rule broken in the course's words (:func:`named`).

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

from distlab.grading.parts import Outcome, Part, register, Verdict, named, verdict_fail, verdicts
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
STATEMENT_BUDGET = 3000  # lock statements per simulated database: a run needs a few hundred
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
    reach one database. ``DbLock``'s seam statements (acquire, extend, release: the ones with
    named parameters, the learner's or the reference) run through :func:`run_learner_sql`, so
    a learner's statement is vetted wherever it runs; ``on_read`` runs just before a client
    reads the lock row (the race window).
    """

    def __init__(self) -> None:
        self.conn = sqlite3.connect(":memory:", isolation_level=None)
        self.on_read: Callable[[tuple], None] | None = None
        self.statements = 0  # a client retrying for ever (its statement never wins) is stopped
        self.ensure_schema()

    def ensure_schema(self) -> None:
        for statement in SCHEMA:
            self.conn.execute(statement)

    def execute(self, sql: str, params: Any = ()) -> int:
        if isinstance(params, dict):
            self.statements += 1
            if self.statements > STATEMENT_BUDGET:
                raise verdict_fail(
                    f"死锁: the lock's statements ran {STATEMENT_BUDGET} times and the run never finished — a client "
                    f"is stuck: DbLock read a row it judged free (owner {_show(self.row(params.get('name', LOCK)))}"
                    f") and its compare-and-set keeps changing no row although nobody changes the row; it "
                    f"tries again for ever")
            return run_learner_sql(self.conn, sql, LOCKS, params)
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
                 release_sql: str | None = None, acquire_sql: str | None = None,
                 extend_sql: str | None = None, clients: int | None = None) -> None:
        self.rng = random.Random(f"lab1/{part}/run/{seed}")
        self.seed = seed
        self.db = _Database()
        self.clock = ManualClock(START)
        self.trace: list[str] = []
        n = clients or self.rng.randint(3, 5)
        self.locks = {f"c{i + 1}": DbLock(self.db, LOCK, clock=self.clock, ttl=TTL, poll=0.5,
                                          identifier=f"c{i + 1}", won=won, is_free=is_free,
                                          acquire_sql=acquire_sql, extend_sql=extend_sql,
                                          release_sql=release_sql)
                      for i in range(n)}
        self.extends = extend_sql is not None  # holders renew once inside the critical section
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
        if version != lock.token:
            raise verdict_fail(f"互斥 at risk: {name} won the lock at version {lock.token - 1}, but the row is now at "
                               f"version {version}, not {lock.token}: the acquire must move the version on by one "
                               f"(version = version + 1), or a rival that read the same version still matches "
                               f"(seed {self.seed})", self.excerpt())
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
            if self.extends:
                try:
                    lock.extend()
                except LockLost as error:
                    raise verdict_fail(f"锁续期 (lease renewal) broken: {name} holds the lock (its lease runs for "
                                       f"{TTL:g} s more) and renewed it, but the renewal was refused ({error}) "
                                       f"(seed {self.seed})", self.excerpt()) from None
                self.trace.append(f"{name} renews its lease (row now version {self.db.row()[1]})")
                yield
            self.counter = value + 1
            self.trace.append(f"{name} writes counter {value + 1}")
            self.inside.discard(name)
            yield
            try:
                lock.release()
            except LockLost as error:
                raise verdict_fail(f"安全 (only the holder releases) broken the other way: {name}'s release of its own "
                                   f"lock was refused ({error}); the holder must be able to release"
                                   + (" — DbLock expects every statement that changes the row, the renewal "
                                      "included, to move the version on by exactly one" if self.extends else "")
                                   + f" (seed {self.seed})", self.excerpt()) from None
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
            return Outcome.fail(f"互斥 (mutual exclusion) at stake: cas_won({rowcount}) returned {got}; expected "
                                f"{rowcount == 1} ({why})" + (" — a client counting that as a win would believe it "
                                f"holds a lock another client holds" if got else " — a client that won would "
                                f"believe it lost and never enter (死锁)"))

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
_IS_FREE_CONCEPT = {True: "死锁 (deadlock freedom) at stake: a lock that is free must be seen as free, or a "
                          "crashed holder blocks everyone for ever",
                    False: "互斥 (mutual exclusion) at stake: a lock that is held must not be seen as free, or "
                           "a second client takes it beside the holder"}


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
            return Outcome.fail(f"{_IS_FREE_CONCEPT[expected]}. lock_is_free(owner={owner!r}, lease_until={lease!r}, "
                                f"now={now!r}) returned {got}; expected {expected} ({rule})")

    def is_free(owner: Any, lease_until: Any, now: Any) -> bool:
        return _strict_bool(fn(owner, lease_until, now), f"lock_is_free({owner!r}, {lease_until!r}, {now!r})")

    outcome = _crashed_holder(is_free, rng, seed)
    if outcome.passed is not True:
        return outcome
    return _Run(seed, part="lock_is_free", is_free=is_free).run()


def _crashed_holder(is_free: Any, rng: random.Random, seed: int, acquire_sql: str | None = None) -> Outcome:
    """死锁: a holder crashes; a blocking waiter gets the lock when the lease ends, not before."""
    db = _Database()
    clock = ManualClock(START)
    ttl = float(rng.choice((5, 10, 30)))
    try:
        crashed = DbLock(db, LOCK, clock=clock, ttl=ttl, poll=0.25, identifier="crashed", is_free=is_free,
                         acquire_sql=acquire_sql)
        waiter = DbLock(db, LOCK, clock=clock, ttl=ttl, poll=0.25, identifier="waiter", is_free=is_free,
                        acquire_sql=acquire_sql)
        if not crashed.acquire(blocking=False):
            return Outcome.fail("死锁: a client could not take a lock nobody had ever taken (owner None): "
                                + ("lock_is_free said it was not free" if acquire_sql is None else
                                   "your acquire changed no row"))
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
    db = _Database()
    clock = ManualClock(START)
    ttl = float(rng.choice((5, 10, 30)))
    try:
        old = DbLock(db, LOCK, clock=clock, ttl=ttl, identifier="paused", release_sql=sql)
        new = DbLock(db, LOCK, clock=clock, ttl=ttl, identifier="next", release_sql=sql)
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
        try:
            new.release()
        except LockLost:
            return Outcome.fail(f"安全 broken the other way: the current holder's release was refused (0 rows): "
                                f"the holder must be able to release its own grant (seed {seed})")
        # The releaser's fast path: it remembers the version its release wrote and tries that first.
        a = DbLock(db, "second", clock=clock, ttl=ttl, identifier="a", release_sql=sql)
        b = DbLock(db, "second", clock=clock, ttl=ttl, identifier="b", release_sql=sql)
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


# ------------------------------------------------------------------ E: acquire_sql ------------
def _lock_rows(conn: sqlite3.Connection, rows: dict[str, tuple]) -> None:
    conn.execute(f"DELETE FROM {LOCKS}")
    for name, (owner, version, lease) in rows.items():
        conn.execute(f"INSERT INTO {LOCKS} (name, owner, version, lease_until) VALUES (?, ?, ?, ?)",
                     (name, owner, version, lease))


def _show(row: tuple | None) -> str:
    if row is None:
        return "no row"
    owner, version, lease = row
    lease_text = "NULL" if lease is None else f"t={lease - START:g} s"
    return f"(owner {'NULL' if owner is None else repr(owner)}, version {version}, lease_until {lease_text})"


@verdicts
def check_acquire_sql(fn: Any, seed: int) -> Outcome:
    rng = random.Random(f"lab1/acquire_sql/{seed}")
    sql = _sql_text(fn, "acquire_sql")
    try:
        outcome = _acquire_cases(sql, rng)
        if outcome.passed is not True:
            return outcome
        outcome = _crashed_holder(lock_is_free, rng, seed, acquire_sql=sql)
        if outcome.passed is not True:
            return outcome
        return _Run(seed, part="acquire_sql", acquire_sql=sql).run()
    except SqlRefused as error:
        return Outcome.fail(str(error))


def _acquire_cases(sql: str, rng: random.Random) -> Outcome:
    db = _Database()
    conn = db.conn
    version = rng.randint(0, 30)
    now = START + rng.randint(0, 100)
    lease = now + rng.choice((5, 10, 30))
    me = f"worker-{rng.randint(1, 9)}:{rng.getrandbits(32):08x}"

    def acquire(name: str, read: int) -> int:
        return run_learner_sql(conn, sql, LOCKS, {"name": name, "owner": me, "version": read,
                                                  "lease_until": lease, "now": now})
    try:
        # 1. A free row, read at `version`: the compare-and-set takes it, and only it.
        _lock_rows(conn, {LOCK: (None, version, None), "reports": (None, version, None)})
        changed = acquire(LOCK, version)
        after = db.row(LOCK)
        case = (f"lock {LOCK!r} is free at version {version} (t={now - START:g} s); your acquire with :owner={me!r}, "
                f":version={version}, :lease_until=t={lease - START:g} s")
        if db.row("reports") != (None, version, None):
            return Outcome.fail(f"互斥 broken: {case} also changed the lock 'reports' (free at the same version) to "
                                f"{_show(db.row('reports'))}: the WHERE clause must name the lock (name = :name)")
        if changed != 1:
            return Outcome.fail(f"死锁: {case} changed {changed} row(s) and left {_show(after)}; the row was still at "
                                f"the version read, so the compare-and-set must win (1 row): otherwise nobody can "
                                f"ever take the lock")
        if after[0] != me:
            return Outcome.fail(f"互斥 broken: {case} left {_show(after)}; the row must name its new owner "
                                f"(owner = :owner) — a row without it still reads as free, and the next client "
                                f"takes the lock beside you, while your release (WHERE owner = :owner) finds nothing")
        if after[1] != version + 1:
            return Outcome.fail(f"互斥 broken: {case} left the row at version {after[1]}; the grant changes the row, so "
                                f"it must move the version on (version = version + 1, 版本号): a rival that read "
                                f"the same free row at version {version} would otherwise still match and take the "
                                f"lock too")
        if after[2] is None:
            return Outcome.fail(f"死锁: {case} left {_show(after)} — a grant without a lease (租约). If this holder "
                                f"crashes, no lease ever runs out and nobody gets the lock again: set "
                                f"lease_until = :lease_until")
        if after[2] != lease:
            concept = "互斥 broken" if after[2] <= now else "租约 (lease) wrong"
            return Outcome.fail(f"{concept}: {case} left lease_until at t={after[2] - START:g} s, not t={lease - START:g} "
                                f"s (:lease_until); DbLock computed the lease's end, and a lease that ends sooner "
                                f"lets the next client take the lock while you still work in it")
        # 2. A rival won first: the row moved on since it was read.
        rival = f"worker-0:{rng.getrandbits(32):08x}"
        rows = {LOCK: (rival, version + 1, lease), "reports": (None, version, None)}
        _lock_rows(conn, rows)
        changed = acquire(LOCK, version)
        if changed != 0 or db.row(LOCK) != rows[LOCK]:
            return Outcome.fail(f"互斥 broken: you read lock {LOCK!r} free at version {version}, but before your "
                                f"compare-and-set a rival took it (row now {_show(rows[LOCK])}); your acquire still "
                                f"changed {changed} row(s) and left {_show(db.row(LOCK))}. Take the row only if it "
                                f"is still at the version read (version = :version): then 0 rows tells you that "
                                f"you lost")
        # 3. A crashed holder's lease has run out: DbLock found the row free and takes it over.
        crashed = f"crashed:{rng.getrandbits(32):08x}"
        for ago in (0.0, rng.choice((1.0, 5.0))):
            row = (crashed, version, now - ago)
            _lock_rows(conn, {LOCK: row})
            changed = acquire(LOCK, version)
            if changed != 1 or db.row(LOCK)[0] != me:
                when = ("ends exactly now (lease_until = :now), which counts as run out (lease_until <= now)"
                        if ago == 0 else f"ran out {ago:g} s ago")
                return Outcome.fail(f"死锁: lock {LOCK!r} was held by {crashed!r}, which crashed; its lease {when} "
                                    f"(row {_show(row)}), so DbLock decided it is free, but your acquire at version "
                                    f"{version} changed {changed} row(s). The version read is the whole condition "
                                    f"(if you also test the lease, a lease that ends now has run out: <=); do not "
                                    f"require owner IS NULL, or a crashed holder's lock is never taken over")
        return Outcome.ok()
    finally:
        db.close()


# ------------------------------------------------------------------ F: extend_sql -------------
@verdicts
def check_extend_sql(fn: Any, seed: int) -> Outcome:
    rng = random.Random(f"lab1/extend_sql/{seed}")
    sql = _sql_text(fn, "extend_sql")
    try:
        for step in (_extend_cases, _renewing_holder, _late_renewal, _renewal_race):
            outcome = step(sql, rng, seed)
            if outcome.passed is not True:
                return outcome
        return _Run(seed, part="extend_sql", extend_sql=sql).run()
    except SqlRefused as error:
        return Outcome.fail(str(error))


def _extend_cases(sql: str, rng: random.Random, seed: int) -> Outcome:
    db = _Database()
    conn = db.conn
    version = rng.randint(3, 40)
    now = START + rng.randint(0, 100)
    old_lease = now + rng.choice((1, 2, 3))
    new_lease = now + rng.choice((10, 20, 30))
    me = f"worker-{rng.randint(1, 9)}:{rng.getrandbits(32):08x}"
    rows = {LOCK: (me, version, old_lease), "reports": (me, version, old_lease)}

    def extend(owner: str, v: int) -> int:
        return run_learner_sql(conn, sql, LOCKS, {"name": LOCK, "owner": owner, "version": v,
                                                  "lease_until": new_lease, "now": now})
    try:
        _lock_rows(conn, rows)
        changed = extend(me, version)
        after = db.row(LOCK)
        case = (f"{me!r} holds lock {LOCK!r} at version {version}, lease until t={old_lease - START:g} s; at "
                f"t={now - START:g} s it renews with :lease_until=t={new_lease - START:g} s")
        if db.row("reports") != rows["reports"]:
            return Outcome.fail(f"锁续期 (lease renewal) too broad: {case}, and your statement also changed the lock "
                                f"'reports' (same owner, same version) to {_show(db.row('reports'))}: the WHERE "
                                f"clause must name the lock (name = :name)")
        if changed != 1:
            return Outcome.fail(f"锁续期 (lease renewal) broken: {case}; your statement changed {changed} row(s) and "
                                f"left {_show(after)}. The holder's renewal must go through (1 row), or a holder "
                                f"that works longer than one lease is replaced while it works")
        if after[0] != me:
            return Outcome.fail(f"锁续期 (lease renewal) broken: {case}; your statement left {_show(after)} — a "
                                f"renewal keeps the owner as it is")
        if after[2] != new_lease:
            return Outcome.fail(f"锁续期 (lease renewal) broken: {case}; your statement left {_show(after)}. Move the "
                                f"lease's end to :lease_until (lease_until = :lease_until), or the lease runs out "
                                f"as if nobody had renewed it and another client takes the lock (互斥)")
        if after[1] != version + 1:
            return Outcome.fail(f"互斥 at risk: {case}; your statement left the row at version {after[1]}. A renewal "
                                f"changes the row, so it must move the version on (version = version + 1): a "
                                f"competitor that read the row with the old, expiring lease must not be able to take "
                                f"it over afterwards with that version; and DbLock remembers version + 1 as its grant")
        stranger = f"worker-0:{rng.getrandbits(32):08x}"
        _lock_rows(conn, rows)
        changed = extend(stranger, version)
        if changed != 0 or db.row(LOCK) != rows[LOCK]:
            return Outcome.fail(f"安全 broken: {me!r} holds lock {LOCK!r} at version {version}; {stranger!r}, who does "
                                f"not hold it, renewed it ({changed} row(s) changed, row now {_show(db.row(LOCK))}). "
                                f"Only the holder may renew: compare the owner (owner = :owner)")
        old = version - rng.randint(1, 3)
        _lock_rows(conn, rows)
        changed = extend(me, old)
        if changed != 0 or db.row(LOCK) != rows[LOCK]:
            return Outcome.fail(f"安全 broken: {me!r} holds lock {LOCK!r} at version {version}; a renewal left over "
                                f"from its older grant at version {old} renewed the current one ({changed} row(s) "
                                f"changed). Owner names can repeat; the version names one grant: compare it too "
                                f"(version = :version)")
        return Outcome.ok()
    finally:
        db.close()


def _renewing_holder(sql: str, rng: random.Random, seed: int) -> Outcome:
    """锁续期: a holder renews every 0.6 lease for several leases; nobody else gets in meanwhile."""
    db = _Database()
    clock = ManualClock(START)
    ttl = float(rng.choice((5, 10, 30)))
    try:
        holder = DbLock(db, LOCK, clock=clock, ttl=ttl, identifier="holder", extend_sql=sql)
        rival = DbLock(db, LOCK, clock=clock, ttl=ttl, identifier="rival")
        holder.acquire(blocking=False)
        trace = [f"t=0 s holder takes the lock with a {ttl:g} s lease"]
        for n in range(rng.randint(4, 6)):
            clock.advance(0.6 * ttl)
            try:
                holder.extend()
            except LockLost:
                trace.append(f"t={clock.time() - START:g} s holder renews: refused")
                return Outcome.fail(f"锁续期 (lease renewal) broken: the holder renews its {ttl:g} s lease every "
                                    f"{0.6 * ttl:g} s, and renewal {n + 1} was refused (row {_show(db.row())}) "
                                    f"(seed {seed})", "\n".join(trace[-8:]))
            trace.append(f"t={clock.time() - START:g} s holder renews: row {_show(db.row())}")
            clock.advance(0.3 * ttl)
            if rival.acquire(blocking=False):
                trace.append(f"t={clock.time() - START:g} s rival takes the lock")
                return Outcome.fail(f"互斥 broken: the holder renewed its {ttl:g} s lease {0.3 * ttl:g} s ago, yet a "
                                    f"rival took the lock — the renewal did not push lease_until to :lease_until "
                                    f"(锁续期) (seed {seed})", "\n".join(trace[-8:]))
        try:
            holder.release()
        except LockLost:
            return Outcome.fail(f"锁续期 (lease renewal) broken: after renewing, the holder's release was refused "
                                f"(row {_show(db.row())}): every renewal must move the version on by exactly one "
                                f"(DbLock remembers version + 1 as its grant) (seed {seed})", "\n".join(trace[-8:]))
        return Outcome.ok()
    finally:
        db.close()


def _late_renewal(sql: str, rng: random.Random, seed: int) -> Outcome:
    """A holder pauses past its lease and is replaced; its late renewal must change nothing."""
    db = _Database()
    clock = ManualClock(START)
    ttl = float(rng.choice((5, 10, 30)))
    try:
        old = DbLock(db, LOCK, clock=clock, ttl=ttl, identifier="paused", extend_sql=sql)
        new = DbLock(db, LOCK, clock=clock, ttl=ttl, identifier="next", extend_sql=sql)
        old.acquire(blocking=False)
        clock.advance(ttl + rng.choice((0.5, 2.0)))  # the holder pauses past its lease ...
        new.acquire(blocking=False)  # ... and is replaced
        taken = db.row()
        trace = [f"t=0 s paused takes the lock ({ttl:g} s lease) and pauses",
                 f"t={clock.time() - START:g} s next takes it over: row {_show(taken)}"]
        clock.advance(0.5)
        try:
            old.extend()
        except LockLost:
            pass
        else:
            return Outcome.fail(f"安全 broken: a holder paused past its {ttl:g} s lease and another client took the "
                                f"lock; the paused holder's late renewal was accepted (1 row changed, row now "
                                f"{_show(db.row())}). A renewal must match only its own grant (owner = :owner AND "
                                f"version = :version) (seed {seed})", "\n".join(trace))
        if db.row() != taken:
            return Outcome.fail(f"安全 broken: a replaced holder's late renewal changed the new holder's row from "
                                f"{_show(taken)} to {_show(db.row())} (seed {seed})", "\n".join(trace))
        return Outcome.ok()
    finally:
        db.close()


def _renewal_race(sql: str, rng: random.Random, seed: int) -> Outcome:
    """The lease runs out; a rival reads the row (free); the holder renews late; the rival's CAS must lose."""
    db = _Database()
    clock = ManualClock(START)
    ttl = float(rng.choice((5, 10, 30)))
    try:
        holder = DbLock(db, LOCK, clock=clock, ttl=ttl, identifier="holder", extend_sql=sql)
        rival = DbLock(db, LOCK, clock=clock, ttl=ttl, identifier="rival")
        holder.acquire(blocking=False)
        clock.advance(ttl + rng.choice((0.0, 0.5)))  # the lease has just run out; nobody took it yet
        renewed: list[bool] = []
        read: list[tuple] = []

        def renew_now(row: tuple) -> None:
            read.append(row)
            try:
                holder.extend()
                renewed.append(True)
            except LockLost:
                renewed.append(False)

        db.on_read = renew_now
        took = rival.acquire(blocking=False)
        db.on_read = None
        trace = [f"t=0 s holder takes the lock ({ttl:g} s lease)",
                 f"t={clock.time() - START:g} s the lease has run out; rival reads the row {_show(read[0]) if read else ''}",
                 f"holder renews late: {'accepted' if renewed and renewed[0] else 'refused'}, row now "
                 f"{_show(db.row())}",
                 f"rival's compare-and-set with the version it read: {'took the lock' if took else 'lost'}"]
        if took and renewed and renewed[0]:
            return Outcome.fail(f"互斥 broken: the holder's lease ran out and a rival read the free row; then the "
                                f"holder renewed (accepted) and the rival's compare-and-set with the version it had "
                                f"read still matched — both now hold the lock. A renewal changes the row, so it must "
                                f"move the version on (version = version + 1) (seed {seed})", "\n".join(trace))
        return Outcome.ok()
    finally:
        db.close()


# ------------------------------------------------------------------ every message names its rule
_CONCEPTS = ("互斥", "死锁", "安全", "栅栏令牌", "锁续期", "更新丢失")


def _named(concept: str):
    return named(concept, _CONCEPTS)


check_cas_update_sql = _named("更新丢失 (lost update)")(check_cas_update_sql)
check_cas_won = _named("互斥 (mutual exclusion)")(check_cas_won)
check_lock_is_free = _named("死锁 / 互斥 (the lease rule)")(check_lock_is_free)
check_release_sql = _named("安全 (only the holder releases)")(check_release_sql)
check_acquire_sql = _named("互斥 (mutual exclusion, the acquire's compare-and-set)")(check_acquire_sql)
check_extend_sql = _named("锁续期 (lease renewal)")(check_extend_sql)


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
    Part(1, "acquire_sql", "The whole lock: the acquire", 4,
         "the acquire takes the lock's row only if it is still at the version read, names the new owner, moves the "
         "version on and sets the lease; rivals racing for it never both hold it, and a crashed holder is replaced "
         "once its lease has run out (互斥, 死锁)", check_acquire_sql),
    Part(1, "extend_sql", "The whole lock: renewing the lease", 4,
         "a renewal moves lease_until and the version on only where name, owner and version match the holder's "
         "grant; a holder that renews keeps the lock, a replaced holder's late renewal changes nothing, and a "
         "competitor that read the old lease cannot take it over (锁续期, 安全, 互斥)", check_extend_sql),
)
