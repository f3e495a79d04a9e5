"""Lab 4 — the ZooKeeper lock: ephemeral-sequential nodes (临时顺序节点), watch the predecessor.

Three parts. Each is checked on cases drawn from the seed (the recipes page's, kazoo's and
Curator's rules), then plugged into :class:`distlab.locks.ZkLock` (its ``decide=`` seam) and run
on distlab's simulated three-server ensemble with :class:`distlab.locks.zk_sim.SimScheduler`:

- ``sequence_number``: the grader's predecessor choice orders contenders by the learner's
  parse; clients increment a counter under the lock (互斥: the count is exact).
- ``predecessor``: the counter run, then the herd run — a holder and a queue of waiters, each
  release counted in watch notifications: exactly one waiter may wake per release (no herd
  effect, 羊群效应). A choice that watches a node that never goes away deadlocks (死锁), and
  the run says who waited on what.
- ``shared_predecessor``: readers and writers contend on a read-write lock; writers exclude
  everyone, readers share, nobody waits forever.

Everything is deterministic: the simulated world, node names included, follows the seed.
"""

from __future__ import annotations

import random
from typing import Any, Callable

from distlab.grading.parts import Outcome, Part, register, Verdict, verdict_fail, verdicts
from distlab.locks.zk import (
    EXCLUSIVE,
    SHARED,
    GetData,
    NodeVanished,
    SetData,
    Sleep,
    ZkLock,
    ZkReadLock,
    ZkWriteLock,
    parse_node,
    predecessor,
)
from distlab.locks.zk_sim import SimScheduler
from distlab.zk.errors import ConnectionLossError, OperationTimeoutError
from distlab.zk.watches import WatchedEvent

LOCK_PATH = "/locks/lab4"
COUNTER = "/counters/lab4"
MAX_MS = 120_000




def _short(name: str) -> str:
    """``4f0c...-lock-0000000007`` -> ``lock-7`` (for messages)."""
    parsed = parse_node(name)
    return name if parsed is None else f"{parsed.kind}-{parsed.seq}"


def _node(rng: random.Random, kind: str, seq: int, style: str | None = None) -> str:
    style = style or rng.choice(("hex", "hex", "uuid", "session", "none"))
    if style == "hex":
        prefix = f"{rng.getrandbits(128):032x}-"
    elif style == "uuid":
        h = f"{rng.getrandbits(128):032x}"
        prefix = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}-"
    elif style == "session":
        prefix = f"x-{rng.randint(10**16, 10**17)}-"
    else:
        prefix = ""
    return f"{prefix}{kind}-{seq:010d}"


def _children(rng: random.Random, kinds: tuple[str, ...], extra: bool = True) -> list[str]:
    seqs = sorted(rng.sample(range(0, 60), rng.randint(1, 7)))
    names = [_node(rng, rng.choice(kinds), seq) for seq in seqs]
    if extra and rng.random() < 0.3:
        names.append(rng.choice(("config", "leader", "readme", "lock", "lock-", "lock-00000001")))
    rng.shuffle(names)
    return names


# ------------------------------------------------------------------ the simulated runs --------
class _Inside:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.now: list[str] = []
        self.trace: list[str] = []

    def enter(self, name: str, lock: ZkLock) -> None:
        self.trace.append(f"{name} holds the lock ({_short(lock.node)}, token {lock.token})")
        if self.now:
            raise verdict_fail(f"互斥 broken: {name} was granted the lock ({_short(lock.node)}) while {self.now[0]} held it "
                        f"(seed {self.seed})", self.excerpt())
        self.now.append(name)

    def leave(self, name: str) -> None:
        self.now.remove(name)
        self.trace.append(f"{name} releases")

    def excerpt(self) -> str:
        return "\n".join(self.trace[-8:])


def _retrying(op: Any):
    while True:
        try:
            return (yield op)
        except (ConnectionLossError, OperationTimeoutError):
            yield Sleep(0.05)


class _Decide:
    """The ``decide=`` seam around the learner's choice: validates every answer, remembers it."""

    def __init__(self, choose: Callable[[list, str], Any], call: str) -> None:
        self.choose = choose
        self.call = call
        self.watching: dict[str, str | None] = {}  # our node -> the node it chose to wait for

    def __call__(self, children: Any, me: str, blocked_by: frozenset = EXCLUSIVE) -> str | None:
        children = list(children)
        if me not in children:
            raise NodeVanished(f"our node {me!r} is gone from the lock's children")
        got = self.choose(children, me)
        if got is not None and (not isinstance(got, str) or got not in children):
            raise verdict_fail(f"{self.call}(children, me) must return None or one of the children's names, got {got!r} "
                        f"(children {children}, me {me!r})")
        if got == me:
            raise verdict_fail(f"{self.call} returned our own node {_short(me)} as the one to wait for: its watch fires "
                        f"only when we delete it, so we would wait forever (死锁)")
        self.watching[me] = got
        return got


def _raise_task_error(scheduler: SimScheduler) -> None:
    """After a timeout: a task that failed first (the learner's code raised) is the real story."""
    for task in scheduler.tasks:
        if task.status == "failed" and task.error is not None:
            raise task.error  # a Verdict (the caller turns it into the outcome) or the learner's error


def _world(seed: int):
    from distlab.sim.ensemble import Ensemble

    ensemble = Ensemble(servers=3, seed=seed)
    ensemble.wait_for_leader()
    return ensemble


def _stuck(scheduler: SimScheduler, decide: _Decide, names: dict[str, ZkLock]) -> str:
    waits = []
    for task in scheduler.tasks:
        if task.status in ("call", "watch", "sleep"):
            lock = names.get(task.name)
            if lock is not None and lock.node is not None:
                target = decide.watching.get(lock.node)
                waits.append(f"{task.name} ({_short(lock.node)}) waits on "
                             f"{'nothing' if target is None else _short(target)}")
    return "; ".join(waits) or "tasks still waiting"


def counter_run(decide: _Decide, seed: int) -> Outcome:
    """互斥 and 死锁: clients increment a counter under ZkLock(decide=...); the count must be exact."""
    rng = random.Random(f"lab4/counter/{seed}")
    ensemble = _world(seed)
    first = ensemble.client()
    first.create(COUNTER, b"0", makepath=True)
    clients = rng.randint(3, 5)
    increments = rng.randint(2, 3)
    locks = {f"c{i + 1}": ZkLock(ensemble.client(), LOCK_PATH, f"c{i + 1}", decide=decide) for i in range(clients)}
    inside = _Inside(seed)
    records: list[tuple[int, int]] = []

    def work(name: str, lock: ZkLock):
        yield Sleep(rng.choice((0.0, 0.01, 0.05)))
        for _ in range(increments):
            yield from lock.acquire_steps()
            inside.enter(name, lock)
            data, _stat = yield from _retrying(GetData(COUNTER))
            yield Sleep(rng.choice((0.005, 0.02, 0.1)))
            value = int(data) + 1
            yield from _retrying(SetData(COUNTER, str(value).encode()))
            records.append((lock.token, value))
            inside.leave(name)
            yield from lock.release_steps()

    scheduler = SimScheduler(ensemble.world)
    by_task = {}
    for name, lock in locks.items():
        task = scheduler.spawn(lock.driver.client, work(name, lock), name=name)
        by_task[task.name] = lock
    try:
        scheduler.run(max_ms=MAX_MS)
    except Verdict as verdict:
        return verdict.outcome
    except TimeoutError:
        _raise_task_error(scheduler)
        return Outcome.fail(f"死锁: {MAX_MS // 1000} s of simulated time after the start, clients were still waiting "
                            f"for the lock: {_stuck(scheduler, decide, by_task)}. A waiter must wait for the node just "
                            f"below its own; when that node goes, its watch wakes it (seed {seed})", inside.excerpt())
    data, _ = first.get(COUNTER)
    if int(data) != clients * increments:
        return Outcome.fail(f"{clients} clients each incremented the counter {increments} times under the lock, but it "
                            f"reads {int(data)}, not {clients * increments}", inside.excerpt())
    tokens = [token for token, _ in sorted(records, key=lambda r: r[1])]
    if any(a >= b for a, b in zip(tokens, tokens[1:])):
        return Outcome.fail(f"grants came out of sequence order: in counter order the holders' sequence numbers were "
                            f"{tokens}; the lowest node must hold the lock, so they should grow", inside.excerpt())
    return Outcome.ok()


def herd_run(decide: _Decide, seed: int) -> Outcome:
    """羊群效应: a holder, ``w`` waiters queued; each release may wake exactly one waiter."""
    rng = random.Random(f"lab4/herd/{seed}")
    ensemble = _world(seed)
    waiters = rng.randint(3, 6)
    holder = ZkLock(ensemble.client(), LOCK_PATH, "holder", decide=decide)
    holder.acquire()
    locks = {f"w{i + 1}": ZkLock(ensemble.client(), LOCK_PATH, f"w{i + 1}", decide=decide) for i in range(waiters)}
    inside = _Inside(seed)
    inside.now.append("holder")
    scheduler = SimScheduler(ensemble.world)

    def waiter(name: str, lock: ZkLock):
        yield Sleep(0.01 * rng.randint(0, 5))
        yield from lock.acquire_steps()
        inside.enter(name, lock)
        yield Sleep(0.05)
        inside.leave(name)
        yield from lock.release_steps()

    def release_when_all_queued():
        for _ in range(500):  # up to 5 s: every waiter is waiting on its watch
            if all(task.status == "watch" for task in scheduler.tasks[:waiters]):
                break
            yield Sleep(0.01)
        inside.leave("holder")
        yield from holder.release_steps()

    marks = {name: len(lock.driver.client.events) for name, lock in locks.items()}
    by_task = {}
    for name, lock in locks.items():
        by_task[scheduler.spawn(lock.driver.client, waiter(name, lock), name=name).name] = lock
    scheduler.spawn(holder.driver.client, release_when_all_queued(), name="holder")
    try:
        scheduler.run(max_ms=MAX_MS)
    except Verdict as verdict:
        return verdict.outcome
    except TimeoutError:
        _raise_task_error(scheduler)
        return Outcome.fail(f"死锁: the holder released, but {MAX_MS // 1000} s later waiters were still waiting: "
                            f"{_stuck(scheduler, decide, by_task)}. Nobody watched the node that went away, so nobody "
                            f"was told (a lost wake-up) (seed {seed})", inside.excerpt())
    woken = {name: sum(isinstance(e, WatchedEvent) for e in lock.driver.client.events[marks[name]:])
             for name, lock in locks.items()}
    total = sum(woken.values())
    if total != waiters:
        per = ", ".join(f"{name}: {count}" for name, count in woken.items())
        return Outcome.fail(f"羊群效应 (herd effect): {waiters} waiters queued behind one holder and the {waiters} "
                            f"releases woke waiters {total} times ({total / waiters:.1f} notifications per release; "
                            f"{per}). Each waiter must watch only the node just below its own, so that a release "
                            f"wakes exactly one waiter (seed {seed})", inside.excerpt())
    return Outcome.ok()


# ------------------------------------------------------------------ A: sequence_number -------
SEQUENCE_ROWS = [
    ("ab12-lock-0000000007", 7, "the 10 digits after '<kind>-'"),
    ("ab12-read-0000000010", 10, "read- and write- nodes are contenders too"),
    ("lock-0000000003", 3, "no prefix"),
    ("x-72057594037927936-lock-0000000002", 2, "the prefix has digits of its own (ZooKeeper's Java recipe)"),
    ("0f3a9c11-2b7e-4c1d-9e55-000000000042-write-0000000042", 42, "a uuid prefix"),
    ("ab12-lock--2147483648", -2147483648, "the counter is a signed 32-bit int: after 2**31-1 it wraps"),
    ("config", None, "not a contender"),
    ("lock-12", None, "ZooKeeper always writes 10 digits"),
    ("ab12-lock-000000000x", None, "not a number"),
    ("ab12-mutex-0000000005", None, "not one of the kinds lock, read, write"),
]


def _seq_reference(name: str) -> int | None:
    parsed = parse_node(name)
    return None if parsed is None else parsed.seq


reference_sequence_number = _seq_reference  # the reference seam of Part A (parts.REFERENCE_SEAMS)


def _strict_seq(got: Any, name: str) -> int | None:
    if got is not None and type(got) is not int:
        raise verdict_fail(f"sequence_number({name!r}) must return an int or None, got {got!r} ({type(got).__name__})")
    return got


@verdicts
def check_sequence_number(fn: Any, seed: int) -> Outcome:
    rng = random.Random(f"lab4/sequence_number/{seed}")
    rows = list(SEQUENCE_ROWS)
    for _ in range(25):
        name = _node(rng, rng.choice(("lock", "read", "write")), rng.randint(0, 2**31 - 1))
        if rng.random() < 0.2:
            name = rng.choice((name[:-1], name + "1", name.replace("-lock-", "-lck-"), name.split("-")[0]))
        rows.append((name, _seq_reference(name), ""))
    try:
        for name, expected, why in rows:
            got = _strict_seq(fn(name), name)
            if got != expected:
                rule = why or ("a contender's name ends in lock-, read- or write- and then the sequence: 10 digits "
                               "(or a minus sign and 10 digits once the counter wrapped)")
                return Outcome.fail(f"sequence_number({name!r}) returned {got!r}; expected {expected!r} ({rule})")
    except Verdict as verdict:
        return verdict.outcome
    memo: dict[str, int | None] = {}

    def seq(name: str) -> int | None:
        if name not in memo:
            memo[name] = _strict_seq(fn(name), name)
        return memo[name]

    def choose(children: list, me: str) -> str | None:
        mine = seq(me)
        if mine is None:
            raise verdict_fail(f"sequence_number({me!r}) returned None for a contender's own node")
        best = None
        for child in children:
            s = seq(child)
            if s is not None and s < mine and (best is None or s > best[0]):
                best = (s, child)
        return None if best is None else best[1]

    try:
        return counter_run(_Decide(choose, "predecessor (built on your sequence_number)"), seed)
    except Verdict as verdict:
        return verdict.outcome


# ------------------------------------------------------------------ B: predecessor -----------
def _predecessor_rows(rng: random.Random, kinds: tuple[str, ...], blocked: Callable[[str], frozenset]) -> list:
    rows = []
    for _ in range(40):
        children = _children(rng, kinds)
        contenders = [c for c in children if parse_node(c) is not None]
        me = rng.choice(contenders)
        rows.append((children, me, predecessor(children, me, blocked(me))))
    return rows


def _fixed_rows(kinds: tuple[str, ...]) -> list:
    r = random.Random("lab4/fixed")

    def n(kind: str, seq: int) -> str:
        return _node(r, kind, seq, "hex")

    a, b, c, nine, ten = n("lock", 1), n("lock", 2), n("lock", 3), n("lock", 9), n("lock", 10)
    rows = [([a], a), ([a, b, c], c), ([a, c], c), ([c, a, b], b), ([b, "config"], b), ([nine, ten], ten)]
    # prefixes that sort the other way round from the sequence numbers
    low, high = "ffff" + n("lock", 4)[4:], "0000" + n("lock", 5)[4:]
    rows.append(([high, low], high))
    rows.append(([high, low], low))
    if "read" in kinds:
        r1, r2, r3, w1, w3 = n("read", 1), n("read", 2), n("read", 3), n("write", 1), n("write", 3)
        rows += [([r1, r2], r2), ([w1, r2, r3], r3), ([r1, r2, w3], w3), ([a, r2], r2), ([r1, b], b)]
    return rows


def _check_choice(fn: Any, name: str, rows: list, blocked: Callable[[str], frozenset]) -> Outcome | None:
    for children, me, *expected in rows:
        expected = expected[0] if expected else predecessor(children, me, blocked(me))
        got = fn(list(children), me)
        if got is not None and (not isinstance(got, str) or got not in children):
            return Outcome.fail(f"{name} must return None or one of the children's names (a name from the list, "
                                f"not a path), got {got!r} for me = {me!r} among {list(children)}")
        if got != expected:
            shown = ", ".join(_short(c) for c in sorted(children, key=lambda c: (_seq_reference(c) is None,
                                                                                _seq_reference(c) or 0, c)))
            if expected is None:
                want = "None: nothing below it blocks it, so it holds the lock"
            else:
                want = f"{_short(expected)} ({expected!r})"
            by_name = sorted(c for c in children if parse_node(c) is not None)
            position = by_name.index(me) if me in by_name else 0
            name_order = by_name[position - 1] if position > 0 else None
            reason = ("compare sequence numbers, not names: the prefixes are random, so names sort in "
                      "another order than the line"
                      if got == name_order or (got is not None and got in children and _seq_reference(got) is not None
                                               and _seq_reference(got) > (_seq_reference(me) or 0)) else
                      ("wait for the nearest lower node that blocks me: a reader is blocked only by write- and "
                       "lock- nodes, a writer by every lower node; other children do not count")
                      if name == "shared_predecessor" else
                      "wait for the contender with the highest sequence number below mine; names that are not "
                      "contenders do not count")
            return Outcome.fail(f"{name} for me = {_short(me)} among [{shown}] returned "
                                f"{_short(got) if isinstance(got, str) else got!r}; expected {want} — {reason}")
    return None


def _with_example(outcome: Outcome, bad: Outcome | None) -> Outcome:
    """A run's failure, plus the first case where the choice differs from the recipe's."""
    if bad is None:
        return outcome
    return Outcome.fail(f"{outcome.message}\nFor example: {bad.message}", outcome.excerpt)


@verdicts
def check_predecessor(fn: Any, seed: int) -> Outcome:
    rng = random.Random(f"lab4/predecessor/{seed}")
    rows = _fixed_rows(("lock",)) + _predecessor_rows(rng, ("lock",), lambda me: EXCLUSIVE)
    # What the choice does to the lock first (互斥, 死锁, 羊群效应), then the cases one by one.
    for run in (counter_run, herd_run):
        try:
            outcome = run(_Decide(fn, "predecessor"), seed)
        except Verdict as verdict:
            outcome = verdict.outcome
        if outcome.passed is not True:
            return _with_example(outcome, _check_choice(fn, "predecessor", rows, lambda me: EXCLUSIVE))
    return _check_choice(fn, "predecessor", rows, lambda me: EXCLUSIVE) or Outcome.ok()


# ------------------------------------------------------------------ C: shared_predecessor ----
def _blocked_for(me: str) -> frozenset:
    parsed = parse_node(me)
    return SHARED if parsed is not None and parsed.kind == "read" else EXCLUSIVE


@verdicts
def check_shared_predecessor(fn: Any, seed: int) -> Outcome:
    rng = random.Random(f"lab4/shared_predecessor/{seed}")
    rows = _fixed_rows(("lock", "read", "write")) + _predecessor_rows(rng, ("read", "read", "write", "lock"),
                                                                      _blocked_for)
    reference = _rw_run(_Decide(lambda c, m: predecessor(c, m, _blocked_for(m)), "reference"), seed)
    if not isinstance(reference, dict):
        raise RuntimeError(f"the reference read-write run failed: {reference}")
    try:
        got = _rw_run(_Decide(fn, "shared_predecessor"), seed)
    except Verdict as verdict:
        got = verdict.outcome
    if isinstance(got, dict) and got["readers_together"] < reference["readers_together"]:
        got = Outcome.fail(f"readers never held the lock together (at most {got['readers_together']} at once; the "
                           f"recipe lets {reference['readers_together']} share it in this run): a reader waits only "
                           f"for a lower write- or lock- node, never for another reader (seed {seed})",
                           got["excerpt"])
    if isinstance(got, Outcome):
        return _with_example(got, _check_choice(fn, "shared_predecessor", rows, _blocked_for))
    return _check_choice(fn, "shared_predecessor", rows, _blocked_for) or Outcome.ok()


def _rw_run(decide: _Decide, seed: int) -> dict | Outcome:
    """Readers and writers arrive over time, hold a while and leave; who held what when."""
    rng = random.Random(f"lab4/rw/{seed}")
    ensemble = _world(seed)
    world = ensemble.world
    plan = []
    at = 0.0
    for i in range(rng.randint(5, 8)):
        kind = "read" if i < 2 else rng.choice(("read", "read", "write"))  # two readers first: they share
        plan.append((f"{kind[0]}{i + 1}", kind, at, rng.choice((0.1, 0.3, 0.6))))
        at += rng.choice((0.0, 0.05, 0.2))
    holding: dict[str, str] = {}
    most_readers = [0]
    trace: list[str] = []

    def work(name: str, kind: str, start: float, hold: float, lock: ZkLock):
        yield Sleep(start)
        yield from lock.acquire_steps()
        trace.append(f"t={world.now} ms {name} holds the {kind} lock ({_short(lock.node)})")
        others = sorted(holding)
        if others and (kind == "write" or any(holding[o] == "write" for o in others)):
            raise verdict_fail(f"a writer must hold the lock alone: {name} ({kind}) was granted it while {others} held it "
                        f"({', '.join(holding[o] for o in others)}) (seed {seed})", "\n".join(trace[-8:]))
        holding[name] = kind
        most_readers[0] = max(most_readers[0], sum(1 for k in holding.values() if k == "read"))
        yield Sleep(hold)
        del holding[name]
        trace.append(f"t={world.now} ms {name} releases")
        yield from lock.release_steps()

    scheduler = SimScheduler(world)
    by_task = {}
    for name, kind, start, hold in plan:
        cls = ZkReadLock if kind == "read" else ZkWriteLock
        lock = cls(ensemble.client(), LOCK_PATH, name, decide=decide)
        by_task[scheduler.spawn(lock.driver.client, work(name, kind, start, hold, lock), name=name).name] = lock
    try:
        scheduler.run(max_ms=MAX_MS)
    except Verdict as verdict:
        return verdict.outcome
    except TimeoutError:
        _raise_task_error(scheduler)
        return Outcome.fail(f"死锁: {MAX_MS // 1000} s into the run, clients still waited for the read-write lock: "
                            f"{_stuck(scheduler, decide, by_task)} (seed {seed})", "\n".join(trace[-8:]))
    return {"readers_together": most_readers[0], "excerpt": "\n".join(trace[-8:])}


register(
    4, "ZooKeeper lock", "lab4-zk-lock.ipynb",
    Part(4, "sequence_number", "Sequence numbers", 2,
         "a contender's name ends in <kind>-<10 digits> (kind lock, read or write; a minus sign once the counter "
         "wraps); anything else is not a contender; contenders are ordered by that number, never by name",
         check_sequence_number),
    Part(4, "predecessor", "Watch the predecessor", 5,
         "a contender waits for the contender with the highest sequence number below its own, None if there is "
         "none; then the lowest node holds the lock (互斥) and each release wakes exactly one waiter (no herd "
         "effect, 羊群效应)", check_predecessor),
    Part(4, "shared_predecessor", "The read-write lock", 3,
         "a reader waits for the nearest lower write-/lock- node, a writer for the nearest lower node of any kind; "
         "writers hold the lock alone, readers share it (ZooKeeper recipes, Shared Locks)",
         check_shared_predecessor),
)
