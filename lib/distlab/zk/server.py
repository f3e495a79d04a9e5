"""A single ZooKeeper server in one process, with kazoo-shaped clients (``ZooKeeperServer``).

For Lab 3 and the first lock recipes: one ``DataTree``, one ``SessionTracker``, and a zxid
counter, wired the way a standalone ZooKeeper wires them, with no sockets, threads or clock::

    server = ZooKeeperServer(tick_time=2000)
    alice = server.connect(timeout=6000)
    alice.create("/app", b"config")
    path = alice.create("/app/lock-", ephemeral=True, sequence=True)   # /app/lock-0000000000
    bob = server.connect(timeout=6000)
    bob.exists(path, watch=print)       # prints a NodeDeleted event when alice's session ends
    alice.disconnect()                  # alice stops pinging ...
    server.tick(14_000)                 # ... and is expired: her ephemerals go in one txn

Every write goes request -> ``prepare`` -> txn -> ``DataTree.apply`` with the next zxid
(epoch 0, counter + 1: zxid = epoch << 32 | counter). Like ZooKeeper, a write the server
refuses (NoNode, BadVersion, ...) is still logged as an ``ErrorTxn`` and uses up a zxid, and
so does an empty multi; a request refused before it is sent (a bad path, data over 1 MB: the
Java client and kazoo check those) does not.

Time moves only through ``tick(now)``: connected clients ping (touch their session), then
every session whose deadline has passed is expired. Watch callbacks run after the op that
fired them is applied and before that op returns, one at a time in zxid order, like kazoo's
single callback thread; a callback that itself calls the client queues its own events behind
the ones still being delivered.

``Client`` copies ``KazooClient``'s method names, arguments and return values (``create``,
``ensure_path``, ``get``, ``exists``, ``get_children``, ``set``, ``delete``, ``transaction``,
``sync``, ``close``), so a recipe written for it also runs on a real ``KazooClient``.
"""

from __future__ import annotations

import collections
from typing import Any, Callable, Iterable

from distlab.zk.errors import (
    ConnectionClosedError,
    ConnectionLossError,
    KeeperError,
    NodeExistsError,
    NoNodeError,
    SessionExpiredError,
    error_for_code,
)
from distlab.zk.ops import (
    CheckResult,
    CheckVersionRequest,
    CloseSessionRequest,
    CreateRequest,
    CreateResult,
    CreateSessionRequest,
    DeleteRequest,
    DeleteResult,
    ErrorResult,
    ErrorTxn,
    MultiRequest,
    MultiResult,
    OpResult,
    Request,
    SetDataRequest,
    SetDataResult,
    Txn,
    WriteOp,
    prepare,
)
from distlab.zk.paths import child_path, parent_of, validate_path
from distlab.zk.sessions import SessionTracker
from distlab.zk.stat import CreateMode, Stat
from distlab.zk.tree import ApplyResult, DataTree
from distlab.zk.watches import EventType, KeeperState, WatchedEvent

__all__ = [
    "ZooKeeperServer",
    "Client",
    "Transaction",
    "WatchFn",
    "make_zxid",
    "zxid_epoch",
    "zxid_counter",
]

WatchFn = Callable[[WatchedEvent], Any]

_COUNTER_MASK = 0xFFFFFFFF


def make_zxid(epoch: int, counter: int) -> int:
    """``ZxidUtils.makeZxid``: epoch in the high 32 bits, counter in the low 32."""
    return (epoch << 32) | (counter & _COUNTER_MASK)


def zxid_epoch(zxid: int) -> int:
    """``ZxidUtils.getEpochFromZxid``: the high 32 bits."""
    return zxid >> 32


def zxid_counter(zxid: int) -> int:
    """``ZxidUtils.getCounterFromZxid``: the low 32 bits."""
    return zxid & _COUNTER_MASK


class ZooKeeperServer:
    """A standalone server: tree, sessions, zxids (``ZooKeeperServer`` + its processors).

    Args:
        tick_time: ms per tick; session timeouts are negotiated into [2, 20] ticks.
        server_id: top byte of the session ids (``initializeNextSessionId``).
        now: the server's clock at start, in ms.

    Attributes ``tree`` and ``sessions`` are the live core objects, for inspection.
    """

    def __init__(
        self,
        tick_time: int = 2000,
        *,
        server_id: int = 0,
        now: int = 0,
        min_session_timeout: int | None = None,
        max_session_timeout: int | None = None,
    ) -> None:
        self.tree = DataTree()
        self.sessions = SessionTracker(
            tick_time,
            server_id=server_id,
            now=now,
            min_session_timeout=min_session_timeout,
            max_session_timeout=max_session_timeout,
        )
        self.now = now
        self.epoch = 0
        self._counter = 0
        self._clients: dict[int, Client] = {}
        self._deliveries: collections.deque[tuple[WatchFn, WatchedEvent]] = collections.deque()
        self._delivering = False

    @property
    def last_zxid(self) -> int:
        """The zxid of the last txn applied."""
        return self.tree.last_processed_zxid

    # --- time and sessions ------------------------------------------------------------------

    def tick(self, now: int) -> list[int]:
        """Advance the clock to ``now``; connected clients ping, overdue sessions expire.

        Returns the ids of the sessions expired, in expiry order. Each one's ephemerals are
        deleted by one CloseSessionTxn, firing NodeDeleted / NodeChildrenChanged watches.

        Raises:
            ValueError: ``now`` is before the server's clock.
        """
        if now < self.now:
            raise ValueError(f"time went backwards: {now} < {self.now}")
        self.now = now
        for client in self._clients.values():
            if client.state is KeeperState.SyncConnected:
                # A connected kazoo client pings every timeout/3, so it is never overdue.
                self.sessions.touch(client.session_id, now)
        expired = self.sessions.expired(now)
        for session_id in expired:
            self._end_session(session_id, KeeperState.Expired)
        return expired

    advance = tick

    def connect(self, timeout: int = 10_000, now: int | None = None) -> Client:
        """Open a session and return its client (``ZooKeeperServer.processConnectRequest``).

        ``timeout`` (ms) is negotiated into the server's bounds; ``client.timeout`` has the
        result. With ``now``, the clock first advances as with ``tick(now)``.
        """
        if now is not None:
            self.tick(now)
        session_id = self.sessions.create(timeout, self.now)
        negotiated = self.sessions.timeout_of(session_id)
        client = Client(self, session_id, negotiated)
        self._clients[session_id] = client
        request = CreateSessionRequest(timeout=negotiated)
        self._commit(prepare(self.tree, request, session_id, self._next_zxid(), self.now))
        return client

    def _end_session(self, session_id: int, state: KeeperState) -> None:
        """Close or expire a session: one CloseSessionTxn deletes all of its ephemerals.

        Expired: the connection is already gone, so its watches go first
        (``DataTree.removeCnxn``). Closed by its client: the connection is still there while
        the txn is applied, so the closing session receives its own watch events before the
        close completes (``FinalRequestProcessor`` replies after ``processTxn``).
        """
        self.sessions.close(session_id)
        if state is KeeperState.Expired:
            client = self._clients.pop(session_id, None)
            if client is not None:
                client._end(state)
            self.tree.remove_watcher(session_id)
        txn = prepare(self.tree, CloseSessionRequest(), session_id, self._next_zxid(), self.now)
        self._commit(txn)
        self.sessions.remove(session_id)
        if state is not KeeperState.Expired:
            client = self._clients.pop(session_id, None)
            if client is not None:
                client._end(state)
            self.tree.remove_watcher(session_id)

    # --- requests ---------------------------------------------------------------------------

    def _write(self, session_id: int, request: Request) -> OpResult:
        """Prepare and apply one write; a refused write is logged as an ErrorTxn and re-raised."""
        self.sessions.check(session_id)
        self.sessions.touch(session_id, self.now)
        zxid = self._next_zxid()
        try:
            txn = prepare(self.tree, request, session_id, zxid, self.now)
        except KeeperError as error:
            self._commit(ErrorTxn(err=error.code, zxid=zxid, time=self.now, session_id=session_id))
            raise
        return self._commit(txn).result

    def _read(self, session_id: int) -> None:
        """A read checks and touches the session; it takes no zxid."""
        self.sessions.check(session_id)
        self.sessions.touch(session_id, self.now)

    def _next_zxid(self) -> int:
        # Leader.propose refuses counter 0xffffffff and forces a new epoch (ZOOKEEPER-1277).
        if self._counter + 1 >= _COUNTER_MASK:
            self.epoch += 1
            self._counter = 0
        self._counter += 1
        return make_zxid(self.epoch, self._counter)

    def _commit(self, txn: Txn) -> ApplyResult:
        applied = self.tree.apply(txn)
        for event in applied.events:
            client = self._clients.get(event.watcher)
            if client is not None:
                self._enqueue(client, event)
        self._drain_deliveries()
        return applied

    def _enqueue(self, client: Client, event: WatchedEvent) -> None:
        for callback in client._callbacks_for(event):
            self._deliveries.append((callback, event))

    def _drain_deliveries(self) -> None:
        # Serial, FIFO delivery; a callback's own writes only enqueue (kazoo's callback thread).
        if self._delivering:
            return
        self._delivering = True
        first_error: BaseException | None = None
        try:
            while self._deliveries:
                callback, event = self._deliveries.popleft()
                try:
                    callback(event)
                except Exception as error:  # deliver the rest, then report the first failure
                    first_error = first_error or error
        finally:
            self._delivering = False
        if first_error is not None:
            raise first_error

    def __repr__(self) -> str:
        return (
            f"<ZooKeeperServer now={self.now} last_zxid=0x{self.last_zxid:x} "
            f"{len(self._clients)} clients, {self.tree!r}>"
        )


class Client:
    """A session on a ``ZooKeeperServer``, with ``KazooClient``'s methods (kazoo ``client.py``).

    Watches are callables ``watch(event)``, called once, after the op that fired them
    (client-side tables as kazoo's ``_data_watchers`` / ``_child_watchers``): NodeCreated and
    NodeDataChanged go to data watches, NodeChildrenChanged to child watches, NodeDeleted to
    both (each callable once).

    States: SyncConnected; Disconnected after ``disconnect()`` (ops raise ConnectionLossError,
    events are held until ``reconnect()``); Expired (ops raise SessionExpiredError); Closed
    after ``close()`` (ops raise ConnectionClosedError, a SessionExpiredError).
    """

    def __init__(self, server: ZooKeeperServer, session_id: int, timeout: int) -> None:
        self.server = server
        self.session_id = session_id
        self.timeout = timeout
        self.state = KeeperState.SyncConnected
        self._data_watchers: dict[str, dict[WatchFn, None]] = {}
        self._child_watchers: dict[str, dict[WatchFn, None]] = {}
        self._held_events: list[WatchedEvent] = []

    # --- writes -----------------------------------------------------------------------------

    def create(
        self,
        path: str,
        value: bytes = b"",
        ephemeral: bool = False,
        sequence: bool = False,
        makepath: bool = False,
    ) -> str:
        """Create a node; return its path (with the sequence suffix, if any).

        With ``makepath``, missing parents are created first (persistent, empty), as kazoo
        does after a NoNode.

        Raises:
            NodeExistsError, NoNodeError, NoChildrenForEphemeralsError, BadArgumentsError,
            DataTooLargeError, SessionExpiredError, ConnectionLossError.
        """
        mode = CreateMode.of(ephemeral=ephemeral, sequence=sequence)
        request = CreateRequest(path=path, data=value, mode=mode)
        try:
            result = self._write(request)
        except NoNodeError:
            if not makepath:
                raise
            self.ensure_path(parent_of(path))
            result = self._write(request)
        assert isinstance(result, CreateResult)
        return result.path

    def ensure_path(self, path: str) -> bool:
        """Create ``path`` and any missing ancestors as empty persistent nodes (kazoo's way)."""
        validate_path(path)
        if self.exists(path) is not None:
            return True
        self.ensure_path(parent_of(path))
        try:
            self._write(CreateRequest(path=path))
        except NodeExistsError:
            pass
        return True

    def set(self, path: str, value: bytes, version: int = -1) -> Stat:
        """Replace the data of ``path`` if its version matches (-1: any); return the new stat."""
        result = self._write(SetDataRequest(path=path, data=value, version=version))
        assert isinstance(result, SetDataResult)
        return result.stat

    def delete(self, path: str, version: int = -1, recursive: bool = False) -> bool:
        """Delete ``path`` if its version matches; with ``recursive``, its subtree first.

        A recursive delete is a series of deletes, children first, ignoring ``version`` and
        nodes that are already gone (as kazoo's ``_delete_recursive``); it is not atomic.
        """
        if recursive:
            return self._delete_recursive(path)
        self._write(DeleteRequest(path=path, version=version))
        return True

    def _delete_recursive(self, path: str) -> bool:
        try:
            children = self.get_children(path)
        except NoNodeError:
            return True
        for child in children:
            self._delete_recursive(child_path(path, child))
        try:
            self._write(DeleteRequest(path=path))
        except NoNodeError:
            pass
        return True

    def transaction(self) -> Transaction:
        """A builder for an all-or-nothing multi (kazoo's ``TransactionRequest``)."""
        return Transaction(self)

    def multi(self, ops: Iterable[WriteOp]) -> list[OpResult]:
        """Run ``ops`` atomically; raise the first failing op's error (``ZooKeeper.multi``).

        The raised ``KeeperError`` has ``.results``: 0 (OK) for ops before the failing one,
        its code, then -2 (RuntimeInconsistency) for the rest.
        """
        ops = tuple(ops)
        result = self._multi(ops)
        if result.failed:
            index = next(
                i for i, r in enumerate(result.results) if isinstance(r, ErrorResult) and r.err != 0
            )
            code = result.results[index]
            assert isinstance(code, ErrorResult)
            raise error_for_code(code.err)(
                ops[index].path, f"op {index} of the multi failed", results=result.results
            )
        return list(result.results)

    def _multi(self, ops: tuple[WriteOp, ...]) -> MultiResult:
        # An empty multi is sent like any other and uses a zxid (PrepRequestProcessor, case
        # multi: getNextZxid comes before the ops are looked at).
        result = self._write(MultiRequest(ops=ops))
        assert isinstance(result, MultiResult)
        return result

    # --- reads ------------------------------------------------------------------------------

    def get(self, path: str, watch: WatchFn | None = None) -> tuple[bytes, Stat]:
        """Data and stat of ``path``; ``watch`` fires on its change or deletion."""
        self._read(path)
        data, stat = self.server.tree.get_data(path, self._watcher_key(watch))
        self._add_watch(self._data_watchers, path, watch)
        return data, stat

    def exists(self, path: str, watch: WatchFn | None = None) -> Stat | None:
        """Stat of ``path`` or None; ``watch`` (left even if it is missing) fires on any change."""
        self._read(path)
        stat = self.server.tree.exists(path, self._watcher_key(watch))
        self._add_watch(self._data_watchers, path, watch)
        return stat

    def get_children(
        self, path: str, watch: WatchFn | None = None, include_data: bool = False
    ) -> list[str] | tuple[list[str], Stat]:
        """Child names of ``path``, sorted; ``watch`` fires on a child change or deletion.

        ZooKeeper returns children unordered (and kazoo passes them on as they come);
        distlab sorts them so runs are reproducible. Recipes must not rely on either.
        With ``include_data``, returns ``(children, stat)`` like kazoo.
        """
        self._read(path)
        children = self.server.tree.get_children(path, self._watcher_key(watch))
        self._add_watch(self._child_watchers, path, watch)
        if include_data:
            stat = self.server.tree.exists(path)
            assert stat is not None
            return children, stat
        return children

    def sync(self, path: str) -> str:
        """Flush the channel to the leader (``ZooKeeper.sync``); returns ``path``.

        With a single server there is nothing in between, so this only checks the session.
        """
        self._read(path)
        return path

    # --- session ----------------------------------------------------------------------------

    def ping(self) -> None:
        """Touch the session now (the client's PING)."""
        self._use()
        self.server.sessions.touch(self.session_id, self.server.now)

    def disconnect(self) -> None:
        """Drop the connection but keep the session: no more pings, ops raise ConnectionLoss.

        The session expires unless ``reconnect()`` comes before its deadline. Watch events
        meanwhile are held and delivered on reconnect (a simplification of ZooKeeper's
        ``setWatches`` replay, which can miss a create+delete pair). Disconnecting twice is
        a no-op.
        """
        if self.state is KeeperState.Disconnected:
            return
        self._use()
        self.state = KeeperState.Disconnected

    def reconnect(self) -> None:
        """Re-attach to the session after ``disconnect()``.

        Raises:
            SessionExpiredError: the session expired meanwhile.
        """
        if self.state is KeeperState.Expired:
            raise SessionExpiredError(
                None, f"session 0x{self.session_id:x} expired while disconnected"
            )
        if self.state is KeeperState.Closed:
            raise ConnectionClosedError(None, "the client was closed")
        self.state = KeeperState.SyncConnected
        self.server.sessions.touch(self.session_id, self.server.now)
        held, self._held_events = self._held_events, []
        for event in held:
            self.server._enqueue(self, event)
        self.server._drain_deliveries()

    def close(self) -> None:
        """End the session now: its ephemerals are deleted (one txn). Closing twice is a no-op."""
        if self.state in (KeeperState.Closed, KeeperState.Expired):
            return
        self.server._end_session(self.session_id, KeeperState.Closed)

    stop = close  # kazoo's stop() also ends the session

    @property
    def connected(self) -> bool:
        """True while the client is connected (kazoo's ``connected``)."""
        return self.state is KeeperState.SyncConnected

    # --- plumbing ---------------------------------------------------------------------------

    def _use(self) -> None:
        if self.state is KeeperState.Closed:
            raise ConnectionClosedError(None, "the client was closed")
        if self.state is KeeperState.Expired:
            raise SessionExpiredError(None, f"session 0x{self.session_id:x} has expired")
        if self.state is KeeperState.Disconnected:
            raise ConnectionLossError(None, "the client is disconnected")

    def _write(self, request: Request) -> OpResult:
        self._use()
        return self.server._write(self.session_id, request)

    def _read(self, path: str) -> None:
        self._use()
        validate_path(path)  # the Java client checks every path before sending it
        self.server._read(self.session_id)

    def _watcher_key(self, watch: WatchFn | None) -> int | None:
        # The server only knows sessions (one ServerCnxn each); callables stay on the client.
        return None if watch is None else self.session_id

    @staticmethod
    def _add_watch(table: dict[str, dict[WatchFn, None]], path: str, watch: WatchFn | None) -> None:
        if watch is not None:
            table.setdefault(path, {})[watch] = None

    def _end(self, state: KeeperState) -> None:
        self.state = state
        self._data_watchers.clear()
        self._child_watchers.clear()
        self._held_events.clear()

    def _callbacks_for(self, event: WatchedEvent) -> list[WatchFn]:
        """Take the callables ``event`` triggers off the tables (kazoo ``_read_watch_event``)."""
        if self.state is KeeperState.Disconnected:
            self._held_events.append(event)
            return []
        if self.state is not KeeperState.SyncConnected:
            return []
        callbacks: dict[WatchFn, None] = {}
        if event.type in (EventType.NodeCreated, EventType.NodeDataChanged, EventType.NodeDeleted):
            callbacks.update(self._data_watchers.pop(event.path, {}))
        if event.type in (EventType.NodeChildrenChanged, EventType.NodeDeleted):
            callbacks.update(self._child_watchers.pop(event.path, {}))
        return list(callbacks)

    def __repr__(self) -> str:
        return f"<Client session 0x{self.session_id:x} {self.state.name} timeout={self.timeout}>"


class Transaction:
    """Collects write ops and commits them as one multi (kazoo's ``TransactionRequest``).

    ``commit()`` returns one result per op, kazoo-style: the created path, True for a delete
    or check, the new ``Stat`` for a set_data; if the multi failed, every entry is an
    exception instance instead (``RolledBackError`` for ops that were fine, the failing op's
    error, ``RuntimeInconsistency`` for the ones after). It does not raise for a failed
    multi; ``Client.multi`` does. Usable as a context manager that commits on success.
    """

    def __init__(self, client: Client) -> None:
        self.client = client
        self.operations: list[WriteOp] = []
        self.committed = False

    def create(
        self, path: str, value: bytes = b"", ephemeral: bool = False, sequence: bool = False
    ) -> None:
        """Add a create (``Op.create``); no ``makepath`` inside a transaction."""
        mode = CreateMode.of(ephemeral=ephemeral, sequence=sequence)
        self._add(CreateRequest(path=path, data=value, mode=mode))

    def delete(self, path: str, version: int = -1) -> None:
        """Add a delete (``Op.delete``); not recursive."""
        self._add(DeleteRequest(path=path, version=version))

    def set_data(self, path: str, value: bytes, version: int = -1) -> None:
        """Add a setData (``Op.setData``)."""
        self._add(SetDataRequest(path=path, data=value, version=version))

    def check(self, path: str, version: int) -> None:
        """Add a version check (``Op.check``): the multi fails unless ``path`` has ``version``."""
        self._add(CheckVersionRequest(path=path, version=version))

    def commit(self) -> list[Any]:
        """Send the ops as one multi; return kazoo-style results (see the class docstring)."""
        self._check_not_committed()
        self.committed = True
        ops = tuple(self.operations)
        result = self.client._multi(ops)
        return [_kazoo_result(op, r) for op, r in zip(ops, result.results)]

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        if exc_type is None:
            self.commit()

    def _add(self, op: WriteOp) -> None:
        self._check_not_committed()
        self.operations.append(op)

    def _check_not_committed(self) -> None:
        if self.committed:
            raise ValueError("Transaction already committed")


def _kazoo_result(op: WriteOp, result: OpResult) -> Any:
    """One multi result as kazoo's ``Transaction.deserialize`` returns it."""
    if isinstance(result, CreateResult):
        return result.path
    if isinstance(result, SetDataResult):
        return result.stat
    if isinstance(result, (DeleteResult, CheckResult)):
        return True
    assert isinstance(result, ErrorResult)
    return error_for_code(result.err)(op.path, "multi failed" if result.err else "rolled back")
