"""A standalone ZooKeeper server speaking the client wire protocol, as a sans-I/O core.

``StandaloneServer`` is what ``distlab serve`` runs: the request pipeline of
``ZooKeeperServer`` (``PrepRequestProcessor`` -> log -> ``FinalRequestProcessor``) on one
``DataTree``, with one ``SessionTracker``, fed bytes per connection and answering bytes.
It never touches a socket, a file or a clock; every call takes ``now`` (ms) and returns an
``Output`` the driver carries out **in this order**: log ``txns`` to disk, write ``snapshot``,
then ``sends``, then ``closes`` (a reply promises its txn is durable), and print ``logs``::

    server = StandaloneServer(tick_time=2000, now=0)
    out = server.open("c1", ("127.0.0.1", 50000), now=0)
    out = server.receive("c1", frame(ConnectRequest(0, 0, 10_000, 0, b"").encode()), now=0)

Rules, with the ZooKeeper class they come from:

- ``ConnectRequest``: a client that has seen a zxid newer than ours is refused (connection
  closed: "client must try another server"); the timeout is clamped into
  [minSessionTimeout, maxSessionTimeout] (default 2 and 20 ticks); session id 0 asks for a new
  session (a ``createSession`` txn, one zxid), any other id with its password re-attaches if
  the session is alive, else the answer is timeout 0 / session 0 and the connection closes
  (``ZooKeeperServer.processConnectRequest``, ``reopenSession``, ``finishSessionInit``).
- Every reply carries the xid of its request and the zxid of the last txn applied
  (``ReplyHeader``); an error reply is the header alone. Requests are answered in the order
  they arrived, so xids come back in order (the client checks this, ``ClientCnxn.readResponse``).
- Writes go request -> ``ops.prepare`` (ZooKeeper's per-op checks, paths included) -> txn ->
  log -> ``DataTree.apply``. A refused write is an ``ErrorTxn``: it still uses a zxid.
  An empty multi uses one too. Reads take no zxid and never check the path syntax (the tree
  simply has no such node), except ``exists``, which refuses a NUL (``FinalRequestProcessor``).
- Watches belong to the connection (``ServerCnxn``): they go when it closes; the session
  survives the connection, and ``setWatches`` re-registers them on the next one, firing at
  once for whatever changed since ``relativeZxid`` (``DataTree.setWatches``).
- Notifications (xid -1) a txn fires go out before that txn's reply.
- ``closeSession``: the txn deletes the ephemerals, the watch events fire (the closing
  session's own included), then the reply, then the connection closes.
- An unknown op code is answered Unimplemented and the connection is closed
  (``UnimplementedRequestProcessor``); a frame over jute.maxbuffer or with a negative length
  closes the connection before anything is read (``NIOServerCnxn.readLength``); a malformed
  header closes it; a malformed record is answered MarshallingError.
- A connection that sends no ConnectRequest within ``sessionless_timeout`` ms is closed
  (``NIOServerCnxnFactory``'s sessionless connection timeout, 10 s).
"""

from __future__ import annotations

import hashlib
import logging
import struct
from dataclasses import dataclass, field
from typing import Hashable

from distlab.server import jute
from distlab.server.connection import (
    ClientConnection,
    ConnectReceived,
    FourLetterWord,
    FrameReceived,
    ProtocolError,
    frame,
)
from distlab.server.fourletter import ServerFacts, answer
from distlab.server.requests import encode_result, to_request
from distlab.server.jute import OpCode, ReplyHeader, WatcherEvent, Writer, Xid
from distlab.zk import acl as acls
from distlab.zk.acl import Id
from distlab.zk.errors import Code, KeeperError
from distlab.zk.ops import (
    CheckResult,
    CloseSessionRequest,
    CreateSessionRequest,
    ErrorTxn,
    Txn,
    prepare,
)
from distlab.zk.sessions import SessionTracker
from distlab.zk.stat import JUTE_MAXBUFFER
from distlab.zk.tree import DataTree
from distlab.zk.watches import EventType, KeeperState

__all__ = ["StandaloneServer", "Output", "session_password"]

ConnId = Hashable
_COUNTER_MASK = 0xFFFFFFFF
_SUPER_SECRET = 0xB3415C00  # ZooKeeperServer.superSecret: passwords derive from the id
_LONG = struct.Struct(">q")

# op codes that change the tree: prepared into a txn, so they use a zxid even when refused
_WRITES = {
    OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.createTTL, OpCode.delete,
    OpCode.setData, OpCode.setACL, OpCode.check, OpCode.multi,
}
# Request.isValid: every op code ZooKeeper knows; any other is answered and disconnected
_VALID = {
    OpCode.notification, OpCode.check, OpCode.closeSession, OpCode.create, OpCode.create2,
    OpCode.createTTL, OpCode.createContainer, OpCode.createSession, OpCode.delete,
    OpCode.deleteContainer, OpCode.exists, OpCode.getACL, OpCode.getChildren,
    OpCode.getAllChildrenNumber, OpCode.getChildren2, OpCode.getData, OpCode.getEphemerals,
    OpCode.multi, OpCode.multiRead, OpCode.ping, OpCode.reconfig, OpCode.setACL,
    OpCode.setData, OpCode.setWatches, OpCode.setWatches2, OpCode.sync, OpCode.checkWatches,
    OpCode.removeWatches, OpCode.addWatch, OpCode.whoAmI, OpCode.auth, OpCode.sasl,
}


def session_password(session_id: int) -> bytes:
    """The 16-byte password of a session (``ZooKeeperServer.generatePasswd``'s role).

    Derived from the id and a fixed secret, so it is the same after a restart and a client
    holding it can re-attach to its session.
    """
    return hashlib.sha256(_LONG.pack(session_id ^ _SUPER_SECRET)).digest()[:16]


@dataclass
class Output:
    """What one call asks the driver to do (see the module docstring for the order)."""

    txns: list[Txn] = field(default_factory=list)
    snapshot: tuple[bytes, int] | None = None
    sends: list[tuple[ConnId, bytes]] = field(default_factory=list)
    closes: list[ConnId] = field(default_factory=list)
    logs: list[tuple[int, str]] = field(default_factory=list)

    def extend(self, other: Output) -> Output:
        self.txns += other.txns
        self.snapshot = other.snapshot or self.snapshot
        self.sends += other.sends
        self.closes += other.closes
        self.logs += other.logs
        return self


class _Cnxn:
    """One connection as the server sees it (``ServerCnxn``)."""

    def __init__(self, conn_id: ConnId, remote: tuple[str, int], now: int) -> None:
        self.id = conn_id
        self.remote = remote
        self.proto = ClientConnection()
        self.session_id: int | None = None
        self.auth: list[Id] = [Id("ip", remote[0])]  # every connection is its address
        self.opened_at = now
        self.received = 0
        self.sent = 0

    @property
    def address(self) -> str:
        return f"{self.remote[0]}:{self.remote[1]}"


class StandaloneServer:
    """ZooKeeper's standalone server behind the wire protocol (see the module docstring).

    Args:
        tick_time: ms per tick; session timeouts are clamped into [2, 20] ticks by default.
        now: the clock at start (ms). Use wall-clock ms in a real server: session ids and
            ctime/mtime come from it.
        tree, txns: a restored snapshot and the txns logged after it (``DiskStore.restore``).
        snap_count: take a snapshot after this many logged txns (ZooKeeper's snapCount).
    """

    def __init__(
        self,
        tick_time: int = 2000,
        *,
        now: int = 0,
        server_id: int = 0,
        min_session_timeout: int | None = None,
        max_session_timeout: int | None = None,
        tree: DataTree | None = None,
        txns: list[Txn] = (),  # type: ignore[assignment]
        snap_count: int = 100_000,
        max_buffer: int = JUTE_MAXBUFFER,
        sessionless_timeout: int = 10_000,
        client_port: int = 0,
        data_dir: str = "",
    ) -> None:
        self.tick_time = tick_time
        self.now = now
        self.server_id = server_id
        self.tree = tree if tree is not None else DataTree()
        for txn in txns:
            self._apply(txn)
        self.sessions = SessionTracker(
            tick_time,
            server_id=server_id,
            now=now,
            min_session_timeout=min_session_timeout,
            max_session_timeout=max_session_timeout,
        )
        # Sessions survive a restart (ZKDatabase.loadDataBase -> sessionsWithTimeouts): each
        # gets a full timeout from now to reconnect.
        for session_id, timeout in self.tree.sessions.items():
            self.sessions.track(session_id, timeout, now)
        last = self.tree.last_processed_zxid
        self.epoch, self._counter = last >> 32, last & _COUNTER_MASK
        self.snap_count = snap_count
        self._since_snapshot = len(txns)
        self.max_buffer = max_buffer
        self.sessionless_timeout = sessionless_timeout
        self.client_port = client_port
        self.data_dir = data_dir
        self.environment: dict[str, str] = {}  # envi's host and runtime lines; the driver fills it
        self._cnxns: dict[ConnId, _Cnxn] = {}
        self._by_session: dict[int, ConnId] = {}
        self._received = 0
        self._sent = 0
        self._out = Output()

    # --- driver entry points -----------------------------------------------------------------

    def open(self, conn_id: ConnId, remote: tuple[str, int], now: int) -> Output:
        """A client connected (``NIOServerCnxnFactory.AcceptThread``)."""
        self._advance(now)
        cnxn = _Cnxn(conn_id, remote, now)
        cnxn.proto.max_buffer = self.max_buffer
        self._cnxns[conn_id] = cnxn
        return self._flush()

    def receive(self, conn_id: ConnId, data: bytes, now: int) -> Output:
        """Bytes arrived on a connection."""
        self._advance(now)
        cnxn = self._cnxns.get(conn_id)
        if cnxn is None:
            return self._flush()
        for event in cnxn.proto.receive_data(data):
            if conn_id not in self._cnxns:
                break
            if isinstance(event, ProtocolError):
                self._close(cnxn, f"{event.reason}: closing connection {cnxn.address}"
                            + self._session_suffix(cnxn), level=logging.WARNING)
            elif isinstance(event, FourLetterWord):
                self._four_letter_word(cnxn, event.word)
            elif isinstance(event, ConnectReceived):
                self._connect(cnxn, event.request)
            elif isinstance(event, FrameReceived):
                self._received += 1
                cnxn.received += 1
                self._request(cnxn, event.payload)
        return self._flush()

    def closed(self, conn_id: ConnId, now: int) -> Output:
        """The client's side of the connection went away (EOF or reset)."""
        self._advance(now)
        cnxn = self._cnxns.get(conn_id)
        if cnxn is not None:
            self._forget(cnxn)
            self._log(logging.INFO, f"Connection {cnxn.address} closed by the client"
                      + self._session_suffix(cnxn))
        return self._flush()

    def tick(self, now: int) -> Output:
        """Let time pass: expire sessions, drop connections that never sent ConnectRequest."""
        self._advance(now)
        for session_id in self.sessions.expired(now):
            timeout = self.sessions.timeout_of(session_id)
            self._log(logging.INFO, f"Expiring session 0x{session_id:x}, timeout of {timeout}ms exceeded")
            self._end_session(session_id)
        for cnxn in list(self._cnxns.values()):
            if cnxn.session_id is None and now - cnxn.opened_at >= self.sessionless_timeout:
                self._close(cnxn, f"Connection {cnxn.address} sent no ConnectRequest within "
                            f"{self.sessionless_timeout} ms: closing it", level=logging.WARNING)
        return self._flush()

    def facts(self) -> ServerFacts:
        """Counters for the four-letter words."""
        return ServerFacts(
            mode="standalone",
            zxid=self.tree.last_processed_zxid,
            node_count=len(self.tree),
            watch_count=self.tree.watch_count,
            ephemerals_count=sum(len(self.tree.ephemerals(s)) for s in self.tree.sessions),
            received=self._received,
            sent=self._sent,
            outstanding=0,
            client_port=self.client_port,
            tick_time=self.tick_time,
            min_session_timeout=self.sessions.min_session_timeout,
            max_session_timeout=self.sessions.max_session_timeout,
            data_dir=self.data_dir,
            server_id=self.server_id,
            connections=[(c.address, c.received, c.sent) for c in self._cnxns.values()],
            extra_env=self.environment,
        )

    @property
    def connection_count(self) -> int:
        return len(self._cnxns)

    # --- connection level ----------------------------------------------------------------------

    def _four_letter_word(self, cnxn: _Cnxn, word: str) -> None:
        self._out.sends.append((cnxn.id, answer(word, self.facts()).encode("utf-8")))
        self._log(logging.INFO, f"Processing {word} command from {cnxn.address}")
        self._close(cnxn, None)

    def _connect(self, cnxn: _Cnxn, request: jute.ConnectRequest) -> None:
        last = self.tree.last_processed_zxid
        if request.last_zxid_seen > last:
            self._close(cnxn, (
                f"Refusing session(0x{request.session_id:x}) request for client {cnxn.address} "
                f"as it has seen zxid 0x{request.last_zxid_seen:x} our last zxid is 0x{last:x} "
                "client must try another server"))
            return
        timeout = self.sessions.negotiate_timeout(request.timeout)
        if request.session_id == 0:
            session_id = self.sessions.create(timeout, self.now)
            self._bind(cnxn, session_id)
            self._commit(prepare(self.tree, CreateSessionRequest(timeout=timeout), session_id,
                                 self._next_zxid(), self.now))
            self._send_connect_response(cnxn, timeout, session_id)
            self._log(logging.INFO, f"Established session 0x{session_id:x} with negotiated "
                      f"timeout {timeout} for client {cnxn.address}")
            return
        session_id = request.session_id
        state = self.sessions.state(session_id)
        if state is None or state.closing or request.passwd != session_password(session_id):
            why = "Incorrect password" if state is not None and not state.closing else "Invalid session"
            self._out.sends.append((cnxn.id, frame(
                jute.ConnectResponse(0, 0, 0, bytes(16)).encode())))
            self._close(cnxn, f"{why} 0x{session_id:x} for client {cnxn.address}, probably expired")
            return
        old = self._by_session.get(session_id)
        if old is not None and old != cnxn.id:
            self._close(self._cnxns[old], f"Closing connection {self._cnxns[old].address} of "
                        f"session 0x{session_id:x}: the client reconnected")
        self.sessions.touch(session_id, self.now)
        self._bind(cnxn, session_id)
        self._send_connect_response(cnxn, self.sessions.timeout_of(session_id), session_id)
        self._log(logging.INFO, f"Re-established session 0x{session_id:x} for client {cnxn.address}")

    def _bind(self, cnxn: _Cnxn, session_id: int) -> None:
        cnxn.session_id = session_id
        self._by_session[session_id] = cnxn.id

    def _send_connect_response(self, cnxn: _Cnxn, timeout: int, session_id: int) -> None:
        response = jute.ConnectResponse(0, timeout, session_id, session_password(session_id))
        self._out.sends.append((cnxn.id, frame(response.encode())))

    def _close(self, cnxn: _Cnxn, reason: str | None, level: int = logging.INFO) -> None:
        """Close a connection; its session stays (until it expires or is closed)."""
        if reason:
            self._log(level, reason)
        cnxn.proto.close()
        self._forget(cnxn)
        self._out.closes.append(cnxn.id)

    def _forget(self, cnxn: _Cnxn) -> None:
        self._cnxns.pop(cnxn.id, None)
        if cnxn.session_id is not None and self._by_session.get(cnxn.session_id) == cnxn.id:
            del self._by_session[cnxn.session_id]
        self.tree.remove_watcher(cnxn.id)  # DataTree.removeCnxn: watches die with the connection

    def _session_suffix(self, cnxn: _Cnxn) -> str:
        return f" (session 0x{cnxn.session_id:x})" if cnxn.session_id is not None else ""

    # --- requests ------------------------------------------------------------------------------

    def _request(self, cnxn: _Cnxn, payload: bytes) -> None:
        try:
            header, record = jute.decode_request(payload)
        except jute.JuteError as error:
            if len(payload) < 8:  # not even a RequestHeader: the connection is unreadable
                self._close(cnxn, f"Malformed request header from {cnxn.address}: {error}",
                            level=logging.WARNING)
                return
            header = jute.RequestHeader(*struct.unpack_from(">ii", payload))
            self._log(logging.WARNING, f"Failed to process {OpCode.name_of(header.type)} from "
                      f"{cnxn.address}: {error}; answering MarshallingError")
            if header.type == OpCode.multi:
                self._commit(self._error_txn(cnxn, Code.MARSHALLINGERROR))  # multi takes its zxid first
            self._reply(cnxn, header.xid, Code.MARSHALLINGERROR)
            return
        assert cnxn.session_id is not None
        if header.type not in _VALID:
            self._log(logging.WARNING, f"Received packet at server of unknown type {header.type}")
            self._reply(cnxn, header.xid, Code.UNIMPLEMENTED)
            self._close(cnxn, f"Closing connection {cnxn.address}: unknown request type "
                        f"{header.type}" + self._session_suffix(cnxn))
            return
        if header.type == OpCode.auth:
            self._auth(cnxn, header, record)
            return
        # any packet is a sign of life (ZooKeeperServer.submitRequest -> touch)
        self.sessions.touch(cnxn.session_id, self.now)
        if header.type == OpCode.ping:
            self._reply(cnxn, Xid.PING, 0)
            return
        if record is None:  # known to ZooKeeper, not modelled here
            if header.type in _WRITES:
                self._commit(self._error_txn(cnxn, Code.UNIMPLEMENTED))
            self._reply(cnxn, header.xid, Code.UNIMPLEMENTED)
            return
        try:
            self.sessions.check(cnxn.session_id)
        except KeeperError as error:
            self._reply(cnxn, header.xid, error.code)
            return
        if header.type == OpCode.closeSession:
            self._close_session(cnxn, header.xid)
        elif header.type in _WRITES:
            self._write(cnxn, header, record)
        else:
            self._read(cnxn, header, record)

    def _auth(self, cnxn: _Cnxn, header: jute.RequestHeader, record: object) -> None:
        """``ZooKeeperServer.processPacket``, case auth: reply xid -4, zxid 0."""
        assert isinstance(record, jute.AuthOp)
        identity = acls.authenticate(record.scheme, record.auth, cnxn.remote[0])
        if identity is None:
            self._log(logging.WARNING, f"Authentication failed for scheme: {record.scheme}")
            self._out.sends.append((cnxn.id, frame(ReplyHeader(header.xid, 0, Code.AUTHFAILED).encode())))
            self._close(cnxn, f"Closing connection {cnxn.address} after a failed auth")
            return
        if identity not in cnxn.auth:
            cnxn.auth.append(identity)
        self._log(logging.INFO, f"Session 0x{cnxn.session_id:x}: auth success for scheme "
                  f"{record.scheme} and address {cnxn.address}")
        self._out.sends.append((cnxn.id, frame(ReplyHeader(header.xid, 0, 0).encode())))

    def _close_session(self, cnxn: _Cnxn, xid: int) -> None:
        session_id = cnxn.session_id
        assert session_id is not None
        self.sessions.close(session_id)
        # The closing connection keeps its watches until the txn is applied: it receives its
        # own events, then the reply, then the connection closes (FinalRequestProcessor).
        self._commit(prepare(self.tree, CloseSessionRequest(), session_id, self._next_zxid(), self.now))
        self.sessions.remove(session_id)
        self._reply(cnxn, xid, 0)
        self._close(cnxn, f"Closed session 0x{session_id:x} for client {cnxn.address} (closeSession)")

    def _end_session(self, session_id: int) -> None:
        """Expiry: the txn deletes the ephemerals; the session's connection is closed."""
        self._commit(prepare(self.tree, CloseSessionRequest(), session_id, self._next_zxid(), self.now))
        self.sessions.remove(session_id)
        conn_id = self._by_session.get(session_id)
        if conn_id is not None:
            self._close(self._cnxns[conn_id], None)

    def _write(self, cnxn: _Cnxn, header: jute.RequestHeader, record: object) -> None:
        session_id = cnxn.session_id
        assert session_id is not None
        zxid = self._next_zxid()
        op_types: list[int] = []
        try:
            request = to_request(header.type, record, op_types)
            txn = prepare(self.tree, request, session_id, zxid, self.now, auth=cnxn.auth)
        except KeeperError as error:
            self._log(logging.INFO, (
                f"Got user-level KeeperException when processing sessionid:0x{session_id:x} "
                f"type:{OpCode.name_of(header.type)} cxid:0x{header.xid:x} zxid:0x{zxid:x} "
                f"txntype:-1 Error Path:{error.path} Error:{error}"))
            self._commit(ErrorTxn(err=error.code, zxid=zxid, time=self.now, session_id=session_id))
            self._reply(cnxn, header.xid, error.code)
            return
        result = self._commit(txn)
        if isinstance(result, CheckResult) and header.type == OpCode.check:
            body = Writer().stat(self.tree.exists(result.path)).getvalue()  # a lone check: the stat
        else:
            body = encode_result(header.type, result, op_types)
        self._reply(cnxn, header.xid, 0, body)

    def _error_txn(self, cnxn: _Cnxn, code: int) -> ErrorTxn:
        assert cnxn.session_id is not None
        return ErrorTxn(err=code, zxid=self._next_zxid(), time=self.now, session_id=cnxn.session_id)

    def _read(self, cnxn: _Cnxn, header: jute.RequestHeader, record: object) -> None:
        """``FinalRequestProcessor``'s read cases; no zxid, no path syntax check."""
        t = header.type
        watcher = cnxn.id
        w = Writer()
        try:
            if t == OpCode.exists:
                assert isinstance(record, jute.PathWatchOp)
                if "\0" in record.path:
                    raise _bad_arguments(record.path, "NUL in the path")
                if record.path in self.tree:
                    self._check(record.path, acls.Perms.READ, cnxn)
                stat = self.tree.exists(record.path, watcher if record.watch else None)
                if stat is None:
                    raise _no_node(record.path)
                w.stat(stat)
            elif t == OpCode.getData:
                assert isinstance(record, jute.PathWatchOp)
                self._require(record.path)
                self._check(record.path, acls.Perms.READ, cnxn)
                data, stat = self.tree.get_data(record.path, watcher if record.watch else None)
                w.buffer(data).stat(stat)
            elif t in (OpCode.getChildren, OpCode.getChildren2):
                assert isinstance(record, jute.PathWatchOp)
                self._require(record.path)
                self._check(record.path, acls.Perms.READ, cnxn)
                children = self.tree.get_children(record.path, watcher if record.watch else None)
                w.string_vector(children)
                if t == OpCode.getChildren2:
                    w.stat(self.tree.exists(record.path))
            elif t == OpCode.sync:
                assert isinstance(record, jute.PathOp)
                w.string(record.path)  # standalone: nothing in between to flush
            elif t == OpCode.getACL:
                assert isinstance(record, jute.PathOp)
                self._require(record.path)
                acl = self.tree.acl_of(record.path)
                self._check(record.path, acls.Perms.READ | acls.Perms.ADMIN, cnxn)
                try:
                    self._check(record.path, acls.Perms.ADMIN, cnxn)
                    may_admin = True
                except KeeperError:
                    may_admin = False
                w.acl_vector(acls.masked_for(acl, may_admin)).stat(self.tree.exists(record.path))
            elif t in (OpCode.setWatches, OpCode.setWatches2):
                assert isinstance(record, jute.SetWatchesOp)
                self._set_watches(cnxn, record)
                self._out.sends.append((cnxn.id, frame(
                    ReplyHeader(header.xid, self.tree.last_processed_zxid, 0).encode())))
                self._count_sent(cnxn)
                return
            elif t == OpCode.whoAmI:
                w.int(len(cnxn.auth))
                for identity in cnxn.auth:
                    w.string(identity.scheme).string(identity.id)
            else:
                raise _unimplemented(None)
        except KeeperError as error:
            self._reply(cnxn, header.xid, error.code)
            return
        self._reply(cnxn, header.xid, 0, w.getvalue())

    def _set_watches(self, cnxn: _Cnxn, record: jute.SetWatchesOp) -> None:
        """``DataTree.setWatches``: re-arm, or fire at once what changed since ``relative_zxid``."""
        zxid = record.relative_zxid
        for path in record.data_watches:
            stat = self.tree.exists(path)
            if stat is None:
                self._notify(cnxn.id, EventType.NodeDeleted, path)
            elif stat.mzxid > zxid:
                self._notify(cnxn.id, EventType.NodeDataChanged, path)
            else:
                self.tree.data_watches.add_watch(path, cnxn.id)
        for path in record.exist_watches:
            if path in self.tree:
                self._notify(cnxn.id, EventType.NodeCreated, path)
            else:
                self.tree.data_watches.add_watch(path, cnxn.id)
        for path in record.child_watches:
            stat = self.tree.exists(path)
            if stat is None:
                self._notify(cnxn.id, EventType.NodeDeleted, path)
            elif stat.pzxid > zxid:
                self._notify(cnxn.id, EventType.NodeChildrenChanged, path)
            else:
                self.tree.child_watches.add_watch(path, cnxn.id)

    def _check(self, path: str, perm: int, cnxn: _Cnxn) -> None:
        acls.check_acl(self.tree.acl_of(path), perm, cnxn.auth, path)

    def _require(self, path: str) -> None:
        if path not in self.tree:
            raise _no_node(path)

    # --- txns and replies --------------------------------------------------------------------

    def _apply(self, txn: Txn) -> object:
        return self.tree.apply(txn)

    def _commit(self, txn: Txn) -> object:
        """Log and apply one txn, then send the notifications it fired."""
        self._out.txns.append(txn)
        applied = self._apply(txn)
        for event in applied.events:
            self._notify(event.watcher, event.type, event.path)
        self._since_snapshot += 1
        if self._since_snapshot >= self.snap_count:
            self._out.snapshot = (self.snapshot(), self.tree.last_processed_zxid)
            self._since_snapshot = 0
        return applied.result

    def snapshot(self) -> bytes:
        """The tree (nodes, ACLs, sessions) as the bytes the snapshot file holds."""
        return self.tree.snapshot()

    def _notify(self, conn_id: ConnId, event_type: int, path: str) -> None:
        if conn_id in self._cnxns:
            event = WatcherEvent(int(event_type), int(KeeperState.SyncConnected), path)
            self._out.sends.append((conn_id, frame(jute.encode_watcher_event(event))))
            self._count_sent(self._cnxns[conn_id])

    def _reply(self, cnxn: _Cnxn, xid: int, err: int, body: bytes = b"") -> None:
        header = ReplyHeader(xid, self.tree.last_processed_zxid, int(err))
        self._out.sends.append((cnxn.id, frame(jute.encode_reply(header, body))))
        self._count_sent(cnxn)

    def _count_sent(self, cnxn: _Cnxn) -> None:
        cnxn.sent += 1
        self._sent += 1

    def _next_zxid(self) -> int:
        # Leader.propose refuses counter 0xffffffff and forces a new epoch (ZOOKEEPER-1277).
        if self._counter + 1 >= _COUNTER_MASK:
            self.epoch += 1
            self._counter = 0
        self._counter += 1
        return (self.epoch << 32) | self._counter

    def _advance(self, now: int) -> None:
        self.now = max(self.now, now)

    def _log(self, level: int, message: str) -> None:
        self._out.logs.append((level, message))

    def _flush(self) -> Output:
        out, self._out = self._out, Output()
        return out


def _no_node(path: str | None) -> KeeperError:
    from distlab.zk.errors import NoNodeError

    return NoNodeError(path, "node does not exist")


def _bad_arguments(path: str | None, why: str) -> KeeperError:
    from distlab.zk.errors import BadArgumentsError

    return BadArgumentsError(path, why)


def _unimplemented(path: str | None) -> KeeperError:
    from distlab.zk.errors import UnimplementedError

    return UnimplementedError(path, "not modelled by distlab")


