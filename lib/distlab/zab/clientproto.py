"""What a ZooKeeper client and the server it is connected to say to each other.

Shapes follow ZooKeeper's client protocol (``ConnectRequest``/``ConnectResponse``,
``RequestHeader``/``ReplyHeader`` with ``xid`` and ``zxid``, ``WatcherEvent``, ``SetWatches``),
reduced to what the course needs. Writes are ``distlab.zk`` requests (``CreateRequest``,
``SetDataRequest``, ...); reads are the small dataclasses below. Every reply carries the
server's last processed zxid, so the client always knows the newest state it has seen — the
basis of the *single system image* (单一视图) guarantee on reconnect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from distlab.zk.ops import Exists, GetChildren, GetData, SyncRequest  # the one set of operations
from distlab.zk.watches import WatchedEvent

__all__ = [
    "Connect",
    "ConnectResponse",
    "ConnectRefused",
    "ClientRequest",
    "ClientReply",
    "ClientPing",
    "PingReply",
    "WatchNotification",
    "SessionExpiredNotice",
    "ConnectionClosed",
    "SetWatches",
    "GetData",
    "Exists",
    "GetChildren",
    "SyncRequest",
    "CloseSession",
]


@dataclass(frozen=True, slots=True)
class Connect:
    """Client -> server. ``session_id`` None opens a new session; otherwise re-attach to it.

    ``last_zxid_seen``: the newest zxid this client has seen from any server. A server that is
    behind it refuses the connection (``ZooKeeperServer.processConnectRequest``).
    """

    session_id: int | None
    timeout_ms: int
    last_zxid_seen: int
    attempt: int = 0  # numbers the client's connection attempts (a TCP connection's identity)


@dataclass(frozen=True, slots=True)
class ConnectResponse:
    session_id: int
    timeout_ms: int
    zxid: int
    attempt: int = 0  # echoes Connect.attempt: answers to abandoned attempts are ignored


@dataclass(frozen=True, slots=True)
class ConnectRefused:
    """The server will not take this client now; ``expired`` means the session is gone."""

    reason: str
    expired: bool = False
    attempt: int = 0


@dataclass(frozen=True, slots=True)
class CloseSession:
    """The client closes its session: its ephemerals go at once."""


@dataclass(frozen=True, slots=True)
class ClientRequest:
    """One operation; ``xid`` numbers the client's requests (replies come back in order)."""

    session_id: int
    xid: int
    op: Any


@dataclass(frozen=True, slots=True)
class ClientReply:
    """The answer to request ``xid``: ``result`` on success, else ZooKeeper's error ``code``."""

    xid: int
    zxid: int
    result: Any = None
    code: int = 0
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.code == 0


@dataclass(frozen=True, slots=True)
class ClientPing:
    session_id: int


@dataclass(frozen=True, slots=True)
class PingReply:
    zxid: int


@dataclass(frozen=True, slots=True)
class WatchNotification:
    """A watch fired (``WatcherEvent``); the client sees it before it sees the new data."""

    event: WatchedEvent


@dataclass(frozen=True, slots=True)
class SessionExpiredNotice:
    """The session is closed: the server drops the connection, the client must start anew."""

    session_id: int


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The server closed the connection (it stopped serving): what a TCP reset tells a client."""

    reason: str


@dataclass(frozen=True, slots=True)
class SetWatches:
    """Re-register watches after reconnecting (``SetWatches``, ``DataTree.setWatches``).

    Watches whose event already happened after ``relative_zxid`` fire at once.
    """

    session_id: int
    relative_zxid: int
    data_watches: tuple[str, ...] = ()
    exist_watches: tuple[str, ...] = ()
    child_watches: tuple[str, ...] = ()
