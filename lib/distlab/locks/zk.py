"""ZooKeeper lock: ephemeral-sequential children of the lock node; the lowest one holds it.

:Status: reference implementation for Lab 4
:Backends: distlab's simulated ensemble (:class:`distlab.sim.ensemble.SimClient`) and a real
    ZooKeeper through kazoo (``KazooClient``). One recipe — the generator methods below —
    and a thin driver per backend (:mod:`~distlab.locks.zk_sim`, :mod:`~distlab.locks.zk_kazoo`).

**Acquire** (ZooKeeper's recipes page, "Locks"; kazoo's ``Lock``; Curator's ``LockInternals``)

1. Create ``<lock>/<prefix><kind>-`` as EPHEMERAL_SEQUENTIAL; ZooKeeper appends a 10-digit
   sequence number: ``<lock>/4f0c...-lock-0000000007``. The prefix is unique to this attempt.
   (A missing ``<lock>`` node is created on the first NoNode.)
2. List ``<lock>``'s children, without a watch. (Sent right behind the create, without
   waiting for its answer: a session's requests are answered in order, so the list already
   contains our node. One round trip for both.)
3. :func:`predecessor` of our node among them: none means we hold the lock, and our
   sequence number is the fencing token.
4. Otherwise watch *only* the predecessor (``getData`` with a watch; if it is already gone,
   go back to 2 at once — it may have been a waiter that gave up, so it proves nothing).
5. Wait for the watch to fire (or the connection state to change), then go back to 2. On
   timeout: delete our node and raise :class:`~distlab.locks.api.AcquireTimeout`.

**Release**: delete our node. Its deletion fires the one watch set on it.

**Connection loss and session expiry**

- The create's reply is lost (ConnectionLoss): the node may exist although we never learned
  its name. Before creating again, list the children and look for our prefix (the "protected"
  create of Curator, kazoo's ``_find_node``). Without it the orphan node, kept alive by our
  still-living session, would block every waiter forever.
- Reads and the release's delete are retried; a retried delete that finds no node means the
  lost attempt had worked.
- Session expired: the ensemble deleted our ephemeral node. A holder is told — ``held``
  turns False, ``check()`` and ``release()`` raise :class:`~distlab.locks.api.LockLost`,
  and with kazoo the ``on_lost`` callback runs at once. A waiter whose node vanished starts
  again from step 1 (kazoo's client opens a new session by itself).

**Which step secures which condition**

- 互斥 (mutual exclusion) — steps 1-3. The leader numbers every create in one total order,
  and a server answers our list only after applying our own create, so the list holds every
  node created before ours. Exactly one node is the lowest blocker at a time.
- 安全 (only the holder releases) — release deletes only our own node, named by our prefix
  and sequence; an object that does not hold the lock refuses before sending anything.
- 容错 (fault tolerance) — the ensemble: any majority of servers keeps serving; the client
  fails over to another server, keeps its session and re-registers its watches. (Shown in
  the tests by crashing a follower and the leader during contention.)
- 死锁 (no deadlock) — the node is ephemeral: a holder that crashes stops heartbeating, its
  session expires after the session timeout, the node is deleted and the next waiter's watch
  fires.
- No herd effect — step 4 watches one node, so a release wakes exactly one waiter. The
  ``watch="parent"`` option is the naive recipe (every waiter watches the children list and
  every release wakes them all), kept for the demonstration and the benchmark.

**Read-write lock** (the recipes page's "Shared Locks"): :class:`ZkReadLock` creates
``read-`` nodes and waits only for a lower ``write-``/``lock-`` node; :class:`ZkWriteLock`
creates ``write-`` nodes and waits for any lower node. Readers pass each other.

**Caveats**

- A holder learns of its session's expiry only when its client talks to the ensemble again
  (or its local timer runs out); until then it believes it holds the lock. Fence writes.
- The fencing token is the sequence number, which grows as long as ``<lock>`` itself is not
  deleted and re-created (the counter is the parent's cversion), and wraps after 2**31.
- Not re-entrant: a second acquire on the same object is refused (kazoo's would block).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Generator, Protocol, Sequence

from distlab.locks.api import AcquireTimeout, DistributedLock, LockLost, UsageError, _check_timeout
from distlab.zk.errors import (
    ConnectionLossError,
    KeeperError,
    NodeExistsError,
    NoNodeError,
    OperationTimeoutError,
    SessionExpiredError,
)
from distlab.zk.ops import Create, DeleteRequest, Exists, GetChildren, GetData, SetDataRequest

__all__ = [
    "ZkLock",
    "ZkReadLock",
    "ZkWriteLock",
    "predecessor",
    "Predecessor",
    "parse_node",
    "NodeName",
    "NodeVanished",
    "EXCLUSIVE",
    "SHARED",
    # the operations a recipe yields to its driver
    "Now",
    "Session",
    "Create",
    "GetChildren",
    "GetData",
    "SetData",
    "Exists",
    "Delete",
    "Pipeline",
    "AwaitWatch",
    "Sleep",
    "run_steps",
]

# ----------------------------------------------------------------------------- node names -----
KINDS = ("lock", "write", "read")
EXCLUSIVE = frozenset({"lock", "write", "read"})  # what a mutex / writer waits for
SHARED = frozenset({"lock", "write"})  # what a reader waits for: writers only

_NODE = re.compile(r"^(?P<prefix>.*?)(?P<kind>lock|write|read)-(?P<seq>-?\d{10})$")
# kazoo's names (kazoo/recipe/lock.py): <uuid hex>__lock__<seq> (Lock, WriteLock) and
# <uuid hex>__rlock__<seq> (ReadLock), so distlab's and kazoo's contenders see each other.
_KAZOO_NODE = re.compile(r"^(?P<prefix>.*?)__(?P<kind>lock|rlock)__(?P<seq>-?\d{10})$")
_KAZOO_KINDS = {"lock": "lock", "rlock": "read"}


@dataclass(frozen=True, slots=True)
class NodeName:
    """A contender's node name taken apart: ``4f0c...-lock-0000000007``."""

    prefix: str  # "4f0c...-"
    kind: str  # "lock" | "write" | "read"
    seq: int  # 7


def parse_node(name: str) -> NodeName | None:
    """Take a child's name apart; None if it is not a lock contender.

    =================================  ===================================
    name                               result
    =================================  ===================================
    ``"ab12-lock-0000000007"``         NodeName("ab12-", "lock", 7)
    ``"ab12-read-0000000010"``         NodeName("ab12-", "read", 10)
    ``"lock-0000000003"``              NodeName("", "lock", 3)
    ``"config"``                       None (not a contender)
    ``"ab12-lock--2147483648"``        NodeName("ab12-", "lock", -2**31): wrapped
    ``"9f3c__lock__0000000004"``       NodeName("9f3c__", "lock", 4): kazoo's Lock
    ``"9f3c__rlock__0000000005"``      NodeName("9f3c__", "read", 5): kazoo's ReadLock
    =================================  ===================================

    >>> parse_node("ab12-lock-0000000007")
    NodeName(prefix='ab12-', kind='lock', seq=7)
    """
    match = _NODE.match(name)
    if match is not None:
        return NodeName(match["prefix"], match["kind"], int(match["seq"]))
    match = _KAZOO_NODE.match(name)
    if match is not None:
        return NodeName(match["prefix"] + "__", _KAZOO_KINDS[match["kind"]], int(match["seq"]))
    return None


class NodeVanished(LockLost):
    """Our own node is not among the children: the session that owned it has expired."""


class Predecessor(Protocol):
    """Seam (Lab 4): which child must ``me`` wait for (None: ``me`` holds the lock)?"""

    def __call__(self, children: Sequence[str], me: str, blocked_by: frozenset[str] = EXCLUSIVE) -> str | None: ...


def predecessor(children: Sequence[str], me: str, blocked_by: frozenset[str] = EXCLUSIVE) -> str | None:
    """The node ``me`` must wait for: the highest-numbered node below it that blocks it.

    ``None`` means nothing blocks ``me``: it holds the lock. Only nodes whose kind is in
    ``blocked_by`` count (a mutex or a writer is blocked by every kind, a reader only by
    ``lock``/``write``); other children are ignored.

    ========================================================  ==========  ==============
    children (prefixes left out)                               me          predecessor
    ========================================================  ==========  ==============
    lock-01                                                    lock-01     None: held
    lock-01, lock-02, lock-03                                  lock-03     lock-02 (not 01)
    lock-01, lock-03                                           lock-03     lock-01 (02 left)
    read-01, read-02 (me a reader)                             read-02     None: readers share
    write-01, read-02, read-03 (me a reader)                   read-03     write-01
    read-01, read-02, write-03 (me a writer)                   write-03    read-02
    lock-02, config                                            lock-02     None: not a contender
    lock-01, lock-02                                           lock-07     NodeVanished
    ========================================================  ==========  ==============

    Watching only this node is what avoids the herd effect: when it goes, only ``me`` wakes.

    >>> predecessor(["a-lock-0000000001", "b-lock-0000000002", "c-lock-0000000003"], "c-lock-0000000003")
    'b-lock-0000000002'

    Raises:
        NodeVanished: ``me`` is not among ``children`` (our session expired).
        UsageError: ``me`` is not a contender's name.
    """
    mine = parse_node(me)
    if mine is None:
        raise UsageError(f"{me!r} is not a lock contender's node name (<prefix><kind>-<10 digits>)")
    if me not in children:
        raise NodeVanished(f"our node {me!r} is gone from the lock's children: its session expired")
    best: tuple[int, str] | None = None
    for child in children:
        other = parse_node(child)
        if other is None or other.kind not in blocked_by or other.seq >= mine.seq:
            continue
        if best is None or other.seq > best[0]:
            best = (other.seq, child)
    return None if best is None else best[1]


# ----------------------------------------------------------------------------- operations -----
# A recipe is a generator: it yields these, its driver performs them and sends back the result
# (or throws the ZooKeeper error into it). Names and results follow kazoo's methods.
@dataclass(frozen=True, slots=True)
class Now:
    """-> seconds on the driver's clock (virtual time in the simulator)."""


@dataclass(frozen=True, slots=True)
class Session:
    """-> the client's current session id (None if it has none)."""


# The ZooKeeper operations themselves are distlab.zk.ops's, the same classes the client
# protocol carries and the data tree applies (kazoo-like names): Create(path, data,
# ephemeral=, sequence=) makes a CreateRequest (-> the created path, with its sequence
# number); GetChildren(path, watch=) (-> the children's names; the watch wakes the next
# AwaitWatch); GetData(path, watch=) (-> (data, stat)); Exists(path, watch=) (-> stat or
# None); SetData(path, data, version=-1) (-> the new stat); Delete(path, version=-1) (-> None).
SetData = SetDataRequest
Delete = DeleteRequest


@dataclass(frozen=True, slots=True)
class Pipeline:
    """Send ``ops`` back to back without waiting; -> one result *or exception* per op."""

    ops: tuple


@dataclass(frozen=True, slots=True)
class AwaitWatch:
    """Wait until a watch set since the last one fires or the connection state changes.

    -> True when woken, False when ``deadline`` (driver seconds; None: never) passed first.
    """

    deadline: float | None = None


@dataclass(frozen=True, slots=True)
class Sleep:
    """-> None, ``seconds`` later."""

    seconds: float


Steps = Generator[Any, Any, Any]

RETRY_DELAY = 0.05  # seconds between retries after a ConnectionLoss
MAX_EXPIRIES = 3  # sessions a single acquire may go through before giving up


def run_steps(steps: Steps, perform: Callable[[Any], Any]) -> Any:
    """Drive a recipe generator to its end with ``perform(op) -> result`` (which may raise).

    ZooKeeper errors raised by ``perform`` are thrown into the generator, where the recipe
    handles them like a kazoo caller would; anything else is a bug and propagates.
    """
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            op = steps.throw(error) if error is not None else steps.send(value)
        except StopIteration as stop:
            return stop.value
        try:
            value, error = perform(op), None
        except KeeperError as exc:
            value, error = None, exc


# ----------------------------------------------------------------------------- the recipe -----
class ZkLock(DistributedLock):
    """An exclusive lock on a ZooKeeper path, kazoo-style.

    Usage::

        from distlab.locks import ZkLock
        from distlab.sim.ensemble import Ensemble

        ensemble = Ensemble(servers=3, seed=7)
        ensemble.wait_for_leader()
        lock = ZkLock(ensemble.client(), "/locks/orders", "worker-1")
        with lock:
            ...

        import time
        from kazoo.client import KazooClient
        zk = KazooClient("127.0.0.1:2181"); zk.start()
        lock = ZkLock(zk, "/locks/orders", "worker-1", clock=time)

    :param client: a :class:`~distlab.sim.ensemble.SimClient` or a started ``KazooClient``.
    :param path: the lock node; contenders are its children (created when missing).
    :param identifier: stored as each contender node's data, for :meth:`contenders`.
    :param clock: needed with kazoo (``clock=time``); the simulator brings its own.
    :param watch: ``"predecessor"`` (the recipe) or ``"parent"`` (the naive one, herd effect).
    :param on_lost: called with the lock when its session expires while held (kazoo: at
        once, from kazoo's event thread; simulator: when next looked at).
    :param decide: the lab seam for step 3 (default :func:`predecessor`).
    :param recipe: the lab seam for the whole acquire (Lab 4, Part D): a generator function
        ``recipe(path, prefix, data, timeout, kind, blocked_by, *, predecessor)`` that yields
        this module's operations and returns the name of its node once that node holds the
        lock (raising AcquireTimeout when ``timeout`` ran out). Default: :meth:`acquire_steps`'s own.
    :param release_recipe: the lab seam for release (Part E): ``release_recipe(path, node)``,
        a generator that deletes our node (LockLost if it was gone). Default: the reference's.

    For several contenders in one simulated world, run the generator methods
    (:meth:`acquire_steps`, :meth:`release_steps`) side by side with
    :class:`distlab.locks.zk_sim.SimScheduler`.
    """

    KIND = "lock"
    BLOCKED_BY = EXCLUSIVE

    def __init__(self, client: Any, path: str, identifier: str = "", *, clock: Any = None,
                 watch: str = "predecessor", on_lost: Callable[["ZkLock"], Any] | None = None,
                 decide: Predecessor | None = None, recipe: Callable[..., Steps] | None = None,
                 release_recipe: Callable[..., Steps] | None = None) -> None:
        if not isinstance(path, str) or not path.startswith("/") or path == "/" or path.endswith("/"):
            raise UsageError(f"a lock path is an absolute znode path like '/locks/orders', got {path!r}")
        if watch not in ("predecessor", "parent"):
            raise UsageError(f"watch must be 'predecessor' (the recipe) or 'parent' (the herd), got {watch!r}")
        self.name = self.path = path
        self.identifier = identifier
        self.data = identifier.encode()
        self.watch = watch
        self.on_lost = on_lost
        self.decide = decide or predecessor  # the lab seam: a learner's predecessor plugs in here
        self.recipe = recipe  # the lab seams: a learner's whole acquire / release plug in here
        self.release_recipe = release_recipe
        self._path_made = False
        self.token: int | None = None
        self.node: str | None = None  # our node's name (not path) while acquiring or holding
        self._session: int | None = None
        self._lost = False
        self.suspended = False  # kazoo: disconnected while holding; the holder cannot be sure
        self.driver = _driver_for(client, clock)

    # -- blocking API (the driver runs the steps) ----------------------------------------
    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        acquired = self.driver.run(self.acquire_steps(blocking, timeout))
        if acquired:
            self.driver.holding(self)
        return acquired

    def release(self) -> None:
        try:
            self.driver.run(self.release_steps())
        finally:
            self.driver.released(self)

    def is_held(self) -> bool:
        return self.driver.run(self.is_held_steps())

    def contenders(self) -> list[str]:
        """The identifiers of every contender, lock holder first."""
        return self.driver.run(self.contenders_steps())

    @property
    def held(self) -> bool:
        """True while this object holds the lock and its session is alive, as far as known.

        False while SUSPENDED (disconnected): the session may be expiring and another client
        may already hold the lock, so the holder must act as if it had lost it until it has
        reconnected (kazoo's and Curator's guidance: SUSPENDED is unsafe). ``check()`` raises
        then; reconnecting within the session timeout makes it True again.
        """
        if self.token is None:
            return False
        if self.suspended:
            return False
        if not self._lost and not self.driver.session_alive(self._session):
            self._session_lost()
        return not self._lost

    def check(self) -> int:
        if self.token is not None and self.suspended:
            raise LockLost(f"lock {self.path!r} (token {self.token}) is unsafe: the client is "
                           "SUSPENDED (disconnected), the session may have expired", lock=self.path)
        if self.token is not None and not self.held:
            raise LockLost(f"lock {self.path!r} (token {self.token}) was lost: session "
                           f"0x{self._session or 0:x} expired and its node was deleted", lock=self.path)
        return super().check()

    def _session_lost(self) -> None:
        """The driver tells us the session ended: the ensemble has deleted our node."""
        if self.token is not None and not self._lost:
            self._lost = True
            if self.on_lost is not None:
                self.on_lost(self)

    # -- the recipe ------------------------------------------------------------------------
    def acquire_steps(self, blocking: bool = True, timeout: float | None = None) -> Steps:
        """The acquire algorithm as a generator of operations (see the module docstring)."""
        self._not_reentrant()
        _check_timeout(timeout, blocking)
        if self.recipe is not None:
            return (yield from self._recipe_acquire(blocking, timeout))
        deadline = None if timeout is None else (yield Now()) + timeout
        prefix = self.driver.unique_prefix() + "-"
        node: str | None = None
        create_tried = False
        expiries = 0
        expired_session: int | None = -1  # the session seen at the last SessionExpired
        while True:
            try:
                children = None
                if node is None:                                                   # step 1
                    tried, create_tried = create_tried, True
                    node, children = yield from self._create(prefix, tried)
                    self.node = node
                if children is None:                                               # step 2
                    children = yield GetChildren(self.path)
                try:
                    ahead = self.decide(children, node, self.BLOCKED_BY)           # step 3
                except NodeVanished:
                    # Our session expired while we waited and the client has a new one:
                    # the node is gone, start over with a fresh prefix (kazoo, Curator).
                    expiries += 1
                    if expiries > MAX_EXPIRIES:
                        raise
                    prefix, node, create_tried = self.driver.unique_prefix() + "-", None, False
                    continue
                if ahead is None:
                    self.token = parse_node(node).seq
                    self._session = yield Session()
                    self._lost = False
                    return True
                if not blocking:
                    yield from self._abandon(node, prefix)
                    return False
                try:                                                               # step 4
                    if self.watch == "predecessor":
                        yield GetData(f"{self.path}/{ahead}", watch=True)
                    elif self.decide((yield GetChildren(self.path, watch=True)), node, self.BLOCKED_BY) is None:
                        continue  # the naive recipe: the list changed before the watch was set
                except (NoNodeError, NodeVanished):
                    continue  # already gone (or our own node is): look again at once
                if not (yield AwaitWatch(deadline)):                               # step 5
                    yield from self._abandon(node, prefix)
                    raise AcquireTimeout(f"lock {self.path!r} not acquired within {timeout} s "
                                         f"(waiting behind {ahead})", lock=self.path)
            except (ConnectionLossError, OperationTimeoutError):
                # The outcome of the last request is unknown; the client is reconnecting.
                if deadline is not None and (yield Now()) >= deadline:
                    yield from self._abandon(node, prefix)
                    raise AcquireTimeout(f"lock {self.path!r} not acquired within {timeout} s "
                                         f"(connection lost)", lock=self.path) from None
                yield Sleep(RETRY_DELAY)
            except SessionExpiredError:
                # The node died with the session; the client opens a new one by itself (kazoo:
                # LOST, then CONNECTED), answering SessionExpired until it has. Count sessions,
                # not answers, and wait for the new one (kazoo's Lock retries the same way).
                session = yield Session()
                if session != expired_session:
                    expiries += 1
                    expired_session = session
                if expiries > MAX_EXPIRIES:
                    self.node = None
                    raise
                if deadline is not None and (yield Now()) >= deadline:
                    self.node = None
                    raise AcquireTimeout(f"lock {self.path!r} not acquired within {timeout} s "
                                         f"(session expired)", lock=self.path) from None
                yield Sleep(RETRY_DELAY)
                prefix, node, create_tried = self.driver.unique_prefix() + "-", None, False

    def _recipe_acquire(self, blocking: bool, timeout: float | None) -> Steps:
        """Acquire with ``recipe=`` (a learner's generator): it returns its node's name."""
        if not self._path_made:
            yield from self._ensure_path(self.path)
            self._path_made = True
        try:
            node = yield from self.recipe(self.path, self.driver.unique_prefix() + "-", self.data,
                                          timeout if blocking else 0, self.KIND, self.BLOCKED_BY,
                                          predecessor=self.decide)
        except AcquireTimeout:
            self.node = None
            if blocking:
                raise
            return False
        if isinstance(node, str) and node.startswith(self.path + "/"):
            node = node[len(self.path) + 1:]
        parsed = parse_node(node) if isinstance(node, str) else None
        if parsed is None:
            raise UsageError(f"the acquire recipe must return the name of its node (like "
                             f"'4f0c...-lock-0000000007'), got {node!r}")
        self.node, self.token = node, parsed.seq
        self._session = yield Session()
        self._lost = False
        return True

    def _create(self, prefix: str, tried: bool) -> Steps:
        """Step 1 (+2 pipelined): returns ``(our node's name, children or None)``."""
        if tried:
            # An earlier create may have worked with its reply lost: find it by our prefix.
            children = yield GetChildren(self.path)
            for child in children:
                if child.startswith(prefix):
                    return child, children
        for attempt in (1, 2):
            created, children = yield Pipeline((
                Create(f"{self.path}/{prefix}{self.KIND}-", self.data, ephemeral=True, sequence=True),
                GetChildren(self.path)))
            if isinstance(created, NoNodeError) and attempt == 1:
                yield from self._ensure_path(self.path)  # the lock node is new: make it
                continue
            if isinstance(created, BaseException):
                raise created
            node = created.rsplit("/", 1)[1]
            return node, None if isinstance(children, BaseException) else children
        raise AssertionError("unreachable")

    def _ensure_path(self, path: str) -> Steps:
        current = ""
        for part in path.strip("/").split("/"):
            current += "/" + part
            try:
                yield Create(current)
            except NodeExistsError:
                pass

    def _abandon(self, node: str | None, prefix: str) -> Steps:
        """Give up an attempt: delete our node (found by prefix if we never learned it)."""
        self.node = None
        try:
            if node is None:
                node = next((c for c in (yield GetChildren(self.path)) if c.startswith(prefix)), None)
            if node is not None:
                yield Delete(f"{self.path}/{node}")
        except KeeperError:
            pass  # best effort: an ephemeral node dies with its session anyway

    def release_steps(self) -> Steps:
        """Delete our node; LockLost if the session had already lost it."""
        if self.token is None:
            raise self._not_held()
        node, token, lost = self.node, self.token, self._lost
        self.token = self.node = self._session = None
        self._lost = False
        if lost:
            raise LockLost(f"lock {self.path!r} (token {token}) was already lost: the session expired "
                           f"and the ensemble deleted {node}", lock=self.path)
        if self.release_recipe is not None:
            return (yield from self.release_recipe(self.path, node))
        retried = False
        for _ in range(1000):
            try:
                yield Delete(f"{self.path}/{node}")
                return
            except NoNodeError:
                if retried:
                    return  # the earlier delete went through; only its reply was lost
                raise LockLost(f"lock {self.path!r} (token {token}) was lost before release: its node "
                               f"{node} was gone (the session expired)", lock=self.path) from None
            except (ConnectionLossError, OperationTimeoutError):
                retried = True
                yield Sleep(RETRY_DELAY)
            except SessionExpiredError:
                raise LockLost(f"lock {self.path!r} (token {token}) was lost: the session expired "
                               f"and the ensemble deleted {node}", lock=self.path) from None
        raise LockLost(f"release of {self.path!r} gave up after 1000 lost connections", lock=self.path)

    def is_held_steps(self) -> Steps:
        if self.token is None or self._lost:
            return False
        try:
            session = yield Session()
            stat = yield Exists(f"{self.path}/{self.node}")
        except SessionExpiredError:
            self._session_lost()
            return False
        if stat is None or session != self._session:
            self._session_lost()
            return False
        return True

    def contenders_steps(self) -> Steps:
        children = yield GetChildren(self.path)
        ranked = sorted((parsed.seq, child) for child in children if (parsed := parse_node(child)))
        names = []
        for _, child in ranked:
            try:
                data, _stat = yield GetData(f"{self.path}/{child}")
            except NoNodeError:
                continue
            names.append(data.decode() if isinstance(data, bytes) else data)
        return names


class ZkWriteLock(ZkLock):
    """The exclusive half of the read-write lock: ``write-`` nodes, blocked by every lower node."""

    KIND = "write"
    BLOCKED_BY = EXCLUSIVE


class ZkReadLock(ZkLock):
    """The shared half: ``read-`` nodes, blocked only by a lower ``write-``/``lock-`` node.

    Many readers hold it at once; their fencing tokens are their own sequence numbers.
    """

    KIND = "read"
    BLOCKED_BY = SHARED


def _driver_for(client: Any, clock: Any) -> Any:
    """The thin driver that runs recipe steps on this kind of client."""
    if hasattr(client, "world") and hasattr(client, "process"):
        from distlab.locks.zk_sim import SimDriver

        return SimDriver(client)
    if hasattr(client, "handler") and hasattr(client, "add_listener"):
        from distlab.locks.zk_kazoo import KazooDriver

        return KazooDriver(client, clock)
    if hasattr(client, "run") and hasattr(client, "unique_prefix"):
        return client  # already a driver (tests inject their own)
    raise UsageError(f"ZkLock needs a distlab SimClient or a kazoo KazooClient, got {client!r}")
