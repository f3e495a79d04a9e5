"""A ZooKeeper client as a sans-I/O process (``ClientCnxn``).

What it does, as ZooKeeper's client library does:

1. **Connect** to one server of its list (shuffled with its own seeded RNG). A new session is
   created through the leader; a known session re-attaches. ``last_zxid_seen`` goes with every
   connect, and a server that is behind it refuses: the client never sees the ensemble's
   state move backwards (single system image, 单一视图).
2. **Heartbeat**: ping every third of the session timeout; if the server is silent for two
   thirds of it, the client is *disconnected* and tries the next server — the session itself
   lives on until the leader expires it.
3. **Requests** are sent in order and answered in order. A request in flight when the
   connection breaks ends with ``ConnectionLoss``: its outcome is unknown.
4. **Watches** are one-shot; after reconnecting the client re-registers the ones still armed
   (``SetWatches`` with its last zxid), and the server fires at once any that already
   happened.
5. **Expiry** is final: the client learns it on reconnect (or from the server it is attached
   to) and every later call fails with ``SessionExpired``.

Calls come from whoever drives the simulation as :class:`ApiCall` messages injected from
outside; results land in ``results`` and events in ``events`` (see
:class:`distlab.sim.ensemble.SimClient` for the blocking, kazoo-shaped front end).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from distlab.sansio import Deliver, Disconnected, Effects, Start, Timer, UsageError
from distlab.zab.clientproto import (
    ClientPing,
    ClientReply,
    ClientRequest,
    CloseSession,
    Connect,
    ConnectionClosed,
    ConnectRefused,
    ConnectResponse,
    Exists,
    GetChildren,
    GetData,
    PingReply,
    SessionExpiredNotice,
    SetWatches,
    WatchNotification,
)
from distlab.zk.errors import Code
from distlab.zab.events import ClientDisconnected, ClientSessionLost, ClientStateChanged

__all__ = ["ZooKeeperClient", "ClientState", "ApiCall"]


class ClientState(enum.Enum):
    """``ZooKeeper.States``, as far as the course needs them."""

    CONNECTING = "CONNECTING"
    CONNECTED = "CONNECTED"
    CLOSED = "CLOSED"
    EXPIRED = "EXPIRED"  # AUTH_FAILED and friends are not modelled


@dataclass(frozen=True, slots=True)
class ApiCall:
    """From the program using the client: perform ``op`` as request number ``xid``."""

    xid: int
    op: Any


class ZooKeeperClient:
    """One client process; ``servers`` are the server node ids it may connect to."""

    CONNECT_TIMER = "client.connect"
    PING_TIMER = "client.ping"
    RETRY_TIMER = "client.retry"

    def __init__(self, name: Any, servers: list[int], timeout_ms: int = 4000) -> None:
        if not servers:
            raise UsageError("a client needs at least one server to connect to")
        self.name = name
        self.servers = list(servers)
        self.requested_timeout = timeout_ms
        self.timeout_ms = timeout_ms
        self.state = ClientState.CONNECTING
        self.session_id: int | None = None
        self.server: int | None = None
        self.last_zxid_seen = 0
        self.last_heard = 0
        self.last_ping = 0
        self.next_server = 0
        self.attempt = 0  # connection attempts so far; answers to older ones are ignored
        self.outbox: list[ApiCall] = []  # calls waiting for a connection
        self.in_flight: dict[int, Any] = {}  # xid -> op, sent to self.server
        self.sent_at: dict[int, int] = {}  # xid -> when it was sent
        self.results: dict[int, ClientReply] = {}
        self.events: list[Any] = []  # WatchedEvents and ("state", ClientState) changes
        self.data_watches: set[str] = set()
        self.exist_watches: set[str] = set()
        self.child_watches: set[str] = set()
        self.fx: Effects | None = None
        self.now = 0

    def step(self, event) -> Effects:
        fx = self.fx = Effects()
        self.now = event.now
        try:
            if type(event) is Deliver:
                self._on_message(event.src, event.msg)
            elif type(event) is Timer:
                self._on_timer(event.name)
            elif type(event) is Disconnected:
                if event.peer == self.server and self.state is ClientState.CONNECTED:
                    self._disconnect("the connection broke")
                elif event.peer == self.server and self.state is ClientState.CONNECTING:
                    self.fx.cancel_timer(self.CONNECT_TIMER)
                    self._disconnect("the connection attempt failed")
            elif type(event) is Start:
                if event.incarnation > 0:
                    raise UsageError("a client process does not survive a crash; make a new client")
                event.rng.shuffle(self.servers)  # ZooKeeper's StaticHostProvider shuffles
                self._connect()
        finally:
            self.fx = None
        return fx

    # ------------------------------------------------------------------ connection ------
    def _connect(self) -> None:
        self.server = self.servers[self.next_server % len(self.servers)]
        self.next_server += 1
        self.attempt += 1
        self._set_state(ClientState.CONNECTING)
        self.fx.send(self.server, Connect(self.session_id, self.requested_timeout, self.last_zxid_seen,
                                          self.attempt))
        # connectTimeout = sessionTimeout / number of servers (ClientCnxn)
        self.fx.set_timer(self.CONNECT_TIMER, max(1, self.requested_timeout // len(self.servers)))

    def _disconnect(self, why: str) -> None:
        """Lose the current server; fail what was in flight; try the next server."""
        # The typed event lets trace checkers see that this connection is over.
        self.fx.emit(ClientDisconnected(client=self.name, server=self.server, reason=why))
        for xid in sorted(self.in_flight):
            self.results[xid] = ClientReply(xid, self.last_zxid_seen, None, Code.CONNECTIONLOSS,
                                            "ConnectionLoss: the outcome of this request is unknown")
        self.in_flight.clear()
        self.sent_at.clear()
        self.fx.cancel_timer(self.PING_TIMER)
        self._set_state(ClientState.CONNECTING)
        # Back off a little before the next server, so a ring of refusals is not a busy loop.
        self.fx.set_timer(self.RETRY_TIMER, 100)

    def _set_state(self, state: ClientState) -> None:
        if state is not self.state:
            self.state = state
            self.events.append(("state", state))
            self.fx.emit(ClientStateChanged(client=self.name, state=state.name))

    def _expire(self) -> None:
        self._set_state(ClientState.EXPIRED)
        for xid in sorted(self.in_flight):
            self.results[xid] = ClientReply(xid, self.last_zxid_seen, None, Code.SESSIONEXPIRED, "SessionExpired")
        self.in_flight.clear()
        for call in self.outbox:
            self.results[call.xid] = ClientReply(call.xid, self.last_zxid_seen, None, Code.SESSIONEXPIRED,
                                                 "SessionExpired")
        self.outbox.clear()
        for name in (self.CONNECT_TIMER, self.PING_TIMER, self.RETRY_TIMER):
            self.fx.cancel_timer(name)

    def _on_timer(self, name: str) -> None:
        if self.state in (ClientState.CLOSED, ClientState.EXPIRED):
            return
        if name == self.CONNECT_TIMER and self.state is ClientState.CONNECTING:
            self._connect()
        elif name == self.RETRY_TIMER and self.state is ClientState.CONNECTING:
            self._connect()
        elif name == self.PING_TIMER and self.state is ClientState.CONNECTED:
            read_timeout = self.timeout_ms * 2 // 3  # ClientCnxn's readTimeout
            if self.now - self.last_heard >= read_timeout:
                self._disconnect(f"no answer for {self.now - self.last_heard} ms")
                return
            oldest = min((self.sent_at[xid] for xid in self.in_flight), default=self.now)
            if self.now - oldest > read_timeout:
                # Over TCP an answer is never lost on a live connection; if one is this late,
                # treat the connection as broken, as a socket timeout would.
                self._disconnect(f"request unanswered for {self.now - oldest} ms")
                return
            if self.now - self.last_ping >= self.timeout_ms // 3:  # ping when idle that long
                self.last_ping = self.now
                self.fx.send(self.server, ClientPing(self.session_id))
            self.fx.set_timer(self.PING_TIMER, self._check_interval())

    def _check_interval(self) -> int:
        """How often the connection is checked: often enough to notice at 2/3 of the timeout."""
        return max(1, self.timeout_ms // 12)

    # ------------------------------------------------------------------ messages --------
    def _on_message(self, src: Any, msg: Any) -> None:
        kind = type(msg)
        if kind is ApiCall:
            self._on_call(msg)
            return
        if src != self.server:
            return  # an answer from a server we already left
        if self.state is ClientState.CONNECTING and kind not in (ConnectResponse, ConnectRefused):
            return  # the rest of an abandoned connection: only the connect answer counts now
        self.last_heard = self.now
        if kind in (ConnectResponse, ConnectRefused) and (
                msg.attempt != self.attempt or self.state is not ClientState.CONNECTING):
            return  # the answer to a connection attempt we already gave up
        if kind is ConnectResponse:
            self._on_connected(msg)
        elif kind is ConnectRefused:
            self.fx.cancel_timer(self.CONNECT_TIMER)
            if msg.expired:
                self.fx.emit(ClientSessionLost(client=self.name, reason=msg.reason))
                self._expire()
            else:
                self._disconnect(msg.reason)
        elif kind is ClientReply:
            self._on_reply(msg)
        elif kind is PingReply:
            self.last_zxid_seen = max(self.last_zxid_seen, msg.zxid)
        elif kind is WatchNotification:
            event = msg.event
            self.last_zxid_seen = max(self.last_zxid_seen, event.zxid)
            self._disarm(event)
            self.events.append(event)
        elif kind is SessionExpiredNotice:
            self._expire()
        elif kind is ConnectionClosed and self.state is ClientState.CONNECTED:
            self._disconnect(msg.reason)

    def _on_connected(self, msg: ConnectResponse) -> None:
        self.fx.cancel_timer(self.CONNECT_TIMER)
        if self.session_id is not None and msg.session_id != self.session_id:
            raise UsageError(f"server {self.server} answered with session 0x{msg.session_id:x}, "
                             f"not 0x{self.session_id:x}")
        self.session_id = msg.session_id
        self.timeout_ms = msg.timeout_ms
        # Watches are re-armed relative to what this client saw *before* reconnecting; the new
        # server's zxid would hide the changes made while we were away.
        seen_before = self.last_zxid_seen
        self.last_zxid_seen = max(self.last_zxid_seen, msg.zxid)
        self.last_ping = self.now
        self._set_state(ClientState.CONNECTED)
        if self.data_watches or self.exist_watches or self.child_watches:
            self.fx.send(self.server, SetWatches(
                self.session_id, seen_before, tuple(sorted(self.data_watches)),
                tuple(sorted(self.exist_watches)), tuple(sorted(self.child_watches))))
            # The server re-arms or fires them; fired ones come back as notifications.
        self.fx.set_timer(self.PING_TIMER, self._check_interval())
        outbox, self.outbox = self.outbox, []
        for call in outbox:
            self._send_call(call)

    def _on_call(self, call: ApiCall) -> None:
        if call.xid in self.results or call.xid in self.in_flight:
            raise UsageError(f"client {self.name}: xid {call.xid} was used already")
        if self.state in (ClientState.EXPIRED, ClientState.CLOSED):
            code = Code.SESSIONEXPIRED if self.state is ClientState.EXPIRED else Code.CONNECTIONLOSS
            self.results[call.xid] = ClientReply(call.xid, self.last_zxid_seen, None, code,
                                                 f"the client is {self.state.name}")
        elif self.state is ClientState.CONNECTED:
            self._send_call(call)
        else:
            self.outbox.append(call)

    def _send_call(self, call: ApiCall) -> None:
        self.in_flight[call.xid] = call.op
        self.sent_at[call.xid] = self.now
        self.fx.send(self.server, ClientRequest(self.session_id, call.xid, call.op))

    def _on_reply(self, reply: ClientReply) -> None:
        if reply.xid not in self.in_flight:
            return  # a late answer on a connection we gave up: that call already ended
        op = self.in_flight.pop(reply.xid)
        self.sent_at.pop(reply.xid, None)
        self.results[reply.xid] = reply
        self.last_zxid_seen = max(self.last_zxid_seen, reply.zxid)
        if op is not None and getattr(op, "watch", False):
            self._arm(op, reply)
        if type(op) is CloseSession and reply.ok:
            self._set_state(ClientState.CLOSED)
            self.fx.cancel_timer(self.PING_TIMER)
        elif reply.code == Code.CONNECTIONLOSS:
            self._disconnect(reply.error)
        elif reply.code == Code.SESSIONEXPIRED:
            self._expire()

    def _arm(self, op: Any, reply: ClientReply) -> None:
        """Remember the watches the server set, to re-register them after a reconnect."""
        if type(op) is Exists and reply.ok:
            (self.data_watches if reply.result is not None else self.exist_watches).add(op.path)
        elif type(op) is GetData and reply.ok:
            self.data_watches.add(op.path)
        elif type(op) is GetChildren and reply.ok:
            self.child_watches.add(op.path)

    def _disarm(self, event: Any) -> None:
        from distlab.zk.watches import EventType

        path = event.path
        if event.type is EventType.NodeChildrenChanged:
            self.child_watches.discard(path)
        elif event.type is EventType.NodeDeleted:
            self.data_watches.discard(path)
            self.child_watches.discard(path)
            self.exist_watches.discard(path)
        else:
            self.data_watches.discard(path)
            self.exist_watches.discard(path)
