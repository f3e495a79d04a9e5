"""The thin driver that runs :mod:`distlab.locks.zk` recipes on distlab's simulated ensemble.

The simulated world is single-threaded and its time is virtual: nothing happens unless
someone runs it. A blocking ``acquire()`` that waits for *another* simulated client's
release would wait forever, because that client could not run meanwhile. So the unit of
concurrency is the recipe's generator, and :class:`SimScheduler` runs several of them side by
side, cooperatively:

1. resume every task that can go on, until it yields an operation that needs the world;
2. hand that operation to the task's client process as a request (``ApiCall``), without
   waiting — a ``Pipeline`` hands over all of its requests at once;
3. run the world until some task's answer is in, its watch fired, or its timer is due;
4. give that task its result (or throw the ZooKeeper error into it) and go back to 1.

A task whose client node crashes dies with it, as a real process would. :class:`SimDriver`,
behind ``ZkLock``'s blocking methods, is a scheduler with a single task.

    scheduler = SimScheduler(ensemble.world)
    for client in clients:
        scheduler.spawn(client, worker(ZkLock(client, "/locks/counter")))
    scheduler.run(max_ms=120_000)

Everything here is deterministic: the same seed gives the same run, node names included
(prefixes are derived from the world's seed, the client's name and a counter, not from uuid4).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import weakref
from typing import Any, Iterable

from distlab.locks.api import UsageError
from distlab.locks.zk import AwaitWatch, Now, Pipeline, Session, Sleep
from distlab.zab.client import ClientState
from distlab.zk.errors import ConnectionLossError, OperationTimeoutError, error_for_code
from distlab.zk.ops import CreateRequest, DeleteRequest, Exists, GetChildren, GetData, SetDataRequest

__all__ = ["SimScheduler", "SimDriver", "Task"]

_WAITING = ("call", "watch", "sleep")
_prefix_counters: "weakref.WeakKeyDictionary[Any, Iterable[int]]" = weakref.WeakKeyDictionary()


class Task:
    """One generator bound to one simulated client."""

    def __init__(self, name: str, client: Any, steps: Any) -> None:
        self.name = name
        self.client = client
        self.steps = steps
        self.status = "ready"  # ready | call | watch | sleep | done | failed | crashed
        self.result: Any = None
        self.error: BaseException | None = None
        self.op: Any = None  # the operation it waits on
        self.ops: tuple = ()  # the requests of the call it waits on (several for a Pipeline)
        self.xids: list[int] = []  # those submitted so far
        self.replies: list[Any] = []
        self.watch_mark = 0  # len(client events) when its last watch was set
        self.wake_at: int | None = None  # ms: sleep end, watch deadline, call timeout
        self._value: Any = None
        self._throw: BaseException | None = None

    def __repr__(self) -> str:
        return f"<Task {self.name} {self.status} {self.op!r}>"


class SimScheduler:
    """Runs recipe generators for several simulated clients side by side (see module doc)."""

    def __init__(self, world: Any, call_timeout_ms: int = 30_000, pipeline: bool = True) -> None:
        self.world = world
        self.call_timeout_ms = call_timeout_ms
        # A Pipeline's requests go out back to back (pipeline=True), relying on ZooKeeper's
        # in-order answers within a session (tests/locks/test_zab_session_order.py);
        # pipeline=False sends each only after the previous one's answer.
        self.pipeline = pipeline
        self.tasks: list[Task] = []

    def spawn(self, client: Any, steps: Any, name: str | None = None) -> Task:
        """Add a task: ``steps`` is a generator of :mod:`distlab.locks.zk` operations."""
        if client.world is not self.world:
            raise UsageError(f"client {client.name} belongs to another world")
        task = Task(name or f"task-{len(self.tasks) + 1}@{client.name}", client, steps)
        self.tasks.append(task)
        return task

    # -- the loop --------------------------------------------------------------------------
    def run(self, max_ms: int = 600_000, raise_errors: bool = True) -> dict[str, Any]:
        """Run until every task has finished; return ``{task name: result}``.

        Raises the first task's error if ``raise_errors`` (tasks that crashed with their client
        are not errors), and TimeoutError naming the stuck tasks after ``max_ms`` virtual ms.
        """
        world = self.world
        limit = world.now + max_ms
        while True:
            for task in self.tasks:
                if task.status == "ready":
                    self._resume(task)
            waiting = [t for t in self.tasks if t.status in _WAITING]
            if not waiting:
                break
            wakes = [t.wake_at for t in waiting if t.wake_at is not None]
            until = min(min(wakes), limit) if wakes else limit
            world.run_until(lambda w: self._any_ready(waiting), max(until, world.now))
            progressed = False
            for task in waiting:
                progressed |= self._settle(task)
            if not progressed and world.now >= limit:
                raise TimeoutError(f"lock tasks still waiting after {max_ms} virtual ms: "
                                   f"{[t for t in self.tasks if t.status in _WAITING]}")
        if raise_errors:
            for task in self.tasks:
                if task.status == "failed":
                    raise task.error
        return {t.name: t.result for t in self.tasks}

    def _resume(self, task: Task) -> None:
        """Step the generator until it needs the world (or ends)."""
        while True:
            try:
                if task._throw is not None:
                    error, task._throw = task._throw, None
                    op = task.steps.throw(error)
                else:
                    value, task._value = task._value, None
                    op = task.steps.send(value)
            except StopIteration as stop:
                task.status, task.result, task.op = "done", stop.value, None
                return
            except Exception as error:
                task.status, task.error, task.op = "failed", error, None
                return
            kind = type(op)
            if kind is Now:
                task._value = self.world.now / 1000.0
                continue
            if kind is Session:
                task._value = self._process(task).session_id if self._up(task) else None
                continue
            task.op = op
            if not self._up(task):
                self._crash(task)
                return
            if kind is Sleep:
                task.status, task.wake_at = "sleep", self.world.now + max(1, math.ceil(op.seconds * 1000))
            elif kind is AwaitWatch:
                task.status = "watch"
                task.wake_at = None if op.deadline is None else max(self.world.now, math.ceil(op.deadline * 1000))
            else:
                task.ops = op.ops if kind is Pipeline else (op,)
                task.replies = []
                batch = task.ops if self.pipeline else task.ops[:1]
                task.xids = [self._submit(task, o) for o in batch]
                task.status, task.wake_at = "call", self.world.now + self.call_timeout_ms
            return

    def _submit(self, task: Task, op: Any) -> int:
        request = _request(op)
        if getattr(op, "watch", False):
            task.watch_mark = len(self._process(task).events)
        # The SimClient's own xid counter, shared with its blocking calls: never reused.
        return task.client.send_async(request)

    def _any_ready(self, waiting: list[Task]) -> bool:
        for task in waiting:
            if not self._up(task):
                return True
            if task.status == "call":
                results = self._process(task).results
                if all(xid in results for xid in task.xids[len(task.replies):]):
                    return True
            elif task.status == "watch" and self._fired(task):
                return True
        return False

    def _fired(self, task: Task) -> bool:
        # Any watch event or connection-state change since the watch was set wakes the task
        # (kazoo wakes its waiters on state changes too); waking early is always safe.
        return len(self._process(task).events) > task.watch_mark

    def _settle(self, task: Task) -> bool:
        """If ``task`` can go on now, give it its result and mark it ready."""
        if task.status not in _WAITING:
            return False
        if not self._up(task):
            self._crash(task)
            return True
        now = self.world.now
        if task.status == "call":
            results = self._process(task).results
            if all(xid in results for xid in task.xids[len(task.replies):]):
                task.replies += [results.pop(xid) for xid in task.xids[len(task.replies):]]
                if len(task.xids) < len(task.ops):  # a Pipeline sent one by one: the next
                    task.xids.append(self._submit(task, task.ops[len(task.xids)]))
                    task.wake_at = now + self.call_timeout_ms
                    return True
                outcomes = [_outcome(op, reply) for op, reply in zip(task.ops, task.replies)]
                if type(task.op) is Pipeline:
                    task._value = outcomes
                elif isinstance(outcomes[0], BaseException):
                    task._throw = outcomes[0]
                else:
                    task._value = outcomes[0]
            elif task.wake_at is not None and now >= task.wake_at:
                task._throw = OperationTimeoutError(getattr(task.op, "path", None),
                                                    f"no reply within {self.call_timeout_ms} ms")
            else:
                return False
        elif task.status == "watch":
            if self._fired(task):
                task._value = True
            elif task.wake_at is not None and now >= task.wake_at:
                task._value = False
            else:
                return False
        elif task.status == "sleep":
            if now < task.wake_at:
                return False
        task.status, task.xids, task.replies, task.wake_at = "ready", [], [], None
        return True

    # -- helpers -----------------------------------------------------------------------------
    def _up(self, task: Task) -> bool:
        return self.world.is_up(task.client.name)

    def _process(self, task: Task) -> Any:
        return self.world.process(task.client.name)

    def _crash(self, task: Task) -> None:
        """The task's client node is down: the task died with it."""
        task.status, task.wake_at = "crashed", None
        task.steps.close()


def _request(op: Any) -> Any:
    """The request the client process sends for ``op``: the recipe yields distlab.zk.ops's
    operations, the same classes the client protocol carries, so this only checks the kind."""
    if type(op) in (CreateRequest, GetChildren, GetData, Exists, DeleteRequest, SetDataRequest):
        return op
    raise TypeError(f"the simulator cannot perform {op!r}")


def _outcome(op: Any, reply: Any) -> Any:
    """A reply as kazoo would return it, or the exception kazoo would raise."""
    if not reply.ok:
        return error_for_code(reply.code)(getattr(op, "path", None), reply.error)
    kind = type(op)
    if kind is CreateRequest:
        return reply.result.path
    if kind is SetDataRequest:
        return reply.result.stat
    if kind is DeleteRequest:
        return None
    return reply.result


class SimDriver:
    """Runs one lock's steps on one :class:`~distlab.sim.ensemble.SimClient`, blocking."""

    def __init__(self, client: Any, max_ms: int = 3_600_000) -> None:
        self.client = client
        self.world = client.world
        self.max_ms = max_ms

    def unique_prefix(self) -> str:
        counter = _prefix_counters.setdefault(self.client, itertools.count(1))
        seed = f"{self.world.seed}/{self.client.name}/{next(counter)}"
        return hashlib.sha1(seed.encode()).hexdigest()[:32]

    def run(self, steps: Any) -> Any:
        if not self.world.is_up(self.client.name):
            raise ConnectionLossError(None, f"client {self.client.name} is down (crashed)")
        scheduler = SimScheduler(self.world)
        task = scheduler.spawn(self.client, steps, name=f"blocking@{self.client.name}")
        scheduler.run(self.max_ms, raise_errors=False)
        if task.status == "failed":
            raise task.error
        if task.status == "crashed":
            raise ConnectionLossError(None, f"client {self.client.name} crashed during the call")
        return task.result

    def session_alive(self, session: int | None) -> bool:
        if not self.world.is_up(self.client.name):
            return False
        process = self.world.process(self.client.name)
        return process.state not in (ClientState.EXPIRED, ClientState.CLOSED) and process.session_id == session

    def holding(self, lock: Any) -> None:
        pass  # the simulator has no callback thread: `held` asks session_alive when looked at

    def released(self, lock: Any) -> None:
        pass
