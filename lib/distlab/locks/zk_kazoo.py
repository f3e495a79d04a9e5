"""The thin driver that runs :mod:`distlab.locks.zk` recipes on a real ZooKeeper through kazoo.

It performs each operation the recipe yields with the ``KazooClient`` method of the same name
and turns kazoo's exceptions into distlab's (same names, same codes:
``kazoo.exceptions.NoNodeError`` becomes :class:`distlab.zk.errors.NoNodeError`), so the
recipe cannot tell which backend it runs on. Waiting uses kazoo's own handler (its event
objects), so no thread or clock is created here; deadlines come from the injected clock.

- ``Pipeline``: the ``*_async`` calls, all sent before the first answer is awaited.
- ``AwaitWatch``: a watch callback or a connection-state change sets an event; the driver
  waits for it until the deadline.
- While a lock is held, a connection-state listener tells it about ``LOST`` (the session
  expired: the lock is gone) and ``SUSPENDED`` (disconnected: the holder cannot be sure).
"""

from __future__ import annotations

import uuid
from typing import Any

from distlab.locks.api import _check_clock
from distlab.locks.zk import AwaitWatch, Now, Pipeline, Session, Sleep, run_steps
from distlab.zk.errors import ConnectionClosedError, OperationTimeoutError, error_for_code
from distlab.zk.ops import CreateRequest, DeleteRequest, Exists, GetChildren, GetData, SetDataRequest

__all__ = ["KazooDriver", "translate"]


def translate(error: BaseException, path: str | None) -> BaseException:
    """kazoo's exception -> distlab's exception of the same ZooKeeper code (others unchanged)."""
    code = getattr(error, "code", None)
    if isinstance(code, int):
        return error_for_code(code)(path, f"(kazoo) {error}" if str(error) else "(kazoo)")
    name = type(error).__name__
    if name in ("KazooTimeoutError", "TimeoutError"):
        return OperationTimeoutError(path, f"(kazoo) {name}: {error}")
    if name in ("ZookeeperStoppedError", "ConnectionClosedError"):
        return ConnectionClosedError(path, f"(kazoo) {name}: the client was stopped")
    return error


class KazooDriver:
    """Runs recipe steps on one ``KazooClient``; one driver per lock object."""

    def __init__(self, client: Any, clock: Any) -> None:
        from kazoo.exceptions import KazooException
        from kazoo.protocol.states import KazooState

        self.client = client
        self.clock = _check_clock(clock, "ZkLock on a KazooClient")
        self._kazoo_errors = (KazooException,)
        self._states = KazooState
        self._wake = client.handler.event_object()
        self._holders: list[Any] = []
        self.notifications = 0  # watch callbacks received (the herd-effect count)
        self.waiting = False  # inside AwaitWatch (benchmarks wait for every waiter to be waiting)

    # -- what the recipe asks of every driver ---------------------------------------------
    def unique_prefix(self) -> str:
        return uuid.uuid4().hex

    def run(self, steps: Any) -> Any:
        return run_steps(steps, self.perform)

    def session_alive(self, session: int | None) -> bool:
        client_id = self.client.client_id
        return (self.client.state != self._states.LOST and client_id is not None
                and client_id[0] == session)

    def holding(self, lock: Any) -> None:
        if not self._holders:
            self.client.add_listener(self._on_state)
        self._holders.append(lock)

    def released(self, lock: Any) -> None:
        if lock in self._holders:
            self._holders.remove(lock)
            if not self._holders:
                self.client.remove_listener(self._on_state)

    # -- callbacks (kazoo's event thread) --------------------------------------------------
    def _on_watch(self, event: Any) -> None:
        self.notifications += 1
        self._wake.set()

    def _on_state(self, state: Any) -> None:
        self._wake.set()
        for lock in list(self._holders):
            if state == self._states.LOST:
                lock._session_lost()
            lock.suspended = state == self._states.SUSPENDED

    # -- performing operations -------------------------------------------------------------
    def perform(self, op: Any) -> Any:
        kind = type(op)
        if kind is AwaitWatch:
            return self._await(op.deadline)
        if kind is Now:
            return self.clock.monotonic()
        if kind is Session:
            client_id = self.client.client_id
            return None if client_id is None else client_id[0]
        if kind is Sleep:
            self.clock.sleep(op.seconds)
            return None
        if kind is Pipeline:
            return self._pipeline(op.ops)
        try:
            return self._call(op)
        except self._kazoo_errors as error:
            raise translate(error, getattr(op, "path", None)) from error

    def _call(self, op: Any) -> Any:
        client, kind = self.client, type(op)
        if kind is CreateRequest:
            return client.create(op.path, op.data, ephemeral=op.ephemeral, sequence=op.sequence)
        if kind is GetChildren:
            return client.get_children(op.path, watch=self._armed() if op.watch else None)
        if kind is GetData:
            return client.get(op.path, watch=self._armed() if op.watch else None)
        if kind is Exists:
            return client.exists(op.path, watch=self._armed() if op.watch else None)
        if kind is DeleteRequest:
            return client.delete(op.path, version=op.version)
        if kind is SetDataRequest:
            return client.set(op.path, op.data, version=op.version)
        raise TypeError(f"KazooDriver cannot perform {op!r}")

    def _armed(self):
        # Cleared before the watch is set: a watch that fires before we wait still counts.
        self._wake.clear()
        return self._on_watch

    def _start(self, op: Any) -> Any:
        client, kind = self.client, type(op)
        if kind is CreateRequest:
            return client.create_async(op.path, op.data, ephemeral=op.ephemeral, sequence=op.sequence)
        if kind is GetChildren:
            return client.get_children_async(op.path)
        if kind is GetData:
            return client.get_async(op.path)
        if kind is DeleteRequest:
            return client.delete_async(op.path, version=op.version)
        if kind is SetDataRequest:
            return client.set_async(op.path, op.data, version=op.version)
        raise TypeError(f"KazooDriver cannot pipeline {op!r}")

    def _pipeline(self, ops: tuple) -> list:
        started = []
        for op in ops:  # every request is queued before the first answer is awaited
            try:
                started.append(self._start(op))
            except self._kazoo_errors as error:
                started.append(translate(error, op.path))
        results: list[Any] = []
        for op, pending in zip(ops, started):
            if isinstance(pending, BaseException):
                results.append(pending)
                continue
            try:
                results.append(pending.get())
            except self._kazoo_errors as error:
                results.append(translate(error, op.path))
        return results

    def _await(self, deadline: float | None) -> bool:
        self.client.add_listener(self._on_state)
        self.waiting = True
        try:
            if deadline is None:
                self._wake.wait()
                return True
            if self._wake.is_set():
                return True
            left = deadline - self.clock.monotonic()
            return left > 0 and bool(self._wake.wait(left))
        finally:
            self.waiting = False
            if not self._holders:
                self.client.remove_listener(self._on_state)
