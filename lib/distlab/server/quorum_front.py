"""A wire-protocol front for a ``QuorumPeer``: jute bytes <-> ``zab.clientproto`` messages.

A member of the pseudo-cluster serves real clients with the same ``QuorumPeer`` the
simulator runs. The peer speaks distlab's client messages (``Connect``, ``ClientRequest``,
``ClientReply``, ``WatchNotification`` ...); ``WireFront`` translates one TCP connection's
jute frames into them and the peer's answers back into jute frames. Pure: bytes and messages
in, a list of actions out, for the driver to carry out in order::

    ("peer", msg)      deliver msg to the peer, from this connection's node
    ("send", bytes)    write to the client
    ("close", reason)  close the connection (after what was sent)
    ("four", word)     answer a four-letter word, then close

ACLs work as on a standalone server: the connection's identities (its ip, and what
``addauth`` added) travel with each write as an ``AuthenticatedRequest``, so the leader's
``prepare`` checks them where ``PrepRequestProcessor`` does; reads are checked here against
the member's own tree, as ``FinalRequestProcessor`` checks them on the serving server.
Containers and TTL nodes answer Unimplemented.

What it maps:

- ConnectRequest -> ``Connect`` (session id 0 -> None); the password is checked here, the
  session in the peer; ``ConnectRefused`` closes the connection (the client tries another
  server), with the "session expired" answer (timeout 0) when the session is gone.
- exists/getData/getChildren -> the peer's reads; getChildren2 and getACL add an ``Exists``
  for the stat; setACL is a write; writes and multi -> ``ClientRequest`` with the request ``to_request`` builds;
  sync -> ``SyncRequest``; setWatches -> ``SetWatches`` then the reply (events first, as
  ``DataTree.setWatches`` sends them); closeSession -> ``CloseSession``, reply, close.
- A ConnectionLoss or SessionExpired answer closes the connection: that is how ZooKeeper
  tells a client to fail over or to learn of its expiry.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable

from distlab.server import jute
from distlab.server.connection import (
    ClientConnection,
    ConnectReceived,
    FourLetterWord,
    FrameReceived,
    ProtocolError,
    frame,
)
from distlab.server.jute import OpCode, ReplyHeader, WatcherEvent, Writer, Xid
from distlab.server.requests import encode_result, to_request
from distlab.server.standalone import session_password
from distlab.zab import clientproto as cp
from distlab.zk import acl as acls
from distlab.zk.acl import Id
from distlab.zk.errors import Code, KeeperError
from distlab.zk.ops import AuthenticatedRequest, MultiResult
from distlab.zk.watches import KeeperState

__all__ = ["WireFront"]

Action = tuple[str, Any]
_INTERNAL_XID = 1 << 40  # xids the front adds for itself (a stat for getChildren2 / getACL)
_WRITES = {OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.createTTL, OpCode.delete,
           OpCode.setData, OpCode.setACL, OpCode.check, OpCode.multi}
_KNOWN = _WRITES | {OpCode.exists, OpCode.getData, OpCode.getChildren, OpCode.getChildren2,
                    OpCode.sync, OpCode.getACL, OpCode.setACL, OpCode.setWatches, OpCode.setWatches2,
                    OpCode.closeSession, OpCode.ping, OpCode.auth, OpCode.whoAmI, OpCode.reconfig,
                    OpCode.checkWatches, OpCode.removeWatches, OpCode.deleteContainer,
                    OpCode.multiRead, OpCode.sasl, OpCode.getEphemerals, OpCode.getAllChildrenNumber,
                    OpCode.addWatch}


class WireFront:
    """One client connection to a pseudo-cluster member (see the module docstring)."""

    def __init__(self, node: Hashable, remote_ip: str = "127.0.0.1",
                 acl_of: Callable[[str], tuple | None] | None = None) -> None:
        self.node = node
        self.auth: list[Id] = [Id("ip", remote_ip)]  # every connection is its address
        self._remote_ip = remote_ip
        self._acl_of = acl_of or (lambda path: None)  # the member's tree: a node's ACL or None
        self.proto = ClientConnection()
        self.session_id: int | None = None
        self.last_zxid = 0
        self._pending: dict[int, tuple] = {}  # xid -> what to do with its reply
        self._next_internal = _INTERNAL_XID

    # --- from the client ---------------------------------------------------------------------

    def receive_data(self, data: bytes) -> list[Action]:
        actions: list[Action] = []
        for event in self.proto.receive_data(data):
            if isinstance(event, ProtocolError):
                actions.append(("close", event.reason))
            elif isinstance(event, FourLetterWord):
                actions.append(("four", event.word))
            elif isinstance(event, ConnectReceived):
                actions += self._connect(event.request)
            elif isinstance(event, FrameReceived):
                actions += self._request(event.payload)
        return actions

    def _connect(self, request: jute.ConnectRequest) -> list[Action]:
        session = request.session_id or None
        if session is not None and request.passwd != session_password(session):
            return self._expired(f"incorrect password for session 0x{session:x}")
        self.last_zxid = request.last_zxid_seen
        return [("peer", cp.Connect(session, request.timeout, request.last_zxid_seen))]

    def _request(self, payload: bytes) -> list[Action]:
        try:
            header, record = jute.decode_request(payload)
        except jute.JuteError as error:
            if len(payload) < 8:
                return [("close", f"malformed request header: {error}")]
            xid = int.from_bytes(payload[:4], "big", signed=True)
            return [self._reply(xid, Code.MARSHALLINGERROR)]
        if self.session_id is None:
            return [("close", "a request before the session was established")]
        t, xid, sid = header.type, header.xid, self.session_id
        if t not in _KNOWN:
            return [self._reply(xid, Code.UNIMPLEMENTED), ("close", f"unknown request type {t}")]
        if t == OpCode.ping:
            return [("peer", cp.ClientPing(sid))]
        if t == OpCode.auth:
            assert isinstance(record, jute.AuthOp)
            identity = acls.authenticate(record.scheme, record.auth, self._remote_ip)
            if identity is None:
                return [("send", frame(ReplyHeader(xid, 0, Code.AUTHFAILED).encode())),
                        ("close", f"no authentication provider for scheme {record.scheme}")]
            if identity not in self.auth:
                self.auth.append(identity)
            return [("send", frame(ReplyHeader(xid, 0, 0).encode()))]
        if record is None or t == OpCode.whoAmI:
            return [self._reply(xid, Code.UNIMPLEMENTED)]
        if t in (OpCode.setWatches, OpCode.setWatches2):
            assert isinstance(record, jute.SetWatchesOp)
            watches = cp.SetWatches(sid, record.relative_zxid, tuple(record.data_watches),
                                    tuple(record.exist_watches), tuple(record.child_watches))
            return [("peer", watches), ("send", frame(ReplyHeader(xid, self.last_zxid, 0).encode()))]
        if t == OpCode.closeSession:
            self._pending[xid] = ("close",)
            return [("peer", cp.ClientRequest(sid, xid, cp.CloseSession()))]
        if t in _WRITES:
            op_types: list[int] = []
            try:
                request = to_request(t, record, op_types)
            except KeeperError as error:
                return [self._reply(xid, error.code)]
            self._pending[xid] = ("write", t, op_types)
            request = AuthenticatedRequest(request=request, auth=tuple(self.auth))
            return [("peer", cp.ClientRequest(sid, xid, request))]
        path = record.path  # type: ignore[attr-defined]
        watch = getattr(record, "watch", False)
        if t != OpCode.sync:
            # FinalRequestProcessor: READ on an existing node (getACL: READ or ADMIN)
            needed = acls.Perms.READ | (acls.Perms.ADMIN if t == OpCode.getACL else 0)
            node_acl = self._acl_of(path) if "\0" not in path else None
            if node_acl is not None:
                try:
                    acls.check_acl(node_acl, needed, self.auth, path)
                except KeeperError as error:
                    return [self._reply(xid, error.code)]
        if t == OpCode.sync:
            self._pending[xid] = ("sync", path)
            return [("peer", cp.ClientRequest(sid, xid, cp.SyncRequest(path)))]
        if t == OpCode.exists:
            if "\0" in path:
                return [self._reply(xid, Code.BADARGUMENTS)]
            self._pending[xid] = ("exists",)
            return [("peer", cp.ClientRequest(sid, xid, cp.Exists(path, watch)))]
        if t == OpCode.getData:
            self._pending[xid] = ("data",)
            return [("peer", cp.ClientRequest(sid, xid, cp.GetData(path, watch)))]
        if t == OpCode.getChildren:
            self._pending[xid] = ("children",)
            return [("peer", cp.ClientRequest(sid, xid, cp.GetChildren(path, watch)))]
        # getChildren2 and getACL need the node's stat too: ask for it right behind
        stat_xid = self._next_internal
        self._next_internal += 1
        kind = "children2" if t == OpCode.getChildren2 else "acl"
        self._pending[stat_xid] = ("stat_for", xid)
        actions: list[Action] = []
        if kind == "children2":
            self._pending[xid] = ("children2", None, False)
            actions.append(("peer", cp.ClientRequest(sid, xid, cp.GetChildren(path, watch))))
        else:
            self._pending[xid] = ("acl", self._acl_of(path) or acls.OPEN_ACL_UNSAFE, True)
        actions.append(("peer", cp.ClientRequest(sid, stat_xid, cp.Exists(path))))
        return actions

    # --- from the peer -----------------------------------------------------------------------

    def from_peer(self, msg: Any) -> list[Action]:
        kind = type(msg)
        if kind is cp.ConnectResponse:
            self.session_id = msg.session_id
            self.last_zxid = max(self.last_zxid, msg.zxid)
            response = jute.ConnectResponse(0, msg.timeout_ms, msg.session_id, session_password(msg.session_id))
            return [("send", frame(response.encode()))]
        if kind is cp.ConnectRefused:
            if msg.expired:
                return self._expired(msg.reason)
            return [("close", f"refused: {msg.reason}")]
        if kind is cp.PingReply:
            self.last_zxid = max(self.last_zxid, msg.zxid)
            return [("send", frame(ReplyHeader(Xid.PING, msg.zxid, 0).encode()))]
        if kind is cp.WatchNotification:
            event = WatcherEvent(int(msg.event.type), int(KeeperState.SyncConnected), msg.event.path)
            return [("send", frame(jute.encode_watcher_event(event)))]
        if kind in (cp.SessionExpiredNotice, cp.ConnectionClosed):
            return [("close", getattr(msg, "reason", "session expired"))]
        if kind is cp.ClientReply:
            return self._on_reply(msg)
        return []

    def _on_reply(self, reply: cp.ClientReply) -> list[Action]:
        todo = self._pending.pop(reply.xid, None)
        if todo is None:
            return []
        self.last_zxid = max(self.last_zxid, reply.zxid)
        if reply.code in (Code.CONNECTIONLOSS, Code.SESSIONEXPIRED):
            # ZooKeeper closes the connection; the client fails over or learns of its expiry
            return [("close", reply.error or "connection loss")]
        what = todo[0]
        if what == "stat_for":
            return self._stat_arrived(todo[1], reply)
        if what == "write" and isinstance(reply.result, MultiResult):
            # a failed multi is an OK reply whose results carry the errors (FinalRequestProcessor)
            return [self._reply(reply.xid, 0, encode_result(todo[1], reply.result, todo[2]), zxid=reply.zxid)]
        if reply.code:
            if what in ("children2", "acl"):
                self._pending[reply.xid] = ("failed", reply.code)  # drop the stat when it comes
            actions = [self._reply(reply.xid, reply.code, zxid=reply.zxid)]
            return actions + ([("close", "closeSession")] if what == "close" else [])
        w = Writer()
        if what == "write":
            body = encode_result(todo[1], reply.result, todo[2])
        elif what == "close":
            return [self._reply(reply.xid, 0, zxid=reply.zxid), ("close", "closeSession")]
        elif what == "sync":
            body = w.string(todo[1]).getvalue()
        elif what == "exists":
            if reply.result is None:
                return [self._reply(reply.xid, Code.NONODE, zxid=reply.zxid)]
            body = w.stat(reply.result).getvalue()
        elif what == "data":
            data, stat = reply.result
            body = w.buffer(data).stat(stat).getvalue()
        elif what == "children":
            body = w.string_vector(list(reply.result)).getvalue()
        elif what == "children2":
            self._pending[reply.xid] = ("children2", list(reply.result), True)
            return []
        else:
            body = b""
        return [self._reply(reply.xid, 0, body, zxid=reply.zxid)]

    def _stat_arrived(self, xid: int, reply: cp.ClientReply) -> list[Action]:
        todo = self._pending.pop(xid, None)
        if todo is None or todo[0] == "failed":
            return []
        stat = reply.result
        if stat is None:
            return [self._reply(xid, Code.NONODE, zxid=reply.zxid)]
        w = Writer()
        if todo[0] == "children2":
            w.string_vector(todo[1] or []).stat(stat)
        else:
            node_acl = todo[1]  # the ACL read when the request came in
            try:
                acls.check_acl(node_acl, acls.Perms.ADMIN, self.auth)
                may_admin = True
            except KeeperError:
                may_admin = False
            w.acl_vector(acls.masked_for(node_acl, may_admin)).stat(stat)
        return [self._reply(xid, 0, w.getvalue(), zxid=reply.zxid)]

    # --- helpers -----------------------------------------------------------------------------

    def _reply(self, xid: int, err: int, body: bytes = b"", zxid: int | None = None) -> Action:
        header = ReplyHeader(xid, self.last_zxid if zxid is None else zxid, int(err))
        return ("send", frame(jute.encode_reply(header, body)))

    def _expired(self, reason: str) -> list[Action]:
        return [("send", frame(jute.ConnectResponse(0, 0, 0, bytes(16)).encode())),
                ("close", reason)]
