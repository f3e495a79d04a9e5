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
                return Outcome.fail(f"sequence_number({name!r}) returned {got!r}; expected {expected!r} ({rule}). "
                                    f"The sequence number of an ephemeral sequential node (临时顺序节点) is a "
                                    f"contender's place in line: a wrong one puts two clients in the lock (互斥) or "
                                    f"one behind a node that never goes (死锁)")
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


def _named(outcome: Outcome | None, name: str) -> Outcome | None:
    """A table-row failure, with the property it breaks in the lock (the runs name it too)."""
    if outcome is None or outcome.passed is not False:
        return outcome
    concept = ("a reader waiting for another reader loses the sharing of the read-write lock (共享锁); a writer "
               "not waiting for every lower node breaks 互斥 (mutual exclusion)" if name == "shared_predecessor" else
               "waiting for the wrong node breaks 互斥 (two holders), deadlocks (死锁) or wakes a herd (羊群效应)")
    return Outcome.fail(f"{outcome.message}. In the lock, {concept}", outcome.excerpt)


def _with_example(outcome: Outcome, bad: Outcome | None) -> Outcome:
    """A run's failure, plus the first case where the choice differs from the recipe's."""
    if bad is None:
        return outcome
    return Outcome.fail(f"{outcome.message}\nFor example: {bad.message}", outcome.excerpt)


# The search test (issue 15): every schedule of 3 clients taking the lock once against one
# atomic ZooKeeper, run by the model checker with ZkLock's own recipe and the learner's
# choice; seed-independent, so computed once per function and given to every seed.
_SEARCHED: list = []


def search_test(fn: Any) -> Outcome:
    from distlab.check.model import ZkLockModel, describe_counterexample, explore

    for searched, outcome in _SEARCHED:
        if searched is fn:
            return outcome
    try:
        result = explore(ZkLockModel(3, 0, predecessor=_Decide(fn, "predecessor")))
    except Verdict as verdict:
        outcome = verdict.outcome
    else:
        outcome = Outcome.ok() if result.violation is None and not result.stuck else Outcome.fail(
            f"search test (every schedule of 3 clients taking the lock once, {result.states} states): "
            + (describe_counterexample(result) if result.violation else
               f"{result.stuck}:\n" + "\n".join(f"  {i:2}. {a.describe()}" for i, a in enumerate(result.stuck_trace, 1)))
            + "\nReplay it in your notebook: from distlab.check.model import ZkLockModel, explore, "
              "describe_counterexample; print(describe_counterexample(explore(ZkLockModel(3, 0, "
              "predecessor=lambda children, me, blocked_by: predecessor(children, me)))))")
    _SEARCHED[:] = [(fn, outcome)]
    return outcome


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
    named = _named(_check_choice(fn, "predecessor", rows, lambda me: EXCLUSIVE), "predecessor")
    return named or search_test(fn)


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
    return _named(_check_choice(fn, "shared_predecessor", rows, _blocked_for), "shared_predecessor") or Outcome.ok()


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



# ------------------------------------------------------------------ D: the whole acquire -----
# The learner's generator runs inside ZkLock (its recipe= seam) on the simulated ensemble, on
# schedules made to hit each step of the recipe: contention through a server crash, a herd of
# waiters, a waiter that gives up, a predecessor already gone, a lost create reply, a session
# that expires while waiting. Every operation the recipe yields is recorded for the excerpt.
from distlab.locks.api import AcquireTimeout, LockError, LockLost  # noqa: E402
from distlab.locks.zk import (  # noqa: E402
    AwaitWatch,
    Delete,
    Exists,
    GetChildren,
    Pipeline,
    Now,
    Session,
)
from distlab.grading.parts import reraise_if_fatal  # noqa: E402
from distlab.zk.errors import KeeperError, NoNodeError, SessionExpiredError  # noqa: E402
from distlab.zk.ops import CreateRequest  # noqa: E402

RECIPE_MAX_MS = 40_000


class _Log:
    """Who did what when, in the simulated world (the excerpt of a failure)."""

    def __init__(self, world: Any) -> None:
        self.world, self.lines = world, []

    def note(self, who: str, text: str) -> None:
        self.lines.append(f"t={self.world.now:>6} ms  {who}: {text}")

    def excerpt(self, n: int = 12) -> str:
        return "\n".join(self.lines[-n:])


def _op_text(op: Any) -> str:
    kind = type(op).__name__
    path = getattr(op, "path", "")
    tail = path.rsplit("/", 1)[-1] if isinstance(path, str) else ""
    if isinstance(op, CreateRequest):
        flags = ", ".join(f for f, on in (("ephemeral", op.ephemeral), ("sequential", op.sequence)) if on)
        return f"create {tail} ({flags or 'persistent'})"
    if isinstance(op, (GetChildren, GetData, Exists)):
        what = {"GetChildren": "getChildren", "GetData": "getData", "Exists": "exists"}[kind]
        return f"{what} {tail if not isinstance(op, GetChildren) else path}" + (" +watch" if op.watch else "")
    if isinstance(op, Delete):
        return f"delete {_short(tail)}"
    if isinstance(op, Pipeline):
        return "pipeline[" + "; ".join(_op_text(o) for o in op.ops) + "]"
    if isinstance(op, AwaitWatch):
        return "await watch" + ("" if op.deadline is None else f" (deadline {op.deadline:.2f} s)")
    return kind.lower()


def _result_text(value: Any) -> str:
    if isinstance(value, BaseException):
        return type(value).__name__
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) if isinstance(v, str) else _result_text(v) for v in value) + "]"
    if isinstance(value, str):
        return _short(value.rsplit("/", 1)[-1])
    if isinstance(value, tuple):
        return "data"
    return repr(value)[:40]


def _recorded(steps: Any, who: str, log: _Log, hook: Callable[[Any], Any] | None = None):
    """Drive the learner's generator, recording every operation; ``hook(op)`` may meddle.

    ``hook`` is a generator function: it may yield operations of its own first (the grader
    deleting a node) and returns None (perform ``op``), ``("lost", error)`` (perform it, then
    throw ``error`` in instead of the reply: a lost reply) or ``("fail", error)`` (do not
    perform it, throw ``error``).
    """
    value, error = None, None
    while True:
        try:
            op = steps.throw(error) if error is not None else steps.send(value)
        except StopIteration as stop:
            log.note(who, f"returns {stop.value!r}")
            return stop.value
        except (KeeperError, LockError) as raised:
            log.note(who, f"raises {type(raised).__name__}")
            raise
        value, error = None, None
        action = (yield from hook(op)) if hook is not None else None
        if type(op) in (Now, Session):
            value = yield op
            continue
        if action is not None and action[0] == "fail":
            log.note(who, f"{_op_text(op)} -> {type(action[1]).__name__} (the grader's fault)")
            error = action[1]
            continue
        try:
            value = yield op
        except KeeperError as failed:
            log.note(who, f"{_op_text(op)} -> {type(failed).__name__}")
            error = failed
            continue
        if action is not None and action[0] == "lost":
            log.note(who, f"{_op_text(op)} -> {_result_text(value)}, but the reply is lost: "
                          f"{type(action[1]).__name__} (the grader's fault)")
            value, error = None, action[1]
            continue
        log.note(who, f"{_op_text(op)} -> {_result_text(value)}")


def _no_hook(op: Any):
    return None
    yield  # noqa: unreachable - makes this a generator


class _Recipe:
    """The learner's acquire generator as ZkLock's recipe= seam, recorded (and meddled with)."""

    def __init__(self, fn: Any, log: _Log) -> None:
        self.fn, self.log = fn, log
        self.hooks: dict[str, Callable[[Any], Any]] = {}
        self.prefixes: dict[str, str] = {}

    def for_(self, who: str) -> Callable[..., Any]:
        def recipe(path, prefix, data, timeout, kind, blocked_by, *, predecessor):
            self.prefixes[who] = prefix
            self.log.note(who, f"acquire_steps(path, prefix={prefix[:8]}..., timeout={timeout})")
            steps = self.fn(path, prefix, data, timeout, kind, blocked_by, predecessor=predecessor)
            if not (hasattr(steps, "send") and hasattr(steps, "throw")):
                raise verdict_fail(f"acquire_steps(...) must be a generator of operations (a function with "
                                   f"`yield`), but it returned {type(steps).__name__}")
            return (yield from _recorded(steps, who, self.log, self.hooks.get(who)))
        return recipe


def _grant_check(lock: ZkLock, who: str, log: _Log, schedule: str):
    """Steps: the learner's recipe said it holds the lock; is its node really there and its?"""
    path = f"{lock.path}/{lock.node}"
    try:
        session = yield Session()
        stat = yield from _retrying(Exists(path))
        children = yield from _retrying(GetChildren(lock.path))
    except SessionExpiredError:
        raise verdict_fail(f"会话过期 (session expiry) ignored: on the {schedule} schedule, {who}'s session had "
                           f"expired, yet its acquire_steps returned {lock.node!r} as if it held the lock; the "
                           f"ensemble deleted that node with the session, so another client may hold the lock now. "
                           f"After SessionExpired, start over with a new node (or give up: AcquireTimeout/LockLost)",
                           log.excerpt()) from None
    if stat is None:
        raise verdict_fail(f"互斥 (mutual exclusion): on the {schedule} schedule, {who}'s acquire_steps returned "
                           f"{lock.node!r} but no such node exists (its session expired, or it was never created): "
                           f"it believes it holds a lock nobody granted it", log.excerpt())
    if stat.ephemeralOwner == 0:
        raise verdict_fail(f"临时顺序节点 (ephemeral sequential node): on the {schedule} schedule, {who}'s node "
                           f"{_short(lock.node)} is persistent (ephemeralOwner 0). If its holder crashed, it would "
                           f"stay forever and every waiter would wait on it (死锁 deadlock): create it with "
                           f"ephemeral=True, sequence=True", log.excerpt())
    if stat.ephemeralOwner != session:
        raise verdict_fail(f"会话过期 (session expiry): on the {schedule} schedule, {who}'s node belongs to another "
                           f"session than its client's current one", log.excerpt())
    prefix = lock.node[:len(lock.node) - len(f"{lock.KIND}-0000000000")]
    mine = [c for c in children if parse_node(c) is not None and c.startswith(prefix)] if prefix else [lock.node]
    if not prefix or len(mine) > 1:
        raise verdict_fail(f"orphan node (死锁 deadlock): on the {schedule} schedule, {who} holds "
                           f"{_short(lock.node)} but the lock node also has {len(mine) - 1} more of its nodes "
                           f"({', '.join(_short(m) for m in mine if m != lock.node)}) — a create whose reply was "
                           f"lost, created again. Nodes must be named <prefix><kind>- with the prefix you were given, "
                           f"and after a ConnectionLoss during create, look for your prefix among the children "
                           f"before creating again (the 'protected' create)" if prefix else
                           f"临时顺序节点: {who}'s node {lock.node!r} does not start with the prefix it was given: "
                           f"a node must be created as <path>/<prefix><kind>- so it can be found again after a "
                           f"lost create reply", log.excerpt())


def _settle_run(scheduler: SimScheduler, schedule: str, log: _Log, waiting_hint: str, seed: int) -> Outcome | None:
    try:
        scheduler.run(max_ms=RECIPE_MAX_MS, raise_errors=False)
    except Verdict as verdict:
        return verdict.outcome
    except TimeoutError:
        _raise_task_error(scheduler)
        stuck = ", ".join(t.name for t in scheduler.tasks if t.status in ("call", "watch", "sleep"))
        return Outcome.fail(f"死锁 (deadlock): on the {schedule} schedule (seed {seed}), {RECIPE_MAX_MS // 1000} s of "
                            f"simulated time later {stuck} still waited for the lock. {waiting_hint}", log.excerpt())
    for task in scheduler.tasks:
        if task.status == "failed":
            error = task.error
            if isinstance(error, Verdict):
                return error.outcome
            reraise_if_fatal(error)
            if isinstance(error, (KeeperError, LockError)):
                return Outcome.fail(f"{task.name}'s acquire_steps raised {type(error).__name__} on the {schedule} "
                                    f"schedule (seed {seed}): {waiting_hint}", log.excerpt())
            raise error
    return None


def _holding(inside: _Inside, name: str, lock: ZkLock, log: _Log, schedule: str, hold: float):
    yield from _grant_check(lock, name, log, schedule)
    inside.enter(name, lock)
    log.note(name, f"holds the lock ({_short(lock.node)})")
    yield Sleep(hold)
    inside.leave(name)
    log.note(name, "releases")
    yield from lock.release_steps()


def _recipe_world(seed: int, tag: str):
    ensemble = _world(seed)
    log = _Log(ensemble.world)
    return ensemble, log, f"{LOCK_PATH}-{tag}"


def _recipe_counter(fn: Any, seed: int) -> Outcome:
    """互斥 through a server crash: clients increment a counter; one server crashes midway."""
    rng = random.Random(f"lab4/recipe/counter/{seed}")
    ensemble, log, path = _recipe_world(seed, "counter")
    recipe = _Recipe(fn, log)
    ensemble.client().create(COUNTER, b"0", makepath=True)
    clients, increments = rng.randint(3, 4), 2
    inside = _Inside(seed)
    inside.trace = log.lines
    schedule = "counter-through-a-crash"
    world = ensemble.world
    victim = rng.choice(list(ensemble.servers))
    world.call_at(world.now + rng.randint(150, 400), lambda w: (log.note("grader", f"crashes server {victim}"),
                                                               ensemble.crash(victim)), "crash a server")
    scheduler = SimScheduler(world)

    def work(name: str, lock: ZkLock):
        yield Sleep(rng.choice((0.0, 0.01, 0.03)))
        for _ in range(increments):
            yield from lock.acquire_steps()
            yield from _grant_check(lock, name, log, schedule)
            inside.enter(name, lock)
            data, _stat = yield from _retrying(GetData(COUNTER))
            yield Sleep(rng.choice((0.01, 0.05)))
            yield from _retrying(SetData(COUNTER, str(int(data) + 1).encode()))
            inside.leave(name)
            yield from lock.release_steps()

    for i in range(clients):
        name = f"c{i + 1}"
        lock = ZkLock(ensemble.client(), path, name, recipe=recipe.for_(name))
        scheduler.spawn(lock.driver.client, work(name, lock), name=name)
    bad = _settle_run(scheduler, schedule, log,
                      "Each waiter must watch the node just below its own and look again when it fires; a "
                      "ConnectionLoss (a server crashed, the client moves to another) means: retry", seed)
    if bad is not None:
        return bad
    data, _ = ensemble.client().get(COUNTER)
    if int(data) != clients * increments:
        return Outcome.fail(f"互斥 (mutual exclusion): on the {schedule} schedule (seed {seed}) {clients} clients each "
                            f"incremented the counter {increments} times under your lock, but it reads {int(data)}",
                            log.excerpt())
    return Outcome.ok()


def _recipe_herd(fn: Any, seed: int) -> Outcome:
    """羊群效应: a holder and queued waiters; each release may wake exactly one waiter."""
    rng = random.Random(f"lab4/recipe/herd/{seed}")
    ensemble, log, path = _recipe_world(seed, "herd")
    recipe = _Recipe(fn, log)
    waiters = rng.randint(3, 4)
    holder = ZkLock(ensemble.client(), path, "holder")
    holder.acquire()
    locks = {f"w{i + 1}": ZkLock(ensemble.client(), path, f"w{i + 1}", recipe=recipe.for_(f"w{i + 1}"))
             for i in range(waiters)}
    inside = _Inside(seed)
    inside.trace = log.lines
    inside.now.append("holder")
    scheduler = SimScheduler(ensemble.world)
    schedule = "queue-behind-a-holder"

    def waiter(name: str, lock: ZkLock):
        yield Sleep(0.01 * rng.randint(0, 3))
        yield from lock.acquire_steps()
        yield from _holding(inside, name, lock, log, schedule, 0.02)

    def release_when_all_queued():
        for _ in range(300):
            if all(task.status == "watch" for task in scheduler.tasks[:waiters]):
                break
            yield Sleep(0.01)
        inside.leave("holder")
        log.note("holder", "releases")
        yield from holder.release_steps()

    marks = {name: len(lock.driver.client.events) for name, lock in locks.items()}
    for name, lock in locks.items():
        scheduler.spawn(lock.driver.client, waiter(name, lock), name=name)
    scheduler.spawn(holder.driver.client, release_when_all_queued(), name="holder")
    bad = _settle_run(scheduler, schedule, log, "a waiter must watch its predecessor and, when the watch "
                      "fires, list the children again", seed)
    if bad is not None:
        return bad
    woken = {name: sum(isinstance(e, WatchedEvent) for e in lock.driver.client.events[marks[name]:])
             for name, lock in locks.items()}
    total = sum(woken.values())
    if total > waiters:
        per = ", ".join(f"{name}: {count}" for name, count in woken.items())
        return Outcome.fail(f"羊群效应 (herd effect): on the {schedule} schedule (seed {seed}), {waiters} waiters "
                            f"queued behind one holder and the {waiters} releases woke them {total} times ({per}). "
                            f"Watch only the predecessor (getData with a watch on the node just below yours), "
                            f"never the lock node's children", log.excerpt())
    return Outcome.ok()


def _recipe_give_up(fn: Any, seed: int) -> Outcome:
    """A waiter times out and must leave nothing behind; the one behind it must look again."""
    rng = random.Random(f"lab4/recipe/give-up/{seed}")
    ensemble, log, path = _recipe_world(seed, "give-up")
    recipe = _Recipe(fn, log)
    schedule = "a-waiter-gives-up"
    holder = ZkLock(ensemble.client(), path, "holder")
    holder.acquire()
    log.note("holder", f"holds the lock ({_short(holder.node)})")
    inside = _Inside(seed)
    inside.trace = log.lines
    inside.now.append("holder")
    quitter = ZkLock(ensemble.client(), path, "quitter", recipe=recipe.for_("quitter"))
    patient = ZkLock(ensemble.client(), path, "patient", recipe=recipe.for_("patient"))
    patience = rng.choice((0.2, 0.3, 0.4))
    hold = patience + rng.choice((0.4, 0.6))
    outcome: dict[str, Any] = {}
    world = ensemble.world

    def quit_task():
        started = world.now
        try:
            got = yield from quitter.acquire_steps(timeout=patience)
        except AcquireTimeout:
            outcome["quitter"] = ("timeout", world.now - started)
            return
        outcome["quitter"] = ("returned", got)
        yield from _holding(inside, "quitter", quitter, log, schedule, 0.01)

    def patient_task():
        yield Sleep(0.05)
        yield from patient.acquire_steps()
        yield from _holding(inside, "patient", patient, log, schedule, 0.01)

    def holder_task():
        yield Sleep(hold)
        inside.leave("holder")
        log.note("holder", "releases")
        yield from holder.release_steps()

    scheduler = SimScheduler(world)
    scheduler.spawn(quitter.driver.client, quit_task(), name="quitter")
    scheduler.spawn(patient.driver.client, patient_task(), name="patient")
    scheduler.spawn(holder.driver.client, holder_task(), name="holder")
    bad = _settle_run(scheduler, schedule, log,
                      f"the quitter (timeout {patience} s) must delete its own node when it gives up, or the "
                      f"waiter behind it watches that orphan node forever while the quitter's session lives; "
                      f"then raise AcquireTimeout", seed)
    if bad is not None:
        return bad
    how = outcome.get("quitter")
    if how is None or how[0] != "timeout":
        return Outcome.fail(f"timeout: on the {schedule} schedule (seed {seed}) the quitter asked for the lock with "
                            f"timeout={patience} while the holder kept it {hold} s, but its acquire "
                            f"{'returned ' + repr(how[1]) if how else 'never ended'} instead of raising "
                            f"AcquireTimeout (AwaitWatch(deadline) answers False when the deadline passed)",
                            log.excerpt())
    if how[1] > patience * 1000 + 1500:
        return Outcome.fail(f"timeout: on the {schedule} schedule (seed {seed}) the quitter's timeout was "
                            f"{patience} s but it gave up only after {how[1] / 1000:.1f} s: wait with "
                            f"AwaitWatch(deadline), deadline = Now() + timeout", log.excerpt())
    left = [c for c in ensemble.client().get_children(path) if c.startswith(recipe.prefixes.get("quitter", "?"))]
    if left:
        return Outcome.fail(f"orphan node (死锁 deadlock): on the {schedule} schedule (seed {seed}) the quitter "
                            f"raised AcquireTimeout but left its node {_short(left[0])} behind; while its session "
                            f"lives, the waiter behind it waits on that node forever. Delete your node before "
                            f"raising AcquireTimeout", log.excerpt())
    return Outcome.ok()


def _recipe_gone(fn: Any, seed: int) -> Outcome:
    """The predecessor vanishes just before the watch is set (a waiter that gave up)."""
    ensemble, log, path = _recipe_world(seed, "gone")
    recipe = _Recipe(fn, log)
    schedule = "predecessor-already-gone"
    holder = ZkLock(ensemble.client(), path, "holder")
    holder.acquire()
    ghost = ZkLock(ensemble.client(), path, "ghost")
    ghost_node = ghost.driver.client.create(f"{path}/{ghost.driver.unique_prefix()}-lock-", ephemeral=True,
                                            sequence=True).rsplit("/", 1)[1]
    log.note("holder", f"holds the lock ({_short(holder.node)})")
    log.note("ghost", f"waits behind it ({_short(ghost_node)})")
    inside = _Inside(seed)
    inside.trace = log.lines
    inside.now.append("holder")
    late = ZkLock(ensemble.client(), path, "late", recipe=recipe.for_("late"))
    done = {"deleted": False}

    def hook(op: Any):
        watched = [o for o in (op.ops if isinstance(op, Pipeline) else (op,))
                   if getattr(o, "watch", False) and getattr(o, "path", "").endswith("/" + ghost_node)]
        if watched and not done["deleted"]:
            done["deleted"] = True
            log.note("ghost", f"gives up: deletes {_short(ghost_node)} just before late's watch is set")
            yield Delete(f"{path}/{ghost_node}")
        return None

    recipe.hooks["late"] = hook

    def late_task():
        yield from late.acquire_steps()
        yield from _holding(inside, "late", late, log, schedule, 0.01)

    def holder_task():
        yield Sleep(1.0)
        inside.leave("holder")
        log.note("holder", "releases")
        yield from holder.release_steps()

    scheduler = SimScheduler(ensemble.world)
    scheduler.spawn(late.driver.client, late_task(), name="late")
    scheduler.spawn(holder.driver.client, holder_task(), name="holder")
    return _settle_run(scheduler, schedule, log,
                       "when the predecessor is already gone as you set the watch (getData raises NoNodeError, "
                       "exists answers None), list the children again at once: the node that went may have been a "
                       "waiter, not the holder (a watch on a missing node never fires: a lost wake-up)",
                       seed) or Outcome.ok()


def _recipe_lost_create(fn: Any, seed: int) -> Outcome:
    """The create's reply is lost: the node exists, the recipe never learned its name."""
    ensemble, log, path = _recipe_world(seed, "lost-create")
    recipe = _Recipe(fn, log)
    schedule = "create-reply-lost"
    holder = ZkLock(ensemble.client(), path, "holder")
    holder.acquire()
    log.note("holder", f"holds the lock ({_short(holder.node)})")
    inside = _Inside(seed)
    inside.trace = log.lines
    inside.now.append("holder")
    unlucky = ZkLock(ensemble.client(), path, "unlucky", recipe=recipe.for_("unlucky"))
    state = {"lost": False}

    def hook(op: Any):
        creates = [o for o in (op.ops if isinstance(op, Pipeline) else (op,)) if isinstance(o, CreateRequest) and o.sequence]
        if creates and not state["lost"]:
            state["lost"] = True
            if isinstance(op, Pipeline):  # the whole pipeline's replies are lost with the connection
                return ("lost", ConnectionLossError(creates[0].path, "the connection broke before the reply"))
            return ("lost", ConnectionLossError(op.path, "the connection broke before the reply"))
        return None
        yield  # noqa: unreachable

    recipe.hooks["unlucky"] = hook

    def unlucky_task():
        yield from unlucky.acquire_steps()
        yield from _holding(inside, "unlucky", unlucky, log, schedule, 0.01)

    def holder_task():
        yield Sleep(0.5)
        inside.leave("holder")
        log.note("holder", "releases")
        yield from holder.release_steps()

    scheduler = SimScheduler(ensemble.world)
    scheduler.spawn(unlucky.driver.client, unlucky_task(), name="unlucky")
    scheduler.spawn(holder.driver.client, holder_task(), name="holder")
    bad = _settle_run(scheduler, schedule, log,
                      "a ConnectionLoss during create does not mean the create failed: the node may exist. List "
                      "the children and look for your prefix before creating again (the 'protected' create); a "
                      "second node makes the first an orphan, and you wait on your own orphan forever", seed)
    if bad is not None:
        return bad
    return Outcome.ok()


def _recipe_expiry(fn: Any, seed: int) -> Outcome:
    """A waiter's session expires (cut off past its timeout); it must not believe it holds."""
    rng = random.Random(f"lab4/recipe/expiry/{seed}")
    ensemble, log, path = _recipe_world(seed, "expiry")
    recipe = _Recipe(fn, log)
    schedule = "session-expires-while-waiting"
    world = ensemble.world
    holder = ZkLock(ensemble.client(), path, "holder")
    holder.acquire()
    log.note("holder", f"holds the lock ({_short(holder.node)})")
    inside = _Inside(seed)
    inside.trace = log.lines
    inside.now.append("holder")
    doomed = ZkLock(ensemble.client(), path, "doomed", recipe=recipe.for_("doomed"))
    behind = ZkLock(ensemble.client(), path, "behind", recipe=recipe.for_("behind"))
    session_ms = doomed.driver.client.process.timeout_ms
    outcome: dict[str, Any] = {}
    cut = doomed.driver.client.name

    def cut_off(w: Any) -> None:
        log.note("grader", f"cuts {cut} (doomed) off from every server")
        w.partition([cut], [n for n in w.nodes if n != cut])

    def heal(w: Any) -> None:
        log.note("grader", f"heals the network: doomed reconnects and learns its session expired")
        w.heal()

    start = world.now + rng.randint(100, 300)
    world.call_at(start, cut_off, "cut doomed off")
    world.call_at(start + session_ms + 2 * ensemble.config.tick_ms + 1500, heal, "heal")

    def doomed_task():
        try:
            yield from doomed.acquire_steps(timeout=(session_ms + 2 * ensemble.config.tick_ms + 5000) / 1000)
        except (AcquireTimeout, LockLost, SessionExpiredError) as error:
            outcome["doomed"] = type(error).__name__
            return
        yield from _holding(inside, "doomed", doomed, log, schedule, 0.01)

    def behind_task():
        yield Sleep(0.05)
        yield from behind.acquire_steps()
        yield from _holding(inside, "behind", behind, log, schedule, 0.01)

    def holder_task():
        yield Sleep((session_ms + 2 * ensemble.config.tick_ms + 3000) / 1000)
        inside.leave("holder")
        log.note("holder", "releases")
        yield from holder.release_steps()

    scheduler = SimScheduler(world)
    scheduler.spawn(doomed.driver.client, doomed_task(), name="doomed")
    scheduler.spawn(behind.driver.client, behind_task(), name="behind")
    scheduler.spawn(holder.driver.client, holder_task(), name="holder")
    return _settle_run(scheduler, schedule, log,
                       "会话过期 (session expiry): when the session expires, the ensemble deletes the waiter's "
                       "node; SessionExpired (or your node missing from the children: NodeVanished) means start "
                       "over with a new node, or give up with AcquireTimeout at the deadline — never carry on as "
                       "if the old node were still in line", seed) or Outcome.ok()


RECIPE_RUNS = (_recipe_counter, _recipe_herd, _recipe_give_up, _recipe_gone, _recipe_lost_create, _recipe_expiry)


@verdicts
def check_acquire_steps(fn: Any, seed: int) -> Outcome:
    for run in RECIPE_RUNS:
        outcome = run(fn, seed)
        if outcome.passed is not True:
            return outcome
    return Outcome.ok()


# ------------------------------------------------------------------ E: release ---------------
def _release_case(fn: Any, ensemble: Any, seed: int, case: str) -> Outcome:
    """One release on one schedule: the holder releases with the learner's release_steps."""
    world = ensemble.world
    log = _Log(world)
    path = f"{LOCK_PATH}-release-{case}"
    holder = ZkLock(ensemble.client(), path, "holder")
    holder.acquire()
    node = holder.node
    log.note("holder", f"holds the lock ({_short(node)})")
    waiter = ZkLock(ensemble.client(), path, "waiter")
    schedule = {"plain": "a-plain-release", "lost-reply": "delete-reply-lost", "lost-request": "delete-request-lost",
                "expired": "session-expired-before-release", "gone": "node-already-gone"}[case]
    outcome: dict[str, Any] = {}
    state = {"meddled": False}

    def hook(op: Any):
        if isinstance(op, Delete) and not state["meddled"] and case in ("lost-reply", "lost-request"):
            state["meddled"] = True
            error = ConnectionLossError(op.path, "the connection broke")
            return ("lost", error) if case == "lost-reply" else ("fail", error)
        return None
        yield  # noqa: unreachable

    def release_recipe(lock_path: str, name: str):
        log.note("holder", f"release_steps({lock_path!r}, {_short(name)})")
        steps = fn(lock_path, name)
        if not (hasattr(steps, "send") and hasattr(steps, "throw")):
            raise verdict_fail(f"release_steps(path, node) must be a generator of operations (a function with "
                               f"`yield`), but it returned {type(steps).__name__}")
        return (yield from _recorded(steps, "holder", log, hook))

    holder.release_recipe = release_recipe

    def holder_task():
        yield Sleep(0.2)
        if case == "expired":
            yield Sleep((holder.driver.client.process.timeout_ms + 2 * ensemble.config.tick_ms + 2500) / 1000)
        if case == "gone":
            log.note("grader", f"deletes {_short(node)} (as the ensemble does when the session expires)")
            yield Delete(f"{path}/{node}")
        try:
            yield from holder.release_steps()
        except (KeeperError, LockError) as error:
            outcome["raised"] = error
            log.note("holder", f"release raised {type(error).__name__}")
            return
        outcome["returned"] = True

    def waiter_task():
        yield Sleep(0.05)
        yield from waiter.acquire_steps()
        log.note("waiter", f"holds the lock ({_short(waiter.node)})")
        outcome["waiter"] = True
        yield from waiter.release_steps()

    if case == "expired":
        cut = holder.driver.client.name
        at = world.now + 100
        timeout_ms = holder.driver.client.process.timeout_ms
        world.call_at(at, lambda w: (log.note("grader", "cuts the holder off from every server"),
                                     w.partition([cut], [n for n in w.nodes if n != cut])), "cut")
        world.call_at(at + timeout_ms + 2 * ensemble.config.tick_ms + 1500, lambda w: (log.note("grader", "heals the network"), w.heal()), "heal")
    scheduler = SimScheduler(world)
    scheduler.spawn(holder.driver.client, holder_task(), name="holder")
    scheduler.spawn(waiter.driver.client, waiter_task(), name="waiter")
    try:
        scheduler.run(max_ms=RECIPE_MAX_MS, raise_errors=False)
    except Verdict as verdict:
        return verdict.outcome
    except TimeoutError:
        _raise_task_error(scheduler)
        left = ensemble.client().get_children(path)
        return Outcome.fail(f"死锁 (deadlock): on the {schedule} schedule (seed {seed}) the holder released, but "
                            f"{RECIPE_MAX_MS // 1000} s later the waiter still waited: the holder's node "
                            f"{'is still there' if node in left else 'is gone'} ({', '.join(map(_short, left))}). "
                            f"Delete <path>/<node> and retry after a ConnectionLoss: until the delete has gone "
                            f"through, the node (alive with the session) blocks every waiter", log.excerpt())
    for task in scheduler.tasks:
        if task.status == "failed":
            if isinstance(task.error, Verdict):
                return task.error.outcome
            reraise_if_fatal(task.error)
            raise task.error
    raised = outcome.get("raised")
    if case in ("expired", "gone"):
        if not isinstance(raised, LockLost):
            got = f"raised {type(raised).__name__}" if raised is not None else "returned as if all was well"
            return Outcome.fail(f"会话过期 (session expiry): on the {schedule} schedule (seed {seed}) the holder's "
                                f"node was already gone when it released (its session expired; another client may "
                                f"have held the lock meanwhile), but release_steps {got}. The holder must be told: "
                                f"raise LockLost when the delete answers NoNode on the first try or SessionExpired",
                                log.excerpt())
        return Outcome.ok()
    if raised is not None:
        why = ("a NoNode after a retried delete means the first delete went through (only its reply was lost): "
               "return quietly" if isinstance(raised, (LockLost, NoNodeError)) and case == "lost-reply" else
               "a ConnectionLoss means the outcome is unknown: retry the delete (after a short Sleep)"
               if isinstance(raised, ConnectionLossError) else "delete your own node, <path>/<node>")
        return Outcome.fail(f"release on the {schedule} schedule (seed {seed}) raised {type(raised).__name__}: {why}",
                            log.excerpt())
    left = ensemble.client().get_children(path)
    if not outcome.get("waiter"):
        return Outcome.fail(f"死锁 (deadlock): on the {schedule} schedule (seed {seed}) the waiter never got the lock "
                            f"after the release (children now {[_short(c) for c in left]})", log.excerpt())
    if node in left:
        return Outcome.fail(f"orphan node (死锁 deadlock): on the {schedule} schedule (seed {seed}) release_steps "
                            f"returned but the holder's node {_short(node)} is still there: after a ConnectionLoss "
                            f"the delete may not have happened; retry it", log.excerpt())
    return Outcome.ok()


def _release_with_bystander(fn: Any, ensemble: Any, seed: int) -> Outcome:
    """Release must delete only our node: another contender's node must survive it."""
    log = _Log(ensemble.world)
    path = f"{LOCK_PATH}-release-bystander"
    holder = ZkLock(ensemble.client(), path, "holder")
    holder.acquire()
    other = ensemble.client()
    theirs = other.create(f"{path}/{'b' * 32}-lock-", b"waiter", ephemeral=True, sequence=True).rsplit("/", 1)[1]
    node = holder.node

    def release_recipe(lock_path: str, name: str):
        return (yield from _recorded(fn(lock_path, name), "holder", log, None))

    holder.release_recipe = release_recipe
    scheduler = SimScheduler(ensemble.world)

    def task():
        try:
            yield from holder.release_steps()
        except (KeeperError, LockError) as error:
            raise verdict_fail(f"release on a plain schedule (seed {seed}) raised {type(error).__name__}: delete "
                               f"your own node, <path>/<node> (the lock node itself still has other contenders' "
                               f"children)", log.excerpt()) from None

    scheduler.spawn(holder.driver.client, task(), name="holder")
    try:
        scheduler.run(max_ms=RECIPE_MAX_MS, raise_errors=False)
    except Verdict as verdict:
        return verdict.outcome
    for t in scheduler.tasks:
        if t.status == "failed":
            if isinstance(t.error, Verdict):
                return t.error.outcome
            reraise_if_fatal(t.error)
            raise t.error
    left = ensemble.client().get_children(path)
    if theirs not in left:
        return Outcome.fail(f"互斥 (mutual exclusion): releasing (seed {seed}) deleted another contender's node "
                            f"{_short(theirs)} too: its owner's line position is gone (and it would wake believing "
                            f"nothing is ahead of it). Delete only <path>/<node>", log.excerpt())
    if node in left:
        return Outcome.fail(f"orphan node (死锁 deadlock): release_steps returned (seed {seed}) but the holder's node "
                            f"{_short(node)} is still there; every waiter behind it waits forever", log.excerpt())
    return Outcome.ok()


@verdicts
def check_release_steps(fn: Any, seed: int) -> Outcome:
    rng = random.Random(f"lab4/release/{seed}")
    ensemble = _world(seed)
    outcome = _release_with_bystander(fn, ensemble, seed)
    if outcome.passed is not True:
        return outcome
    cases = ["lost-reply", "lost-request", "gone", "expired"]
    rng.shuffle(cases)
    for case in ["plain"] + cases:
        outcome = _release_case(fn, ensemble, seed, case)
        if outcome.passed is not True:
            return outcome
    return Outcome.ok()


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
    Part(4, "acquire_steps", "The whole acquire recipe", 8,
         "acquire_steps(path, prefix, data, timeout, kind, blocked_by, *, predecessor) yields the recipe's "
         "operations: create <path>/<prefix><kind>- as an ephemeral sequential node (临时顺序节点), list the "
         "children, watch only the predecessor and look again when the watch fires or the predecessor is already "
         "gone; after a ConnectionLoss during create find the node by its prefix (never create a second: orphan, "
         "死锁); on timeout delete the node and raise AcquireTimeout; after 会话过期 (session expiry) start over "
         "or give up, never believe the old node holds; it returns its node's name when it holds the lock (互斥, "
         "no 羊群效应)", check_acquire_steps, kind="generator", refs=("predecessor",),
         uses=("sequence_number", "predecessor")),
    Part(4, "release_steps", "Release, through lost replies and expiry", 3,
         "release_steps(path, node) deletes <path>/<node> and only it; after a ConnectionLoss it retries, and a "
         "NoNode on the retry means the first delete went through; a node already gone on the first try, or "
         "SessionExpired, raises LockLost (会话过期: the holder must be told)",
         check_release_steps, kind="generator"),
)
